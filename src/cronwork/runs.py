"""Run records: one row per (job, slot, attempt), whatever happened to it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """Where a run is in its lifecycle; the values are what stores and the CLI show."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    MISSED = "missed"
    LOST = "lost"

    @property
    def finished(self) -> bool:
        """True once the run can change no more."""
        return self not in (RunStatus.SCHEDULED, RunStatus.RUNNING)

    @property
    def retryable(self) -> bool:
        """True for outcomes that consume an attempt and may be retried."""
        return self in (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST)


@dataclass(frozen=True, slots=True)
class Run:
    """One attempt at one slot of one job.

    ``scheduled_for`` is the slot; ``due_at`` is when this attempt may start (the slot, or the
    slot plus a retry backoff); ``queued_at`` is when the engine was ready to start it, so
    ``started_at - queued_at`` is the time it waited for a free place. ``trigger`` says why the
    run exists: ``schedule``, ``manual``, ``retry``, ``misfire`` or ``dependency``.
    """

    id: str
    job_id: str
    scheduled_for: datetime
    attempt: int = 1
    status: RunStatus = RunStatus.SCHEDULED
    node: str | None = None
    created_at: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_until: datetime | None = None
    exit_code: int | None = None
    output: str | None = None
    error: str | None = None
    due_at: datetime | None = None
    trigger: str = "schedule"
    cancel_requested: bool = False
    waited_for: tuple[str, ...] = field(default_factory=tuple)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None if it has not both started and finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def lateness(self) -> float | None:
        """Seconds between the slot and the actual start."""
        if self.started_at is None:
            return None
        return (self.started_at - self.scheduled_for).total_seconds()

    def replace(self, **changes: Any) -> Run:
        """Return a copy with ``changes`` applied."""
        # Hand-rolled: dataclasses.replace goes through __init__, a call per field. The
        # per-run paths use the typed copiers of cronwork.copiers instead.
        if not changes.keys() <= _FIELD_SET:
            unknown = ", ".join(sorted(changes.keys() - _FIELD_SET))
            raise TypeError(f"Run has no field(s) {unknown}")
        new = _new(Run)
        for name in _FIELDS:
            _set(new, name, changes[name] if name in changes else getattr(self, name))
        return new


_FIELDS = tuple(f.name for f in dataclasses.fields(Run))
_FIELD_SET = frozenset(_FIELDS)
_new = object.__new__
_set = object.__setattr__


def due_time(run: Run) -> datetime:
    """When the run may start: its slot, or later for a retry waiting out its backoff."""
    return run.due_at if run.due_at is not None else run.scheduled_for


@dataclass(frozen=True, slots=True)
class RunBrief:
    """What lists show of a run beside its job: which, how it stands, when it ran.

    Stores read it without building the whole `Run` (a page of jobs with their newest
    runs, the dashboard's counts and sparklines).
    """

    id: str
    job_id: str
    status: RunStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def of(cls, run: Run) -> RunBrief:
        """The brief of ``run``."""
        return cls(run.id, run.job_id, run.status, run.started_at, run.finished_at)
