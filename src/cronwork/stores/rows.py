"""Jobs and runs as readable database rows, and back. Shared by the SQL stores.

Instants are integer microseconds since the Unix epoch in UTC; durations are float seconds;
lists and mappings are JSON. A row whose schedule no longer parses still loads: the job comes
back broken, with a placeholder schedule that never fires and keeps the stored text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cronwork.errors import CronworkError, TargetError
from cronwork.jobs import Job
from cronwork.policies import Misfire, OnTimeout, Overlap
from cronwork.runs import Run, RunStatus
from cronwork.targets import Command, Target
from cronwork.timing import Schedule, parse_schedule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_micros(moment: datetime | None) -> int | None:
    """An aware datetime as integer microseconds since the epoch (UTC)."""
    if moment is None:
        return None
    return (moment - EPOCH) // _MICRO


def from_micros(value: int | None) -> datetime | None:
    """Integer microseconds since the epoch as an aware UTC datetime."""
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
    command = target.command
    return {
        "id": job.id,
        "schedule_text": job.schedule.source,
        "timezone": job.schedule.tz.key,
        "start_at": to_micros(job.start_at),
        "end_at": to_micros(job.end_at),
        "jitter": _seconds(job.jitter),
        "target_kind": target.kind,
        "target_ref": target.ref,
        "command": None
        if command is None
        else _json(
            {
                "argv": list(command.argv),
                "cwd": command.cwd,
                "env": None if command.env is None else dict(command.env),
                "shell": command.shell,
            }
        ),
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
    }


ScheduleKey = tuple[str, str, str, int | None, int | None, float | None]


def schedule_key(row: RowLike) -> ScheduleKey:
    """What a row's schedule depends on, for caching parsed schedules."""
    return (
        row["id"],
        row["schedule_text"],
        row["timezone"],
        row["start_at"],
        row["end_at"],
        row["jitter"],
    )


def schedule_from_row(row: RowLike) -> tuple[Schedule, str | None]:
    """Parse a row's schedule; on failure return a placeholder and the error text."""
    text = row["schedule_text"]
    try:
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
    """The stored target; a command row rebuilds its Command."""
    data = _load(row["command"])
    command = None
    if data is not None:
        command = Command(
            tuple(data["argv"]), cwd=data.get("cwd"), env=data.get("env"), shell=data["shell"]
        )
    return Target(row["target_kind"], row["target_ref"], command=command)


def job_from_row(row: RowLike, schedule: Schedule, broken: str | None = None) -> Job:
    """Build the Job of ``row`` around an already parsed ``schedule``.

    ``broken`` (a schedule parse error) wins over the stored broken text only when the row
    has none, so an engine-set reason is not hidden.
    """
    return Job(
        id=row["id"],
        target=target_from_row(row),
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
    )


def run_to_row(run: Run) -> dict[str, Any]:
    """The column values of ``run``; ``id`` is included when the run has one."""
    return {
        "id": int(run.id) if run.id else None,
        "job_id": run.job_id,
        "scheduled_for": to_micros(run.scheduled_for),
        "attempt": run.attempt,
        "status": run.status.value,
        "node": run.node,
        "created_at": to_micros(run.created_at),
        "queued_at": to_micros(run.queued_at),
        "started_at": to_micros(run.started_at),
        "finished_at": to_micros(run.finished_at),
        "lease_until": to_micros(run.lease_until),
        "exit_code": run.exit_code,
        "output": run.output,
        "error": run.error,
        "due_at": to_micros(run.due_at),
        "trigger": run.trigger,
        "cancel_requested": int(run.cancel_requested),
        "waited_for": _json(list(run.waited_for)),
    }


def run_from_row(row: RowLike) -> Run:
    """Build the Run of ``row``."""
    return Run(
        id=str(row["id"]),
        job_id=row["job_id"],
        scheduled_for=EPOCH + timedelta(microseconds=row["scheduled_for"]),
        attempt=row["attempt"],
        status=RunStatus(row["status"]),
        node=row["node"],
        created_at=from_micros(row["created_at"]),
        queued_at=from_micros(row["queued_at"]),
        started_at=from_micros(row["started_at"]),
        finished_at=from_micros(row["finished_at"]),
        lease_until=from_micros(row["lease_until"]),
        exit_code=row["exit_code"],
        output=row["output"],
        error=row["error"],
        due_at=from_micros(row["due_at"]),
        trigger=row["trigger"],
        cancel_requested=bool(row["cancel_requested"]),
        waited_for=tuple(_load(row["waited_for"])),
    )
