"""Run sync callables on a thread pool.

A thread cannot be killed. At the deadline (or on cancel) the run is reported at once as
TIMED_OUT (or CANCELLED), ``ctx.cancelled`` becomes True for jobs that poll it, and the outcome
carries ``lingering``: a future that resolves when the thread really returns, so the engine can
keep the concurrency slot until then.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

from cronwork.errors import TargetError
from cronwork.executors.base import (
    BaseExecution,
    Invocation,
    Outcome,
    call_kwargs,
    format_error,
    log_extra,
    logger,
)
from cronwork.runs import RunStatus
from cronwork.targets import Command


def _call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    # The traceback is rendered in the worker so that no frames outlive the thread.
    try:
        func(*args, **kwargs)
    except BaseException as exc:
        return format_error(exc)
    return None


class ThreadExecution(BaseExecution):
    """A sync callable running on a pool thread."""

    def __init__(
        self,
        pool: concurrent.futures.ThreadPoolExecutor,
        invocation: Invocation,
        on_overdue: Callable[[], None] | None,
    ) -> None:
        super().__init__(invocation, on_overdue)
        func = invocation.target
        assert callable(func)
        self._lingering: asyncio.Future[None] | None = None
        self._future = pool.submit(_call, func, invocation.args, call_kwargs(invocation, func))
        self.returned: asyncio.Future[str | None] = asyncio.wrap_future(
            self._future, loop=self.loop
        )
        self.returned.add_done_callback(self._returned)

    def _returned(self, fut: asyncio.Future[str | None]) -> None:
        if self._lingering is not None and not self._lingering.done():
            self._lingering.set_result(None)
        if fut.cancelled():
            return
        error = fut.result()
        if error is None:
            self._finish(Outcome(RunStatus.SUCCEEDED))
        else:
            self._finish(Outcome(RunStatus.FAILED, error=error))

    def _stop(self, status: RunStatus, reason: str) -> None:
        lingering: asyncio.Future[None] | None = None
        # A run still queued for a worker never starts; only a running thread lingers.
        if not self._future.cancel():
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
    """Runs sync callables in a ThreadPoolExecutor.

    Make ``max_workers`` larger than the engine's concurrency limit: threads that overran their
    timeout still occupy a worker until they return.
    """

    name = "thread"

    def __init__(self, max_workers: int = 32) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="cronwork-job"
        )
        self._running: set[ThreadExecution] = set()
        self._closed = False

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> ThreadExecution:
        """Submit ``invocation`` to the pool and return its execution."""
        if self._closed:
            raise RuntimeError("the thread executor is shut down")
        if isinstance(invocation.target, Command) or not callable(invocation.target):
            raise TargetError(f"the thread executor cannot run {invocation.target!r}")
        execution = ThreadExecution(self._pool, invocation, on_overdue)
        self._running.add(execution)
        execution.returned.add_done_callback(lambda _: self._running.discard(execution))
        return execution

    async def shutdown(self, wait: bool = True) -> None:
        """Refuse new runs; wait for all threads, or cancel runs and abandon their threads."""
        self._closed = True
        if not wait:
            for execution in list(self._running):
                execution.cancel("executor shut down")
            self._pool.shutdown(wait=False, cancel_futures=True)
            return
        await asyncio.to_thread(self._pool.shutdown, True)
