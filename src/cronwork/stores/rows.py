"""Jobs and runs as readable database rows, and back. Shared by the SQL stores.

Instants are integer microseconds since the Unix epoch in UTC; durations are float seconds;
lists and mappings are JSON. A row whose schedule no longer parses still loads: the job comes
back broken, with a placeholder schedule that never fires and keeps the stored text.

A Celery task is stored as what it is, a named task (``target_kind = 'task'``, its name in
``target_ref``), with how it is sent, ``{"celery": {"app": ..., "queue": ...}}``, in the JSON
column that holds a command's details for command targets: the schema needs no new kind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, overload
from zoneinfo import ZoneInfo

from cronwork.copiers import job_state, run_of
from cronwork.errors import CronworkError, TargetError
from cronwork.jobs import Job
from cronwork.notify import NotifyTarget
from cronwork.policies import Misfire, OnTimeout, Overlap
from cronwork.runs import Run, RunBrief, RunStatus
from cronwork.targets import CeleryTask, Command, Target
from cronwork.timing import Schedule, parse_schedule, shared_schedule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


@overload
def to_micros(moment: datetime) -> int: ...


@overload
def to_micros(moment: datetime | None) -> int | None: ...


def to_micros(moment: datetime | None) -> int | None:
    """An aware datetime as integer microseconds since the epoch (UTC)."""
    if moment is None:
        return None
    return (moment - EPOCH) // _MICRO


@overload
def from_micros(value: int) -> datetime: ...


@overload
def from_micros(value: int | None) -> datetime | None: ...


def from_micros(value: int | None) -> datetime | None:
    """Integer microseconds since the epoch as an aware UTC datetime (None stays None)."""
    if value is None:
        return None
    return EPOCH + timedelta(microseconds=value)


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _duration(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _load(text: str | None) -> Any:
    # Most rows hold empty lists and mappings; skip the decoder for them.
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return None if text is None else json.loads(text)


class RowLike(Protocol):
    """A database row readable by column name (sqlite3.Row, a dict)."""

    def __getitem__(self, key: str, /) -> Any: ...


class UnparsedSchedule(Schedule):
    """Stands in for a stored schedule that no longer parses: never fires, keeps its text."""

    def __init__(self, source: str, tz: ZoneInfo, error: str) -> None:
        self.source = source
        self.tz = tz
        self.error = error

    def next_after(self, moment: datetime) -> datetime | None:
        """Never fires."""
        return None

    def describe(self) -> str:
        """Say why it never fires."""
        return f"never (stored schedule {self.source!r} cannot be parsed: {self.error})"


def check_persistable(job: Job) -> None:
    """Raise TargetError unless the job's target can be stored and resolved elsewhere."""
    if job.target.celery is not None and not job.target.persistable:
        raise TargetError(
            f"job {job.id!r}: the Celery app of task {job.target.ref!r} is an app object, so a "
            "persistent store cannot keep it; give its import path, e.g. "
            "CeleryTask(..., app='proj.celery:app') or Scheduler(celery_app='proj.celery:app')"
        )
    if not job.target.persistable:
        raise TargetError(
            f"job {job.id!r}: target {job.target.ref!r} is a callable with no import path "
            "(a lambda, closure or function defined in __main__), so a persistent store cannot "
            "keep it; use a module-level function, an import path 'package.module:function' "
            "or a task registered with @scheduler.task"
        )


def job_to_row(job: Job) -> dict[str, Any]:
    """The column values of ``job`` (see schema/0001_initial.sql)."""
    check_persistable(job)
    target = job.target
    return {
        "id": job.id,
        "schedule_text": job.schedule.source,
        "timezone": job.schedule.tz.key,
        "start_at": to_micros(job.start_at),
        "end_at": to_micros(job.end_at),
        "jitter": _seconds(job.jitter),
        "target_kind": "task" if target.kind == "celery" else target.kind,
        "target_ref": target.ref,
        "command": _target_details(target),
        "args": _json(list(job.args)),
        "kwargs": _json(dict(job.kwargs)),
        "timeout": _seconds(job.timeout),
        "on_timeout": job.on_timeout.value,
        "retries": job.retries,
        "retry_backoff": job.retry_backoff.total_seconds(),
        "retry_backoff_max": job.retry_backoff_max.total_seconds(),
        "overlap": job.overlap.value,
        "max_instances": job.max_instances,
        "misfire": job.misfire.value,
        "misfire_grace": job.misfire_grace.total_seconds(),
        "tags": _json(list(job.tags)),
        "executor": job.executor,
        "depends_on": _json(list(job.depends_on)),
        "dependency_timeout": _seconds(job.dependency_timeout),
        "paused": int(job.paused),
        "broken": job.broken,
        "origin": job.origin,
        "next_run_at": to_micros(job.next_run_at),
        "created_at": to_micros(job.created_at),
        "notify": _json([target.to_dict() for target in job.notify]),
        "pause_note": job.pause_note,
    }


def _target_details(target: Target) -> str | None:
    """The ``command`` column: a command's details, or how a Celery task is sent."""
    command, celery = target.command, target.celery
    if celery is not None:
        return _json({"celery": {"app": celery.app_path, "queue": celery.queue}})
    if command is None:
        return None
    return _json(
        {
            "argv": list(command.argv),
            "cwd": command.cwd,
            "env": None if command.env is None else dict(command.env),
            "shell": command.shell,
        }
    )


def schedule_from_row(row: RowLike) -> tuple[Schedule, str | None]:
    """Parse a row's schedule; on failure return a placeholder and the error text."""
    text = row["schedule_text"]
    try:
        if row["start_at"] is None and row["end_at"] is None and row["jitter"] is None:
            return shared_schedule(text, row["timezone"], job_id=row["id"]), None
        schedule = parse_schedule(
            text,
            tz=row["timezone"],
            job_id=row["id"],
            start=from_micros(row["start_at"]),
            end=from_micros(row["end_at"]),
            jitter=_duration(row["jitter"]),
        )
    except (CronworkError, ValueError, OverflowError) as exc:
        try:
            zone = ZoneInfo(row["timezone"])
        except (ValueError, KeyError, OSError):
            zone = ZoneInfo("UTC")
        return UnparsedSchedule(text, zone, str(exc)), f"schedule {text!r}: {exc}"
    return schedule, None


def target_from_row(row: RowLike) -> Target:
    """The stored target; a command row rebuilds its Command, a Celery row its CeleryTask."""
    data = _load(row["command"])
    command = None
    if data is not None and "celery" in data:
        sent = data["celery"]
        task = CeleryTask(row["target_ref"], app=sent.get("app"), queue=sent.get("queue"))
        return Target("celery", row["target_ref"], celery=task)
    if data is not None:
        command = Command(
            tuple(data["argv"]), cwd=data.get("cwd"), env=data.get("env"), shell=data["shell"]
        )
    return Target(row["target_kind"], row["target_ref"], command=command)


def job_from_row(
    row: RowLike, schedule: Schedule, broken: str | None = None, target: Target | None = None
) -> Job:
    """Build the Job of ``row`` around an already parsed ``schedule`` (and ``target``).

    ``broken`` (a schedule parse error) wins over the stored broken text only when the row
    has none, so an engine-set reason is not hidden.
    """
    return Job(
        id=row["id"],
        target=target_from_row(row) if target is None else target,
        schedule=schedule,
        timeout=_duration(row["timeout"]),
        on_timeout=OnTimeout(row["on_timeout"]),
        retries=row["retries"],
        retry_backoff=timedelta(seconds=row["retry_backoff"]),
        retry_backoff_max=timedelta(seconds=row["retry_backoff_max"]),
        overlap=Overlap(row["overlap"]),
        max_instances=row["max_instances"],
        misfire=Misfire(row["misfire"]),
        misfire_grace=timedelta(seconds=row["misfire_grace"]),
        start_at=from_micros(row["start_at"]),
        end_at=from_micros(row["end_at"]),
        jitter=_duration(row["jitter"]),
        args=tuple(_load(row["args"])),
        kwargs=_load(row["kwargs"]),
        tags=tuple(_load(row["tags"])),
        executor=row["executor"],
        depends_on=tuple(_load(row["depends_on"])),
        dependency_timeout=_duration(row["dependency_timeout"]),
        paused=bool(row["paused"]),
        next_run_at=from_micros(row["next_run_at"]),
        broken=row["broken"] if row["broken"] is not None else broken,
        origin=row["origin"],
        created_at=from_micros(row["created_at"]),
        notify=tuple(NotifyTarget(t["url"], tuple(t["on"])) for t in _load(row["notify"])),
        pause_note=row["pause_note"],
    )


# Column order of run_values(): the insert and save statements in queries.sql read each
# run as a JSON array in this order (``value ->> 0`` is ``id``).
RUN_COLUMNS = (
    "id",
    "job_id",
    "scheduled_for",
    "attempt",
    "status",
    "node",
    "created_at",
    "queued_at",
    "started_at",
    "finished_at",
    "lease_until",
    "exit_code",
    "output",
    "error",
    "due_at",
    "trigger",
    "cancel_requested",
    "waited_for",
)


def run_values(run: Run) -> list[Any]:
    """The column values of ``run`` in RUN_COLUMNS order; ``id`` is None for a new run."""
    return [
        int(run.id) if run.id else None,
        run.job_id,
        to_micros(run.scheduled_for),
        run.attempt,
        run.status.value,
        run.node,
        to_micros(run.created_at),
        to_micros(run.queued_at),
        to_micros(run.started_at),
        to_micros(run.finished_at),
        to_micros(run.lease_until),
        run.exit_code,
        run.output,
        run.error,
        to_micros(run.due_at),
        run.trigger,
        int(run.cancel_requested),
        _json(list(run.waited_for)) if run.waited_for else "[]",
    ]


def batch(rows: Sequence[Any]) -> str:
    """Rows as one JSON document for a single ``json_each`` statement."""
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


def run_from_row(row: RowLike, node: str | None = None, lease_until: datetime | None = None) -> Run:
    """Build the Run of ``row``; ``node`` and ``lease_until``, when given, replace the row's."""
    # run_of, not Run(...): every run read back (history, lists, the API) comes through here.
    return run_of(
        id=str(row["id"]),
        job_id=row["job_id"],
        scheduled_for=EPOCH + timedelta(microseconds=row["scheduled_for"]),
        attempt=row["attempt"],
        status=_STATUSES[row["status"]],
        node=row["node"] if node is None else node,
        created_at=from_micros(row["created_at"]),
        queued_at=from_micros(row["queued_at"]),
        started_at=from_micros(row["started_at"]),
        finished_at=from_micros(row["finished_at"]),
        lease_until=from_micros(row["lease_until"]) if lease_until is None else lease_until,
        exit_code=row["exit_code"],
        output=row["output"],
        error=row["error"],
        due_at=from_micros(row["due_at"]),
        trigger=row["trigger"],
        cancel_requested=bool(row["cancel_requested"]),
        waited_for=_waited_for(row["waited_for"]),
    )


def brief_from_row(row: RowLike) -> RunBrief:
    """The RunBrief of a row with the brief's columns (id, job_id, status, start, end)."""
    return RunBrief(
        str(row["id"]),
        row["job_id"],
        _STATUSES[row["status"]],
        from_micros(row["started_at"]),
        from_micros(row["finished_at"]),
    )


# Status by stored value: a dict lookup, where RunStatus(value) goes through the enum's call.
_STATUSES = {status.value: status for status in RunStatus}


def _waited_for(text: str) -> tuple[str, ...]:
    return () if text == "[]" else tuple(json.loads(text))


class JobCache:
    """Parsed jobs by id and row revision, so a row is turned into a Job once per change.

    Only the state columns (paused, broken, next_run_at) are read from the row each time.
    Schedules that do not depend on the job id are shared between jobs with the same text
    and zone (`timing.shared_schedule`, the cache the faces use too), so loading 100k jobs
    written from a few dozen schedules parses a few dozen times; targets, immutable too, are
    shared per import path or task name.

    A claim moves ``next_run_at`` in the row only and hands out the cached Job as it is:
    copying each claimed job made thousands of Jobs a second live just long enough to reach
    the garbage collector's oldest generation, whose full passes then stalled the engine.
    For the same reason revisions and parse errors sit in dicts of their own, which hold only
    strings and ints and so are never walked by the collector.
    """

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._jobs: dict[str, Job] = {}
        self._revs: dict[str, int] = {}
        self._errors: dict[str, str] = {}
        self._targets: dict[tuple[str, str], Target] = {}

    def load(self, row: RowLike) -> Job:
        """The Job of ``row``, from the cache when its revision is known."""
        job_id = row["id"]
        if self._revs.get(job_id) != row["rev"]:
            if len(self._jobs) >= self.limit:
                self._jobs.clear()
                self._revs.clear()
                self._errors.clear()
            schedule, error = schedule_from_row(row)
            job = job_from_row(row, schedule, error, self._target(row))
            self._jobs[job_id] = job
            self._revs[job_id] = row["rev"]
            if error is None:
                self._errors.pop(job_id, None)
            else:
                self._errors[job_id] = error
            return job
        job = self._jobs[job_id]
        paused = bool(row["paused"])
        broken = row["broken"] if row["broken"] is not None else self._errors.get(job_id)
        next_micros = row["next_run_at"]
        if (
            job.paused == paused
            and job.broken == broken
            and to_micros(job.next_run_at) == next_micros
        ):
            return job
        job = job_state(job, paused=paused, broken=broken, next_run_at=from_micros(next_micros))
        self._jobs[job_id] = job
        return job

    def known(self, row: RowLike) -> Job | None:
        """The Job of ``row`` (its id, revision and state columns suffice) when its
        definition is cached at that revision, else None."""
        if self._revs.get(row["id"]) != row["rev"]:
            return None
        return self.load(row)

    def claimable(self, job_id: str, rev: int) -> Job | None:
        """The cached definition of an active job at revision ``rev``, else None.

        Its ``next_run_at`` may lag behind the row's, which the claim reads itself.
        """
        if self._revs.get(job_id) != rev:
            return None
        job = self._jobs[job_id]
        if job.paused or job.broken is not None:
            return None
        return job

    def _target(self, row: RowLike) -> Target | None:
        """One Target per import path or task name, shared like the schedules."""
        if row["command"] is not None:
            return None
        key = (row["target_kind"], row["target_ref"])
        target = self._targets.get(key)
        if target is None:
            if len(self._targets) >= self.limit:
                self._targets.clear()
            target = self._targets[key] = target_from_row(row)
        return target
