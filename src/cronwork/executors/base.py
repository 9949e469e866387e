"""The runtime interface: run one target under a timeout and report an outcome.

An executor knows nothing about stores, jobs or schedules. The engine builds an `Invocation`,
calls `Executor.start()` on its event loop and awaits `Execution.wait()`. Timeouts are measured
on the event loop's (real, monotonic) clock, never on the engine's injectable clock: a fake
clock drives scheduling in tests, but a job that hangs must still be stopped in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
import traceback
import weakref
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from cronwork.runs import RunStatus
from cronwork.targets import Command

logger = logging.getLogger("cronwork.executors")


@dataclass(frozen=True)
class RunContext:
    """What a job function sees as its ``ctx`` parameter."""

    job_id: str
    run_id: str
    scheduled_for: datetime
    attempt: int
    deadline: datetime | None
    _cancel_event: threading.Event = field(
        default_factory=threading.Event, repr=False, compare=False
    )

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled or timed out; long-running jobs should stop."""
        return self._cancel_event.is_set()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds for cancellation; return True if cancelled."""
        return self._cancel_event.wait(timeout)

    def mark_cancelled(self) -> None:
        """Tell the job to stop (called by executors on cancel and timeout)."""
        self._cancel_event.set()


@dataclass(frozen=True)
class Outcome:
    """How a run ended, as the engine records it."""

    status: RunStatus
    exit_code: int | None = None
    output: str | None = None
    error: str | None = None
    # Set when the work is still running after the outcome was decided (a thread cannot be
    # killed); it resolves when the work really ends, and the engine holds the slot until then.
    lingering: asyncio.Future[None] | None = None


@dataclass(frozen=True)
class Invocation:
    """One target to run, with its arguments, context and limits."""

    target: Callable[..., Any] | Command
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    _: KW_ONLY
    context: RunContext
    timeout: float | None = None
    on_timeout: Literal["cancel", "warn"] = "cancel"
    kill_grace: float = 5.0
    output_limit: int = 65536


class Execution(Protocol):
    """One started run."""

    async def wait(self) -> Outcome:
        """Return the outcome once decided; never raises for job errors."""
        ...

    def cancel(self, reason: str = "cancelled") -> None:
        """Request cancellation; wait() then returns CANCELLED unless already finished."""
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


def format_error(exc: BaseException) -> str:
    """Render an exception as ``"ExcType: message"`` followed by its traceback."""
    head = f"{type(exc).__name__}: {exc}"
    return head + "\n" + "".join(traceback.format_exception(exc)).rstrip("\n")


_WANTS_CTX: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


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
    # Bound methods, partials and some builtins cannot be weakly referenced; they are cheap
    # to inspect again.
    with contextlib.suppress(TypeError):
        _WANTS_CTX[func] = found
    return found


def call_kwargs(invocation: Invocation, func: Callable[..., Any]) -> dict[str, Any]:
    """The keyword arguments for ``func``: the invocation's, plus ``ctx`` if it asks for one."""
    kwargs = dict(invocation.kwargs)
    if wants_ctx(func):
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
    """Shared bookkeeping: the outcome future, the deadline timer and the stop request.

    Subclasses start their work in ``__init__`` (after calling this one) and implement
    ``_stop``, which must eventually call ``_finish``.
    """

    def __init__(self, invocation: Invocation, on_overdue: Callable[[], None] | None) -> None:
        self.invocation = invocation
        self.loop = asyncio.get_running_loop()
        self._outcome: asyncio.Future[Outcome] = self.loop.create_future()
        self._on_overdue = on_overdue
        self._stopping: tuple[RunStatus, str] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        if invocation.timeout is not None:
            self._deadline = self.loop.call_later(max(invocation.timeout, 0.0), self._expired)

    @property
    def done(self) -> bool:
        """True once the outcome is decided."""
        return self._outcome.done()

    async def wait(self) -> Outcome:
        """Return the outcome once decided; never raises for job errors."""
        # Shielded: the engine giving up on waiting must not corrupt the run's own future.
        return await asyncio.shield(self._outcome)

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

    def _finish(self, outcome: Outcome) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if not self._outcome.done():
            self._outcome.set_result(outcome)
