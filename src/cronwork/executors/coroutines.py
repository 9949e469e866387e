"""Run ``async def`` targets as tasks on the engine's event loop.

At the deadline (or on cancel) the task is cancelled. A coroutine that swallows CancelledError
cannot be forced to stop: after ``cancel_grace`` seconds the run is reported anyway, with
``lingering`` resolving when the task finally ends.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable

from cronwork.errors import TargetError
from cronwork.executors.base import (
    _SINK,
    BaseExecution,
    Invocation,
    Outcome,
    OutputTail,
    TaskExecutor,
    call_kwargs,
    format_error,
    install_output_router,
    log_extra,
    logger,
    remove_output_router,
)
from cronwork.runs import RunStatus
from cronwork.targets import Command


class CoroutineExecution(BaseExecution):
    """An async target running as a task."""

    def __init__(
        self,
        invocation: Invocation,
        on_overdue: Callable[[], None] | None,
        cancel_grace: float,
    ) -> None:
        super().__init__(invocation, on_overdue)
        self._cancel_grace = cancel_grace
        self._lingering: asyncio.Future[None] | None = None
        self._tail = OutputTail(invocation.output_limit) if invocation.capture_output else None
        self.task: asyncio.Task[None] = self.loop.create_task(self._run())
        self.task.add_done_callback(self._task_done)

    async def _run(self) -> None:
        func = self.invocation.target
        assert callable(func)
        if self._tail is not None:
            # The task runs in its own copy of the context: this reaches only this run.
            _SINK.set(self._tail)
        result = func(*self.invocation.args, **call_kwargs(self.invocation, func))
        if inspect.isawaitable(result):
            await result

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if self._lingering is not None and not self._lingering.done():
            self._lingering.set_result(None)
        # Retrieve the exception even when it no longer matters, so asyncio does not log it.
        error = None if task.cancelled() else task.exception()
        output = (self._tail.text() or None) if self._tail is not None else None
        if self._stopping is not None:
            status, reason = self._stopping
            self._finish(Outcome(status, output=output, error=reason))
        elif task.cancelled():
            # Cancelled from outside (the loop is shutting down), not through cancel().
            self._finish(Outcome(RunStatus.CANCELLED, output=output, error="task cancelled"))
        elif error is not None:
            self._finish(Outcome(RunStatus.FAILED, output=output, error=format_error(error)))
        else:
            self._finish(Outcome(RunStatus.SUCCEEDED, output=output))

    def _stop(self, status: RunStatus, reason: str) -> None:
        self.task.cancel(reason)
        self.loop.call_later(self._cancel_grace, self._give_up, status, reason)

    def _give_up(self, status: RunStatus, reason: str) -> None:
        if self.done:
            return
        ctx = self.invocation.context
        logger.warning(
            "job %s run %s ignored cancellation for %gs; its task keeps running",
            ctx.job_id,
            ctx.run_id,
            self._cancel_grace,
            extra=log_extra(ctx),
        )
        self._lingering = self.loop.create_future()
        self._finish(Outcome(status, error=reason, lingering=self._lingering))


class CoroutineExecutor(TaskExecutor):
    """Runs coroutine functions (and other async callables) on the running event loop."""

    name = "async"

    def __init__(self, cancel_grace: float = 1.0) -> None:
        super().__init__()
        self._cancel_grace = cancel_grace
        self._routing = False

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> CoroutineExecution:
        """Create the task for ``invocation`` and return its execution."""
        self._open()
        if isinstance(invocation.target, Command) or not callable(invocation.target):
            raise TargetError(f"the async executor cannot run {invocation.target!r}")
        if not self._routing:
            self._routing = True
            install_output_router()
        return self._track(CoroutineExecution(invocation, on_overdue, self._cancel_grace))

    async def shutdown(self, wait: bool = True) -> None:
        """Refuse new runs; wait for running tasks, or cancel them when ``wait`` is False."""
        await self._stop_running(wait)
        if self._routing:
            self._routing = False
            remove_output_router()
