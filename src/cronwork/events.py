"""Typed events and the listeners that receive them.

``scheduler.on("run_failed", callback)`` registers a listener; ``"*"`` receives every event.
A listener that raises is logged and otherwise ignored: observers must never break the engine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cronwork.errors import CronworkError
from cronwork.runs import RunStatus

if TYPE_CHECKING:
    from cronwork.jobs import Job
    from cronwork.runs import Run

logger = logging.getLogger("cronwork.events")


class EventType(StrEnum):
    """What happened; the values are the names ``scheduler.on()`` accepts."""

    JOB_ADDED = "job_added"
    JOB_MODIFIED = "job_modified"
    JOB_REMOVED = "job_removed"
    JOB_PAUSED = "job_paused"
    JOB_RESUMED = "job_resumed"
    JOB_BROKEN = "job_broken"
    RUN_STARTED = "run_started"
    RUN_SUCCEEDED = "run_succeeded"
    RUN_FAILED = "run_failed"
    RUN_TIMED_OUT = "run_timed_out"
    RUN_SKIPPED = "run_skipped"
    RUN_MISSED = "run_missed"
    RUN_RETRIED = "run_retried"
    RUN_OVERDUE = "run_overdue"
    RUN_CANCELLED = "run_cancelled"
    RUN_LOST = "run_lost"


# The event a run emits when it reaches each final status.
FINAL_EVENTS: dict[RunStatus, EventType] = {
    RunStatus.SUCCEEDED: EventType.RUN_SUCCEEDED,
    RunStatus.FAILED: EventType.RUN_FAILED,
    RunStatus.TIMED_OUT: EventType.RUN_TIMED_OUT,
    RunStatus.CANCELLED: EventType.RUN_CANCELLED,
    RunStatus.SKIPPED: EventType.RUN_SKIPPED,
    RunStatus.MISSED: EventType.RUN_MISSED,
    RunStatus.LOST: EventType.RUN_LOST,
}


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to a job or a run.

    ``run`` is set for run events (for ``run_retried`` it is the new attempt), ``job`` for job
    events when the job still exists; ``detail`` carries a human reason (skip, overdue).
    """

    type: EventType
    job_id: str
    at: datetime
    run: Run | None = None
    job: Job | None = None
    detail: str | None = None


Listener = Callable[[Event], Any]


def event_type(name: str | EventType) -> EventType | None:
    """Return the EventType for ``name`` (None for ``"*"``), or raise CronworkError."""
    if name == "*":
        return None
    try:
        return EventType(name)
    except ValueError:
        allowed = ", ".join(e.value for e in EventType)
        raise CronworkError(f"unknown event {name!r}: use '*' or one of {allowed}") from None


# wants() without a job: is anyone listening to the runs of any job?
_ANY_JOB: Any = object()


class Listeners:
    """A thread-safe registry of listeners; ``emit`` never raises."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_type: dict[EventType | None, list[Listener]] = {}
        # Listeners that care about the runs of some jobs only (see add's ``only``), and
        # their tests by event type: wants() asks them about the job at hand.
        self._only: dict[Listener, Callable[[Any], bool]] = {}
        self._plain: frozenset[EventType] = frozenset()
        self._tests: dict[EventType, tuple[Callable[[Any], bool], ...]] = {}
        # What emit calls for each event type, its own listeners then the "*" ones; rebuilt
        # under the lock on every change, read without it (emit is on the path of every run).
        self._callbacks: dict[EventType, tuple[Listener, ...]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong refs until done
        # How many listeners are registered: with none, wants() is one attribute read.
        self.count = 0

    def add(
        self,
        name: str | EventType,
        callback: Listener,
        only: Callable[[Any], bool] | None = None,
    ) -> Callable[[], None]:
        """Register ``callback`` for ``name``; return a function that unregisters it.

        ``only(job)`` (given the event's job, or None) limits it to the runs of some jobs:
        the engine then builds no event for the runs of other jobs, where nobody else listens.
        """
        kind = event_type(name)
        if not callable(callback):
            raise CronworkError(f"listener must be callable, got {type(callback).__name__}")
        if only is not None:
            test, inner = only, callback

            def filtered(event: Event) -> Any:
                return inner(event) if test(event.job) else None

            self._only[filtered] = only
            callback = filtered
        with self._lock:
            self._by_type.setdefault(kind, []).append(callback)
            self.count += 1
            self._rebuild()

        def remove() -> None:
            with self._lock:
                bucket = self._by_type.get(kind, [])
                if callback in bucket:
                    bucket.remove(callback)
                    self.count -= 1
                    if callback not in bucket:
                        self._only.pop(callback, None)
                    self._rebuild()

        return remove

    def _rebuild(self) -> None:
        # Called under the lock; the new dict replaces the old one in one assignment.
        every = tuple(self._by_type.get(None, ()))
        self._callbacks = {kind: (*self._by_type.get(kind, ()), *every) for kind in EventType}
        only = self._only
        self._plain = frozenset(
            kind for kind, found in self._callbacks.items() if any(c not in only for c in found)
        )
        self._tests = {
            kind: tuple(only[c] for c in found if c in only)
            for kind, found in self._callbacks.items()
        }

    def wants(self, kind: EventType, job: Any = _ANY_JOB) -> bool:
        """True if anyone listens to ``kind`` (for the runs of ``job``, when given); lets the
        engine skip building events."""
        if not self.count:
            return False
        if kind in self._plain:
            return True
        tests = self._tests.get(kind)
        if not tests:
            return False
        if job is _ANY_JOB:
            return True
        # A loop, not any(): no generator on the path of every run.
        for test in tests:  # noqa: SIM110
            if test(job):
                return True
        return False

    def emit(self, event: Event) -> None:
        """Call every listener of ``event``; log and swallow their errors."""
        for callback in self._callbacks.get(event.type, ()):
            try:
                result = callback(event)
                if result is not None and inspect.isawaitable(result):
                    self._schedule(result, event)
            except Exception:
                logger.exception(
                    "event listener %r failed on %s",
                    callback,
                    event.type.value,
                    extra=_extra(event),
                )

    def _schedule(self, awaitable: Any, event: Event) -> None:
        async def guarded() -> None:
            try:
                await awaitable
            except Exception:
                logger.exception(
                    "async event listener failed on %s", event.type, extra=_extra(event)
                )

        loop = self.loop
        if loop is None or loop.is_closed():
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            logger.warning("async listener for %s dropped: the engine is not running", event.type)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(guarded())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            asyncio.run_coroutine_threadsafe(guarded(), loop)


def _extra(event: Event) -> dict[str, Any]:
    return {"job_id": event.job_id, "run_id": event.run.id if event.run else None}
