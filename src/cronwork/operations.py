"""The management operations: add, change, pause, remove and trigger jobs, cancel runs.

They read and write the store alone, so they work whether or not an engine runs: both
scheduler faces call them, and so can anything holding a store (the CLI, a web API). When an
engine runs in this process (``engine`` is set), it is told of each change at once; engines
elsewhere see the change at their next poll of a shared store.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cronwork.dependencies import check_new_job, check_removal, needed_message, upstream_of
from cronwork.engine.admission import OverlapVerdict, overlap_verdict
from cronwork.errors import CronworkError, JobError, ScheduleError, TargetError
from cronwork.events import Event, EventType, Listeners
from cronwork.jobs import (
    POLICY_SETTINGS,
    RUN_SETTINGS,
    Job,
    check_executor,
    check_pause_note,
    make_job,
    schedule_error,
    validate_job,
)
from cronwork.runs import Run, RunStatus
from cronwork.stores import Store
from cronwork.targets import CeleryTask, Target, TaskRegistry, make_target, resolve_target
from cronwork.timing import Bounded, Jittered, Schedule

if TYPE_CHECKING:
    from cronwork.clock import Clock
    from cronwork.engine.core import Engine

__all__ = ["UNCHANGED", "Operations", "Unchanged", "check_keywords", "event_driven", "first_run"]

# Settings of make_job that modify_job accepts and copies from the current job.
_SETTINGS = (*POLICY_SETTINGS, *RUN_SETTINGS, "depends_on")
_SCHEDULE_SETTINGS = frozenset({"schedule", "start_at", "end_at", "jitter", "timezone"})
_MODIFIABLE = frozenset({*_SETTINGS, "target", "schedule", "timezone", "paused"})


class Unchanged(enum.Enum):
    """The default of modify_job's keywords: the job keeps its value."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED

# Settings add_job accepts beside the job id, target and schedule.
_ADDABLE = frozenset({*_SETTINGS, "timezone", "paused"})


def check_keywords(
    job_id: str, given: Mapping[str, Any], allowed: frozenset[str], verb: str
) -> None:
    """Refuse keywords outside ``allowed`` with a JobError naming the first and its close match.

    add_job and modify_job take their settings as keywords; a misspelt one would otherwise
    surface as a TypeError from deep inside, or be ignored.
    """
    if allowed.issuperset(given):
        return
    unknown = sorted(set(given) - allowed)
    first = unknown[0]
    close = difflib.get_close_matches(first, allowed, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise JobError(
        f"job {job_id!r}: cannot {verb} {', '.join(unknown)}{hint}; "
        f"use {', '.join(sorted(allowed))}",
        job_id=job_id,
        field=first,
        value=given[first],
    )


def first_run(job: Job, now: datetime) -> datetime | None:
    """The first slot of a job being added or rescheduled; refuse a schedule that never fires.

    A one-shot already past, an end_at already past, or bounds that hold no slot would be
    stored as a job that silently never runs. Event-driven schedules have no slot by design.
    """
    first = job.schedule.next_after(now)
    if first is None and not event_driven(job.schedule):
        what, reason = "schedule", "its time has passed"
        if job.end_at is not None and job.end_at <= now:
            what, reason = "end_at", f"its end_at {job.end_at.isoformat()} has passed"
        raise ScheduleError(
            f'job {job.id!r}: schedule "{job.schedule.source}" never fires: {reason} '
            f"(now is {now.isoformat()})",
            job_id=job.id,
            field=what,
            value=job.end_at if what == "end_at" else job.schedule.source,
        )
    return first


def event_driven(schedule: Schedule) -> bool:
    """True for a trigger schedule (``after``, ``on_failure``, ...): it has no slots of its own."""
    # Bounds and jitter wrap a schedule without forwarding is_triggered.
    while isinstance(schedule, (Bounded, Jittered)):
        schedule = schedule.base
    return schedule.is_triggered


class Operations:
    """The store-only operations both faces share; ``engine`` is the engine running here."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        tasks: TaskRegistry | None = None,
        listeners: Listeners | None = None,
        timezone: Any = None,
        celery_app: Any = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.tasks = tasks if tasks is not None else TaskRegistry()
        self.listeners = listeners if listeners is not None else Listeners()
        self.timezone = timezone
        #: The app of Celery tasks that name none (an app or its import path), or None.
        self.celery_app = celery_app
        self.engine: Engine | None = None

    def _emit_job(self, kind: EventType, job_id: str, job: Job | None) -> None:
        if self.listeners.wants(kind):
            self.listeners.emit(Event(kind, job_id, self.clock.now(), job=job))

    def _notify(self, job_id: str, job: Job | None) -> None:
        engine = self.engine
        if engine is not None:
            engine.call_soon(engine.job_changed, job_id, job)

    def build_job(
        self,
        job_id: str,
        target: object,
        schedule: object,
        *,
        timezone: Any = None,
        **settings: Any,
    ) -> Job:
        """Build and validate a job from what the caller passed; nothing is stored."""
        try:
            resolved_target = make_target(target, self.tasks)
        except TargetError as exc:
            raise TargetError(f"job {job_id!r}: {exc}") from None
        if resolved_target.kind in ("call", "task"):
            try:
                runnable = resolve_target(resolved_target, self.tasks)
            except TargetError as exc:
                raise TargetError(f"job {job_id!r}: {exc}") from None
            # A task's function is known only here; make_job checks the other kinds.
            check_executor(job_id, settings.get("executor"), resolved_target, runnable)
        elif resolved_target.celery is not None:
            resolved_target = self._celery_target(job_id, resolved_target.celery)
        tz = timezone if timezone is not None else self.timezone
        try:
            schedule = self._shared_schedule(schedule, tz, settings)
        except ScheduleError as exc:
            raise schedule_error(job_id, schedule, exc) from None
        return make_job(job_id, resolved_target, schedule, tz=tz, **settings)

    def _celery_target(self, job_id: str, task: CeleryTask) -> Target:
        """The target of a Celery job: its app (the scheduler's by default), checked now."""
        from cronwork.executors.celeryjobs import check_task, with_app

        task = with_app(task, self.celery_app, job_id)
        check_task(task, job_id)
        return Target("celery", task.name, celery=task)

    def _shared_schedule(self, schedule: object, tz: Any, settings: Mapping[str, Any]) -> object:
        """The parsed schedule every job on the same text and zone shares (see
        `timing.shared_schedule`, which the stores use too); other schedules as given."""
        from cronwork.timing import shared_schedule, uses_hash

        if not isinstance(schedule, str) or uses_hash(schedule):
            return schedule  # H expressions hash the job id: make_job parses them per job
        if any(settings.get(k) is not None for k in ("start_at", "end_at", "jitter")):
            return schedule
        return shared_schedule(schedule, tz)

    def add_job(
        self,
        job_id: str,
        target: object,
        schedule: object,
        *,
        replace: bool = False,
        timezone: Any = None,
        **settings: Any,
    ) -> Job:
        """Validate and store a new job (or replace one, with ``replace``); return it as stored."""
        check_keywords(job_id, settings, _ADDABLE, "set")
        job = self.build_job(job_id, target, schedule, timezone=timezone, **settings)
        return self.add_built_job(job, replace=replace)

    def add_built_job(self, job: Job, *, replace: bool = False) -> Job:
        """Store a job built and validated already (as a job-file table check builds it)."""
        if upstream_of(job):
            check_new_job(self.store, job)
        now = self.clock.now()
        job = job.replace(next_run_at=first_run(job, now), created_at=now)
        job = self.store.add_job(job, replace=replace)
        self._notify(job.id, job)
        self._emit_job(EventType.JOB_ADDED, job.id, job)
        return job

    def modify_job(self, job_id: str, changes: Mapping[str, Any]) -> Job:
        """Apply ``changes`` to a stored job; a new schedule recomputes its next run from now."""
        check_keywords(job_id, changes, _MODIFIABLE, "modify")
        old = self.store.get_job(job_id)
        settings = {name: getattr(old, name) for name in _SETTINGS}
        settings.update({k: v for k, v in changes.items() if k in _SETTINGS})
        target: object = changes.get("target", old.target)
        schedule_changed = bool(_SCHEDULE_SETTINGS & set(changes))
        tz = changes.get("timezone", old.schedule.tz)
        if schedule_changed:
            schedule: object = changes.get("schedule", old.schedule_text)
            job = self.build_job(job_id, target, schedule, timezone=tz, **settings)
        else:
            settings.update(start_at=None, end_at=None, jitter=None)
            job = self.build_job(job_id, target, old.schedule, timezone=tz, **settings)
            job = validate_job(
                job.replace(
                    schedule=old.schedule,
                    start_at=old.start_at,
                    end_at=old.end_at,
                    jitter=old.jitter,
                )
            )
        now = self.clock.now()
        paused = changes.get("paused", old.paused)
        next_run_at = old.next_run_at
        if schedule_changed:
            next_run_at = first_run(job, now)
        elif old.paused and not paused:
            next_run_at = job.schedule.next_after(now)
        job = job.replace(
            paused=paused,
            next_run_at=next_run_at,
            broken=old.broken,
            origin=old.origin,
            created_at=old.created_at,
            pause_note=old.pause_note if paused else None,
        )
        validate_job(job)
        if upstream_of(job):
            check_new_job(self.store, job)
        job = self.store.update_job(job)
        self._notify(job.id, job)
        self._emit_job(EventType.JOB_MODIFIED, job.id, job)
        return job

    def set_paused(self, job_id: str, paused: bool, note: str | None = None) -> Job:
        """Pause (with an optional ``note``, shown until resumed) or resume a job.

        Resuming does not replay the paused period and clears the note. Pausing a paused job
        again replaces its note.
        """
        job = self.store.get_job(job_id)
        if note is not None and not paused:
            raise JobError(
                f"job {job_id!r}: a note is given when pausing, not when resuming",
                job_id=job_id,
                field="note",
                value=note,
            )
        if job.paused == paused and (not paused or note is None or note == job.pause_note):
            return job
        if paused:
            # Only the note is checked: a stored job is not validated again to be paused.
            check_pause_note(job_id, note)
            job = job.replace(paused=True, pause_note=note or job.pause_note)
        else:
            # Resuming does not replay the paused period: the next slot is after now.
            job = job.replace(
                paused=False,
                pause_note=None,
                next_run_at=job.schedule.next_after(self.clock.now()),
            )
        job = self.store.update_job(job)
        self._notify(job.id, job)
        self._emit_job(EventType.JOB_PAUSED if paused else EventType.JOB_RESUMED, job.id, job)
        return job

    def remove_job(self, job_id: str, force: bool = False) -> None:
        """Remove a job; one that others depend on only with ``force``."""
        if not force:
            self.store.get_job(job_id)
            needed_by = check_removal(self.store, job_id)
            if needed_by:
                raise JobError(needed_message(job_id, needed_by, "cronwork remove"))
        self.store.remove_job(job_id)
        self._notify(job_id, None)
        self._emit_job(EventType.JOB_REMOVED, job_id, None)

    def trigger(self, job_id: str) -> Run:
        """Insert a manual run of ``job_id`` due now; wake the engine, if one runs here."""
        self.store.get_job(job_id)
        stored = self._manual_run(job_id)
        if self.engine is not None:
            self.engine.wake()
        return stored

    def trigger_unless_overlapping(self, job_id: str) -> tuple[Run, OverlapVerdict]:
        """Trigger ``job_id`` as `trigger` does, unless its overlap policy skips the run.

        A skipped run is recorded at once, as the engine would record it; the verdict says
        what the policy does (or will do, when the engine takes the run) and why.
        """
        job = self.store.get_job(job_id)
        verdict = overlap_verdict(job, [run.id for run in self.running_runs(job_id)])
        if verdict.skipped:
            now = self.clock.now()
            reason = f"skipped: {verdict.reason}"
            run = self._manual_run(job_id, status=RunStatus.SKIPPED, finished_at=now, error=reason)
            return run, verdict
        return self.trigger(job_id), verdict

    def running_runs(self, job_id: str) -> list[Run]:
        """The job's runs that run on a live node (a lapsed lease is a dead node's run)."""
        now = self.clock.now()
        found = self.store.runs(job_id=job_id, status=RunStatus.RUNNING, limit=10_000)
        return [r for r in found if r.lease_until is None or r.lease_until > now]

    def _manual_run(self, job_id: str, **fields: Any) -> Run:
        """Record a manual run of ``job_id`` at the first free microsecond from now."""
        now = self.clock.now()
        # (job, slot, attempt) is unique: a second trigger within the same microsecond
        # takes the next one.
        for step in range(1000):
            run = Run(
                id="",
                job_id=job_id,
                scheduled_for=now + timedelta(microseconds=step),
                due_at=now,
                created_at=now,
                trigger="manual",
                **fields,
            )
            stored = self.store.add_run(run)
            if stored is not None:
                return stored
        raise CronworkError(f"job {job_id!r}: cannot record a manual run")

    def backfill(
        self, job_id: str, start: datetime | str, end: datetime | str, overlap: str = "skip"
    ) -> list[Run]:
        """Record one run of ``job_id`` per slot of its schedule from ``start`` to ``end``.

        The range is in the past (slots from now on are the schedule's own); slots that have a
        run already keep it. ``overlap`` says how the runs meet the job's other runs (see
        `cronwork.backfill`). Return the new runs, oldest slot first; bad input raises a
        JobError naming the field, and then nothing is recorded.
        """
        from cronwork.backfill import backfill_runs

        job = self.store.get_job(job_id)
        now = self.clock.now()
        planned = backfill_runs(job, start, end, overlap, now, lambda: self.running_runs(job_id))
        stored = [run for run in map(self.store.add_run, planned) if run is not None]
        if stored and self.engine is not None:
            self.engine.wake()
        return stored

    def cancel(self, run_id: str) -> Run:
        """Cancel one run, running or not yet started."""
        run = self.store.request_cancel(run_id, self.clock.now())
        if run.status is RunStatus.CANCELLED and run.node is None:
            if self.listeners.wants(EventType.RUN_CANCELLED):
                event = Event(EventType.RUN_CANCELLED, run.job_id, self.clock.now(), run=run)
                self.listeners.emit(event)
        elif self.engine is not None:
            self.engine.call_soon(self.engine.request_cancel, [run.id])
        return run

    def output_so_far(self, run_id: str) -> str | None:
        """What a run executing in this process has printed so far; None if not known here."""
        engine = self.engine
        return None if engine is None else engine.output_so_far(run_id)

    def stop(self, job_id: str) -> list[Run]:
        """Cancel every running run of a job."""
        self.store.get_job(job_id)
        targets = self.store.runs(job_id=job_id, status=RunStatus.RUNNING, limit=10_000)
        return [self.cancel(run.id) for run in targets]

    def runs(self, job_id: str | None, status: RunStatus | str | None, limit: int) -> list[Run]:
        """Return run records, newest slot first; ``status`` may be given by name."""
        if status is not None and not isinstance(status, RunStatus):
            try:
                status = RunStatus(status)
            except ValueError:
                allowed = ", ".join(s.value for s in RunStatus)
                raise CronworkError(
                    f"unknown run status {status!r}: use one of {allowed}"
                ) from None
        return self.store.runs(job_id=job_id, status=status, limit=limit)
