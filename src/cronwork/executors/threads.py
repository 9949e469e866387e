"""Run sync callables on a pool of worker threads.

A thread cannot be killed. At the deadline (or on cancel) the run is reported at once as
TIMED_OUT (or CANCELLED), ``ctx.cancelled`` becomes True for jobs that poll it, and the outcome
carries ``lingering``: a future that resolves when the thread really returns, so the engine can
keep the concurrency slot until then.

Why not ``concurrent.futures.ThreadPoolExecutor``: every finished call wakes the event loop
through ``call_soon_threadsafe`` (a write to the loop's self-pipe) and goes through two futures.
At thousands of short runs a second that is most of the loop's time. `WorkerPool` hands work
over a `queue.SimpleQueue`, collects finished calls in a deque and wakes the loop once per
batch, however many calls finished meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Mapping
from time import monotonic
from typing import Any, Protocol

from cronwork.errors import TargetError
from cronwork.executors.base import (
    _SINK,
    BaseExecution,
    Invocation,
    Outcome,
    OutputTail,
    call_kwargs,
    format_error,
    install_output_router,
    log_extra,
    logger,
    remove_output_router,
)
from cronwork.runs import RunStatus
from cronwork.targets import Command

# Completions wait for a promised deliver() only if it comes within this many seconds.
_DEFER_AT_MOST = 0.002

# States of a work item, changed under the pool's lock: a queued item can still be withdrawn.
_QUEUED, _RUNNING, _DONE, _WITHDRAWN = range(4)


class WorkItem:
    """One call waiting for, or running on, a worker thread."""

    __slots__ = ("args", "capture", "error", "func", "kwargs", "on_done", "output", "state")

    def __init__(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        on_done: Callable[[WorkItem], None],
        capture: int | None = None,
    ) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.on_done = on_done
        self.state = _QUEUED
        self.error: str | None = None
        self.output: str | None = None
        # The output limit in bytes when print() output is to be captured, else None.
        self.capture = capture


class Work(Protocol):
    """What a `WorkerPool` needs of an item: `WorkItem` and `ThreadExecution` both fit."""

    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    state: int
    error: str | None
    output: str | None
    capture: int | None

    def on_done(self, item: Any) -> None:
        """Called on the loop once the call returned."""
        ...


# The outcome of every call that returned and printed nothing: shared, it is immutable.
_SUCCEEDED = Outcome(RunStatus.SUCCEEDED)


class WorkerPool:
    """Worker threads fed by a queue; finished items are handed back to one event loop.

    ``on_done(item)`` is called on ``loop`` for each item that ran, in batches: the workers
    wake the loop once for all the items that finished since it last looked.
    """

    def __init__(
        self, max_workers: int, loop: asyncio.AbstractEventLoop, name: str = "cronwork-job"
    ) -> None:
        self.max_workers = max_workers
        self.loop = loop
        self._name = name
        self._queue: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._finished: deque[Work] = deque()
        self._wake_pending = False
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False
        # The loop time (time.monotonic) of a coming call to deliver() that the owner has
        # promised, 0.0 if none; see defer_wakeups.
        self._drain_at = 0.0
        self.defer_at_most = _DEFER_AT_MOST

    def defer_wakeups(self, until: float) -> None:
        """Promise a `deliver()` call at loop time ``until`` (0.0 withdraws the promise).

        Until then, workers finishing a call shortly before it leave the event loop asleep:
        their items ride along with that call. Under load the engine's dispatch ticks come
        every millisecond, and a wake-up per batch of completions (a write to the loop's
        self-pipe, a read and a turn of the loop) cost more than the runs themselves.
        Withdraw the promise *before* the call that keeps it: an item appended before the
        withdrawal is then drained by that call, and one appended after it wakes the loop.
        """
        self._drain_at = until

    def submit(self, item: Work) -> None:
        """Queue ``item`` for an idle worker, or a new one (up to ``max_workers``)."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        self._queue.put(item)
        with self._lock:
            # Reserve the idle worker now: counting it idle until it wakes up would send a
            # burst of submissions to one worker while the others are busy for seconds.
            if self._idle > 0:
                self._idle -= 1
                return
            if len(self._threads) < self.max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def withdraw(self, item: Work) -> bool:
        """Keep a queued item from starting; False if a worker has taken it already."""
        with self._lock:
            if item.state != _QUEUED:
                return False
            item.state = _WITHDRAWN
            return True

    def _work(self) -> None:
        get = self._queue.get
        lock = self._lock
        while True:
            item = get()
            if item is None:
                return
            with lock:
                run = item.state == _QUEUED
                if run:
                    item.state = _RUNNING
            if run:
                self._call(item)
            with lock:
                self._idle += 1

    def _call(self, item: Work) -> None:
        if item.capture is None:
            try:
                item.func(*item.args, **item.kwargs)
            except BaseException as exc:
                # Rendered here so that no frames outlive the call.
                item.error = format_error(exc)
        else:
            tail = OutputTail(item.capture)
            token = _SINK.set(tail)
            try:
                item.func(*item.args, **item.kwargs)
            except BaseException as exc:
                item.error = format_error(exc)
            finally:
                _SINK.reset(token)
            item.output = tail.text()
        item.state = _DONE
        self._finished.append(item)
        if not self._wake_pending and not 0.0 < self._drain_at - monotonic() <= self.defer_at_most:
            self._wake_pending = True
            # A closed loop has nobody left to tell.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.deliver)

    def deliver(self) -> None:
        """Hand the finished items to their ``on_done`` now; call on the loop."""
        # Cleared before draining, so a worker finishing during the drain either has its item
        # drained here or schedules the next delivery itself.
        self._wake_pending = False
        finished = self._finished
        while finished:
            item = finished.popleft()
            try:
                item.on_done(item)
            except Exception:
                logger.exception("a thread run's completion failed")

    def shutdown(self, wait: bool = True, cancel_queued: bool = False) -> None:
        """Stop the workers once the queue is empty; ``wait`` blocks until they have."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_queued:
            with contextlib.suppress(queue.Empty):
                while True:
                    item = self._queue.get_nowait()
                    if item is not None:
                        self.withdraw(item)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()


class ThreadExecution(BaseExecution):
    """A sync callable running on a pool thread.

    The execution is its own work item: it carries the fields a `WorkerPool` reads and
    writes (those of `WorkItem`), which saves an object and a call per run.
    """

    __slots__ = (
        "_lingering",
        "_on_returned",
        "_pool",
        "args",
        "capture",
        "error",
        "func",
        "kwargs",
        "output",
        "returned",
        "state",
    )

    def __init__(
        self,
        pool: WorkerPool,
        invocation: Invocation,
        on_overdue: Callable[[], None] | None,
        on_returned: Callable[[ThreadExecution], None] | None = None,
    ) -> None:
        super().__init__(invocation, on_overdue, pool.loop)
        func = invocation.target
        assert callable(func)
        self._pool = pool
        self._on_returned = on_returned
        self._lingering: asyncio.Future[None] | None = None
        self.returned = False
        self.func = func
        self.args = invocation.args
        self.kwargs = call_kwargs(invocation, func)
        self.state = _QUEUED
        self.error: str | None = None
        self.output: str | None = None
        self.capture = invocation.output_limit if invocation.capture_output else None
        pool.submit(self)

    def on_done(self, item: Work) -> None:
        """The pool's call once the function returned (``item`` is this execution).

        A method, not a bound method kept in an attribute: that would make every execution
        a reference cycle, left for the garbage collector instead of freed on the spot.
        """
        self.returned = True
        if self._lingering is not None and not self._lingering.done():
            self._lingering.set_result(None)
        if self._on_returned is not None:
            self._on_returned(self)
        output = self.output or None
        if self.error is not None:
            self._finish(Outcome(RunStatus.FAILED, output=output, error=self.error), direct=True)
        elif output is None:
            self._finish(_SUCCEEDED, direct=True)
        else:
            self._finish(Outcome(RunStatus.SUCCEEDED, output=output), direct=True)

    def _stop(self, status: RunStatus, reason: str) -> None:
        lingering: asyncio.Future[None] | None = None
        # A run still queued for a worker never starts; only a running thread lingers.
        if self._pool.withdraw(self):
            self.returned = True
            if self._on_returned is not None:
                self._on_returned(self)
        else:
            lingering = self._lingering = self.loop.create_future()
            ctx = self.invocation.context
            logger.warning(
                "job %s run %s %s; its thread keeps running until the function returns",
                ctx.job_id,
                ctx.run_id,
                "timed out" if status is RunStatus.TIMED_OUT else "was cancelled",
                extra=log_extra(ctx),
            )
        self._finish(Outcome(status, error=reason, lingering=lingering))


class ThreadExecutor:
    """Runs sync callables on a `WorkerPool`.

    Make ``max_workers`` larger than the engine's concurrency limit: threads that overran their
    timeout still occupy a worker until they return.
    """

    name = "thread"

    def __init__(self, max_workers: int = 32) -> None:
        self.max_workers = max_workers
        self._pool: WorkerPool | None = None
        self._running: set[ThreadExecution] = set()
        self._returned = self._running.discard  # bound once, not per run
        self._closed = False

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> ThreadExecution:
        """Queue ``invocation`` for a worker thread and return its execution."""
        if self._closed:
            raise RuntimeError("the thread executor is shut down")
        if isinstance(invocation.target, Command) or not callable(invocation.target):
            raise TargetError(f"the thread executor cannot run {invocation.target!r}")
        pool = self._pool
        if pool is None:
            pool = self._pool = WorkerPool(self.max_workers, asyncio.get_running_loop())
            install_output_router()
        execution = ThreadExecution(pool, invocation, on_overdue, self._returned)
        self._running.add(execution)
        return execution

    def defer_wakeups(self, until: float) -> None:
        """See `WorkerPool.defer_wakeups`."""
        if self._pool is not None:
            self._pool.defer_wakeups(until)

    def deliver(self) -> None:
        """Hand over the calls that finished meanwhile (see `WorkerPool.defer_wakeups`)."""
        if self._pool is not None:
            self._pool.deliver()

    async def shutdown(self, wait: bool = True) -> None:
        """Refuse new runs; wait for all threads, or cancel runs and abandon their threads."""
        if not self._closed and self._pool is not None:
            remove_output_router()
        self._closed = True
        pool = self._pool
        if not wait:
            for execution in list(self._running):
                execution.cancel("executor shut down")
            if pool is not None:
                pool.shutdown(wait=False, cancel_queued=True)
            return
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True)
            # Deliver what finished last, so that every wait() returns.
            pool.deliver()
