"""The runtime interface: run one target under a timeout and report an outcome.

An executor knows nothing about stores, jobs or schedules. The engine builds an `Invocation`,
calls `Executor.start()` on its event loop and awaits `Execution.wait()`. Timeouts are measured
on the event loop's (real, monotonic) clock, never on the engine's injectable clock: a fake
clock drives scheduling in tests, but a job that hangs must still be stopped in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TextIO, TypeVar, runtime_checkable

from cronwork.runs import RunStatus
from cronwork.targets import CeleryTask, Command

logger = logging.getLogger("cronwork.executors")

E = TypeVar("E", bound="BaseExecution")


# Guards the lazy creation of a context's cancel event (rare: only waiters and cancels).
_EVENT_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a job function sees as its ``ctx`` parameter."""

    job_id: str
    run_id: str
    scheduled_for: datetime
    attempt: int
    deadline: datetime | None
    # Created on first use: a threading.Event per run is a measurable share of the per-run
    # cost, and most runs are never cancelled nor wait for it.
    _cancel_event: threading.Event | None = field(default=None, repr=False, compare=False)
    _cancel_flag: bool = field(default=False, repr=False, compare=False)

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled or timed out; long-running jobs should stop."""
        return self._cancel_flag

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds for cancellation; return True if cancelled."""
        return self._event().wait(timeout)

    def mark_cancelled(self) -> None:
        """Tell the job to stop (called by executors on cancel and timeout)."""
        with _EVENT_LOCK:
            object.__setattr__(self, "_cancel_flag", True)
            event = self._cancel_event
        if event is not None:
            event.set()

    def _event(self) -> threading.Event:
        with _EVENT_LOCK:
            event = self._cancel_event
            if event is None:
                event = threading.Event()
                if self._cancel_flag:
                    event.set()
                object.__setattr__(self, "_cancel_event", event)
        return event


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended, as the engine records it."""

    status: RunStatus
    exit_code: int | None = None
    output: str | None = None
    error: str | None = None
    # Set when the work is still running after the outcome was decided (a thread cannot be
    # killed); it resolves when the work really ends, and the engine holds the slot until then.
    lingering: asyncio.Future[None] | None = None


@dataclass(frozen=True, slots=True)
class Invocation:
    """One target to run, with its arguments, context and limits."""

    target: Callable[..., Any] | Command | CeleryTask
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    _: KW_ONLY
    context: RunContext
    timeout: float | None = None
    on_timeout: Literal["cancel", "warn"] = "cancel"
    kill_grace: float = 5.0
    output_limit: int = 65536
    # Route what the function prints (sys.stdout/sys.stderr) into the outcome's output.
    capture_output: bool = True
    # Seconds after the hand-over at which the run is to start: above 0 only for an executor
    # that starts ahead (`StartsAhead`), which is handed its runs before they are due.
    start_in: float = 0.0


class Execution(Protocol):
    """One started run."""

    async def wait(self) -> Outcome:
        """Return the outcome once decided; never raises for job errors."""
        ...

    def cancel(self, reason: str = "cancelled") -> None:
        """Request cancellation; wait() then returns CANCELLED unless already finished."""
        ...

    def add_done_callback(self, callback: Callable[[Outcome], None]) -> None:
        """Call ``callback(outcome)`` on the event loop once the outcome is decided."""
        ...


class Executor(Protocol):
    """Starts runs of one kind of target."""

    name: str

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> Execution:
        """Start ``invocation`` now; must be called on the event loop thread."""
        ...

    async def shutdown(self, wait: bool = True) -> None:
        """Refuse new runs; wait for running ones, or cancel them when ``wait`` is False."""
        ...


@runtime_checkable
class ShowsOutput(Protocol):
    """An optional capability of an execution whose output can be read while it runs.

    The engine copies it into the run's record about once a second (see engine/chores.py),
    so pages and API clients in any process can follow a running command.
    """

    def output_so_far(self) -> str | None:
        """What the run has printed until now (the kept tail), or None before it started."""
        ...


@runtime_checkable
class BeginsLater(Protocol):
    """An optional capability of an execution whose work begins after its start.

    A task sent to a worker fleet waits in a queue until a worker takes it. The engine
    records such a run ``scheduled`` (on its node, with ``queued_at``) until the execution
    calls back with how many seconds ago the work began at the latest, and ``running`` from
    then on. A run that ends without beginning has no start in its record.
    """

    def on_begun(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(seconds_ago)`` on the event loop once the work has begun."""
        ...


@runtime_checkable
class StartsAhead(Protocol):
    """An optional capability of an executor whose starts take time it can spend ahead.

    The engine hands such an executor each run ``lead`` seconds before the run is due, with
    `Invocation.start_in` set to the time left: the executor does what takes time first (a
    backend read, sending a message due at that moment) so that the run starts at its due
    time, not that much after it. The run's overlap and limits are decided at the hand-over,
    that much earlier.
    """

    lead: float


@runtime_checkable
class BatchesCompletions(Protocol):
    """An optional capability of an executor whose completions arrive from other threads.

    Such an executor may hold completions back until the engine's next dispatch, so that
    one wake-up of the event loop hands over many of them; the engine promises that
    dispatch with ``defer_wakeups`` and collects what finished with ``deliver``.
    """

    def defer_wakeups(self, until: float) -> None:
        """Hold completions until event-loop time ``until`` (0.0: wake the loop per completion)."""
        ...

    def deliver(self) -> None:
        """Hand the completions held back so far to their executions, on the event loop."""
        ...


def format_error(exc: BaseException) -> str:
    """Render an exception as ``"ExcType: message"`` followed by its traceback."""
    head = f"{type(exc).__name__}: {exc}"
    return head + "\n" + "".join(traceback.format_exception(exc)).rstrip("\n")


# Which callables take ``ctx``, looked up on the path of every run. A plain dict (a weak one
# cost a microsecond a lookup), emptied when it reaches _WANTS_CTX_MAX, so it keeps at most
# that many callables alive that would otherwise have been freed.
_WANTS_CTX: dict[Any, bool] = {}
_WANTS_CTX_MAX = 1024


def wants_ctx(func: Callable[..., Any]) -> bool:
    """True if ``func`` has a parameter named ``ctx`` (cached per callable)."""
    try:
        return _WANTS_CTX[func]
    except (KeyError, TypeError):
        pass
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        found = False
    else:
        ctx = params.get("ctx")
        found = ctx is not None and ctx.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
    # Unhashable callables are cheap enough to inspect again.
    with contextlib.suppress(TypeError):
        if len(_WANTS_CTX) >= _WANTS_CTX_MAX:
            _WANTS_CTX.clear()
        _WANTS_CTX[func] = found
    return found


def call_kwargs(invocation: Invocation, func: Callable[..., Any]) -> Mapping[str, Any]:
    """The keyword arguments for ``func``: the invocation's, plus ``ctx`` if it asks for one."""
    # Not copied unless ctx joins them: a call with **kwargs copies them anyway.
    if not wants_ctx(func):
        return invocation.kwargs
    kwargs = dict(invocation.kwargs)
    kwargs["ctx"] = invocation.context
    return kwargs


def is_async_callable(target: object) -> bool:
    """True for coroutine functions, partials of them and objects with an async ``__call__``."""
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target):
        return True
    if inspect.isfunction(target) or inspect.ismethod(target) or inspect.isclass(target):
        return False
    # The class attribute, not the instance's: that is what calling the object invokes.
    call = getattr(type(target), "__call__", None)  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)


def log_extra(context: RunContext) -> dict[str, Any]:
    """The ``extra`` mapping that tags a log record with its run."""
    return {"job_id": context.job_id, "run_id": context.run_id}


class BaseExecution:
    """Shared bookkeeping: the outcome, its callbacks, the deadline timer and the stop request.

    Subclasses start their work in ``__init__`` (after calling this one) and implement
    ``_stop``, which must eventually call ``_finish``.
    """

    __slots__ = (
        "_callbacks",
        "_deadline",
        "_on_overdue",
        "_result",
        "_stopping",
        "_waiter",
        "invocation",
        "loop",
    )

    # Set by the subclasses whose work runs as an asyncio task (see TaskExecutor).
    task: asyncio.Task[None]

    def __init__(
        self,
        invocation: Invocation,
        on_overdue: Callable[[], None] | None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.invocation = invocation
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        # No future per run: the engine is told through a callback list, and a future is made
        # only for callers of wait().
        self._result: Outcome | None = None
        self._callbacks: list[Callable[[Outcome], None]] = []
        self._waiter: asyncio.Future[Outcome] | None = None
        self._on_overdue = on_overdue
        self._stopping: tuple[RunStatus, str] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        if invocation.timeout is not None:
            timeout = max(invocation.timeout, 0.0) + invocation.start_in
            self._deadline = self.loop.call_later(timeout, self._expired)

    @property
    def done(self) -> bool:
        """True once the outcome is decided."""
        return self._result is not None

    async def wait(self) -> Outcome:
        """Return the outcome once decided; never raises for job errors."""
        if self._result is not None:
            return self._result
        if self._waiter is None:
            self._waiter = self.loop.create_future()
        # Shielded: the caller giving up on waiting must not cancel the shared future.
        return await asyncio.shield(self._waiter)

    def add_done_callback(self, callback: Callable[[Outcome], None]) -> None:
        """Call ``callback(outcome)`` on the event loop once the outcome is decided.

        Never called from inside ``cancel()``; a callback added after the outcome is decided
        runs on the next loop turn.
        """
        if self._result is not None:
            self.loop.call_soon(callback, self._result)
        else:
            self._callbacks.append(callback)

    def cancel(self, reason: str = "cancelled") -> None:
        """Request cancellation; wait() then returns CANCELLED unless already finished."""
        self._request_stop(RunStatus.CANCELLED, reason)

    def _expired(self) -> None:
        self._deadline = None
        if self.done:
            return
        if self.invocation.on_timeout == "warn":
            if self._on_overdue is not None:
                self._on_overdue()
            return
        self._request_stop(RunStatus.TIMED_OUT, f"timed out after {self.invocation.timeout:g}s")

    def _request_stop(self, status: RunStatus, reason: str) -> None:
        if self.done or self._stopping is not None:
            return
        self._stopping = (status, reason)
        self.invocation.context.mark_cancelled()
        self._stop(status, reason)

    def _stop(self, status: RunStatus, reason: str) -> None:
        raise NotImplementedError

    def _finish(self, outcome: Outcome, direct: bool = False) -> None:
        """Decide the outcome; ``direct`` runs the callbacks now (the caller is a loop callback
        of its own, not someone's cancel() that a callback could re-enter)."""
        if self._result is not None:
            return
        self._result = outcome
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(outcome)
        callbacks, self._callbacks = self._callbacks, []
        if direct:
            for callback in callbacks:
                self._call(callback, outcome)
        else:
            for callback in callbacks:
                self.loop.call_soon(self._call, callback, outcome)

    @staticmethod
    def _call(callback: Callable[[Outcome], None], outcome: Outcome) -> None:
        try:
            callback(outcome)
        except Exception:
            logger.exception("an outcome callback failed")


# -- output capture ----------------------------------------------------------------------
#
# A job function's print() goes to sys.stdout, which is process-wide. While any executor is
# in use, sys.stdout and sys.stderr are replaced by routers that look up the current run's
# buffer in a context variable: set in the worker thread around the call, or inside the task
# of a coroutine (tasks copy the context, so every run sees its own). Writes outside any run
# pass through unchanged.


class OutputTail:
    """The last ``limit`` characters written to it."""

    __slots__ = ("_parts", "_size", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: deque[str] = deque()
        self._size = 0

    def write(self, text: str) -> int:
        """Append ``text``, dropping the oldest characters beyond the limit."""
        if not text:
            return 0
        self._parts.append(text)
        self._size += len(text)
        parts = self._parts
        while self._size > self.limit and parts:
            excess = self._size - self.limit
            head = parts[0]
            if len(head) <= excess:
                parts.popleft()
                self._size -= len(head)
            else:
                parts[0] = head[excess:]
                self._size -= excess
        return len(text)

    def text(self) -> str:
        """Everything kept, as one string."""
        return "".join(self._parts)


_SINK: contextvars.ContextVar[OutputTail | None] = contextvars.ContextVar(
    "cronwork_output", default=None
)


class _StreamRouter:
    """Stands in for sys.stdout or sys.stderr: writes go to the current run's tail, if any."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        sink = _SINK.get()
        if sink is None:
            return self._stream.write(text)
        return sink.write(text)

    def writelines(self, lines: Iterator[str] | list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _SINK.get() is None:
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_ROUTER_LOCK = threading.Lock()
_ROUTER_USERS = 0


def install_output_router() -> None:
    """Route job output from sys.stdout/sys.stderr into runs; pair with the remove call."""
    global _ROUTER_USERS
    with _ROUTER_LOCK:
        _ROUTER_USERS += 1
        # Checked on every call, not only the first: a stream replaced since (by a test
        # harness, say) must be wrapped too.
        if sys.stdout is not None and not isinstance(sys.stdout, _StreamRouter):
            sys.stdout = _StreamRouter(sys.stdout)
        if sys.stderr is not None and not isinstance(sys.stderr, _StreamRouter):
            sys.stderr = _StreamRouter(sys.stderr)


def remove_output_router() -> None:
    """Undo one install_output_router(); the streams are restored after the last one."""
    global _ROUTER_USERS
    with _ROUTER_LOCK:
        _ROUTER_USERS = max(0, _ROUTER_USERS - 1)
        if _ROUTER_USERS:
            return
        # Only our own routers are taken out: someone may have replaced them meanwhile.
        if isinstance(sys.stdout, _StreamRouter):
            sys.stdout = sys.stdout._stream
        if isinstance(sys.stderr, _StreamRouter):
            sys.stderr = sys.stderr._stream


@contextlib.contextmanager
def capture_output(limit: int) -> Iterator[OutputTail]:
    """Collect what this thread or task prints meanwhile (the router must be installed)."""
    tail = OutputTail(limit)
    token = _SINK.set(tail)
    try:
        yield tail
    finally:
        _SINK.reset(token)


class TaskExecutor:
    """Bookkeeping shared by executors whose executions run as asyncio tasks.

    Subclasses check ``_open()`` before starting, hand each new execution to ``_track`` and
    end ``shutdown`` with ``_stop_running``.
    """

    name = "task"

    def __init__(self) -> None:
        self._running: set[Any] = set()
        self._closed = False

    def _open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the {self.name} executor is shut down")

    def _track(self, execution: E) -> E:
        self._running.add(execution)
        execution.task.add_done_callback(lambda _: self._running.discard(execution))
        return execution

    async def _stop_running(self, wait: bool) -> None:
        """Refuse new runs; wait for the running ones, or stop them when ``wait`` is False."""
        self._closed = True
        running = list(self._running)
        if not wait:
            for execution in running:
                execution.cancel("executor shut down")
        await asyncio.gather(*(execution.wait() for execution in running))
