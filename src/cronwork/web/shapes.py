"""The JSON shapes of the API: how jobs and runs look on the wire, and their schemas.

A job is shown with the keys of a job file (so what a client reads it can send back) plus
its state: ``paused``, ``pause_note``, ``next_run_at``, ``last_run`` and ``broken``. Secrets
never leave: notify URLs are masked (``masked_url``) and a command's environment values are
hidden. Times are ISO 8601 in UTC (``2026-12-01T10:00:00Z``), durations are seconds.

The pydantic models here only describe the shapes for ``/openapi.json``; request bodies are
checked by the job-file checker, so the API accepts and refuses exactly what a job file does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cronwork.jobs import POLICY_SETTINGS, Job
from cronwork.notify import masked_url
from cronwork.runs import Run, RunBrief, RunStatus

HIDDEN = "(hidden)"


def iso(moment: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC (``...Z``), as every answer shows it; None stays None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# Job-file keys whose value is the job's attribute of the same name, made plain.
_SETTING_KEYS = (*POLICY_SETTINGS, "tags", "executor", "depends_on")


def job_table(job: Job) -> dict[str, Any]:
    """``job`` as a job-file table with every secret in full: what a change is merged into.

    Never sent to a client (``job_shape`` is): it exists so that a PATCH is checked as the
    whole job it makes, by the job-file checker.
    """
    table: dict[str, Any] = {"id": job.id, "schedule": job.schedule_text, "tz": job.timezone}
    target = job.target
    if target.kind == "command" and target.command is not None:
        command = target.command
        table["command"] = command.line if command.shell else list(command.argv)
        if command.shell:
            table["shell"] = True
        if command.cwd is not None:
            table["cwd"] = command.cwd
        if command.env is not None:
            table["env"] = dict(command.env)
    else:
        if target.celery is not None:
            # The job-file keys of a Celery task (see docs/celery.md).
            table["celery_task"] = target.ref
            if target.celery.app_path is not None:
                table["celery_app"] = target.celery.app_path
            if target.celery.queue is not None:
                table["celery_queue"] = target.celery.queue
        else:
            table[target.kind] = target.ref
        table["args"] = _plain(list(job.args))
        table["kwargs"] = _plain(dict(job.kwargs))
    for key in _SETTING_KEYS:
        value = getattr(job, key)
        if value is not None:
            table[key] = _plain(value)
    table["notify"] = [target.to_dict() for target in job.notify]
    return table


def job_shape(job: Job, last: Run | RunBrief | None) -> dict[str, Any]:
    """``job`` as the API shows it: job-file keys (secrets masked) plus its state."""
    return _with_state(_definition(job), job, last)


def jobs_list_body(picked: Sequence[tuple[Job, RunBrief | None]], after: str | None) -> bytes:
    """The JSON of a jobs list, ``{"jobs": [...], "next": after}``: the shapes of the jobs
    in ``picked`` with their newest runs, encoded as ``job_shape`` would be.

    The part of each shape that comes from the job's definition is encoded once per Job
    object and kept: stores hand out one immutable Job per definition and state, so a list
    asked for again and again (a dashboard, a monitor) finds most of its jobs encoded, and a
    job that changed is another object, encoded afresh. Shaping and encoding the definitions
    was most of the list's own time.
    """
    items = []
    for job, last in picked:
        cached = _ENCODED.get(id(job))
        if cached is not None and cached[0] is job:
            definition = cached[1]
        else:
            # Without its closing brace: the state's keys follow.
            definition = _encode(_definition(job))[:-1]
            if len(_ENCODED) >= _ENCODED_KEPT:
                _ENCODED.clear()
            # The job is kept with its text, so its id cannot name another job meanwhile.
            _ENCODED[id(job)] = (job, definition)
        items.append(definition + "," + _encode(_with_state({}, job, last))[1:])
    return f'{{"jobs":[{",".join(items)}],"next":{_encode(after)}}}'.encode()


# Encoded job definitions by Job object (see jobs_list_body), up to a few pages' worth.
_ENCODED: dict[int, tuple[Job, str]] = {}
_ENCODED_KEPT = 4096
# As JSONResponse encodes.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _definition(job: Job) -> dict[str, Any]:
    """The keys of ``job``'s shape that come from its definition."""
    shape = job_table(job)
    shape.setdefault("args", None)
    shape.setdefault("kwargs", None)
    if "env" in shape:
        shape["env"] = dict.fromkeys(shape["env"], HIDDEN)
    shape["notify"] = [{"url": masked_url(t.url), "on": list(t.on)} for t in job.notify]
    for key in _SETTING_KEYS:
        shape.setdefault(key, None)
    shape["description"] = _describe(job)
    return shape


def _with_state(shape: dict[str, Any], job: Job, last: Run | RunBrief | None) -> dict[str, Any]:
    """``shape`` with the keys of ``job``'s state and its newest run ``last``."""
    shape.update(
        paused=job.paused,
        pause_note=job.pause_note,
        next_run_at=iso(job.next_run_at),
        last_run=None
        if last is None
        else {"id": last.id, "status": last.status.value, "finished_at": iso(last.finished_at)},
        broken=job.broken,
    )
    return shape


def _describe(job: Job) -> str:
    try:
        return job.schedule.description
    except Exception:  # a description is a courtesy; never fail a listing over it
        return job.schedule_text


def run_shape(run: Run) -> dict[str, Any]:
    """``run`` as the API shows it (its output has an endpoint of its own)."""
    return {
        "id": run.id,
        "job_id": run.job_id,
        "status": run.status.value,
        "scheduled_for": iso(run.scheduled_for),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration": run.duration,
        "attempt": run.attempt,
        "node": run.node,
        "exit_code": run.exit_code,
        "error": run.error,
        "trigger": run.trigger,
        "cancel_requested": run.cancel_requested,
    }


# -- schemas for /openapi.json ----------------------------------------------------------------

Scalar = str | int | float | bool | None
Duration = str | float | None


class Problem(BaseModel):
    """Every 4xx answer: what is wrong, and the field it is about (null: the request)."""

    error: str
    field: str | None = None


class LastRun(BaseModel):
    """The newest run of a job, in brief."""

    id: str
    status: RunStatus
    finished_at: datetime | None


class NotifyShown(BaseModel):
    """A notification target as shown: its URL masked after the host."""

    url: str
    on: list[str]


class JobOut(BaseModel):
    """A job: the keys of a job file plus its state."""

    model_config = ConfigDict(extra="allow")

    id: str
    schedule: str
    tz: str
    description: str
    call: str | None = None
    task: str | None = None
    command: list[str] | str | None = None
    shell: bool | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    args: list[Any] | None
    kwargs: dict[str, Any] | None
    timeout: float | None
    on_timeout: str
    retries: int
    retry_backoff: float
    retry_backoff_max: float
    overlap: str
    max_instances: int
    misfire: str
    misfire_grace: float
    start_at: datetime | None
    end_at: datetime | None
    jitter: float | None
    dependency_timeout: float | None
    tags: list[str]
    executor: str | None
    depends_on: list[str]
    notify: list[NotifyShown]
    paused: bool
    pause_note: str | None
    next_run_at: datetime | None
    last_run: LastRun | None
    broken: str | None


class JobList(BaseModel):
    """A page of jobs, by id; ``next`` is the cursor of the following page."""

    jobs: list[JobOut]
    next: str | None


class RunOut(BaseModel):
    """One run of a job."""

    id: str
    job_id: str
    status: RunStatus
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    attempt: int
    node: str | None
    exit_code: int | None
    error: str | None
    trigger: str
    cancel_requested: bool


class RunList(BaseModel):
    """A page of runs, newest first; ``next`` is the cursor of the following page."""

    runs: list[RunOut]
    next: str | None


class RunOutput(BaseModel):
    """A run's captured output; ``complete`` is false while the run may still print."""

    id: str
    status: RunStatus
    output: str
    error: str | None
    complete: bool


class RunsStopped(BaseModel):
    """The runs a stop asked to cancel."""

    runs: list[RunOut]


class BackfillIn(BaseModel):
    """A backfill: the past range whose slots get a run, and how they meet the job's runs."""

    start: str
    end: str
    overlap: str = "skip"


class Backfilled(BaseModel):
    """The runs a backfill recorded, oldest slot first (none for slots that had a run)."""

    runs: list[RunOut]


class JobIn(BaseModel):
    """A new job: the keys of a job file's ``[[jobs]]`` table (docs/jobfiles.md).

    Exactly one of ``call``, ``task`` or ``command`` (commands only with --allow-commands).
    Durations are text ("30m") or seconds.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:@/-]{0,199}$")
    schedule: str
    call: str | None = None
    task: str | None = None
    command: list[str] | str | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    shell: bool | None = None
    tz: str | None = None
    timeout: Duration = None
    on_timeout: str | None = None
    retries: int | None = None
    retry_backoff: Duration = None
    retry_backoff_max: Duration = None
    overlap: str | None = None
    max_instances: int | None = None
    misfire: str | None = None
    misfire_grace: Duration = None
    start_at: str | None = None
    end_at: str | None = None
    jitter: Duration = None
    dependency_timeout: Duration = None
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    tags: list[str] | None = None
    executor: str | None = None
    depends_on: list[str] | str | None = None
    # URLs, or objects {"url": ..., "on": [...]} (docs/jobfiles.md)
    notify: list[str | dict[str, Any]] | None = None


class JobChanges(JobIn):
    """Changes to a job: any keys of a new job; the job they make is checked whole.

    ``id``, if given, must be the job's; setting one target (``call``, ``task``,
    ``command``) replaces the other.
    """

    id: str | None = None  # type: ignore[assignment]
    schedule: str | None = None  # type: ignore[assignment]


class PauseIn(BaseModel):
    """Why a job is paused; shown until it is resumed."""

    note: str | None = None


class Preview(BaseModel):
    """A schedule's next fire times in its zone, in words, with the DST changes it crosses."""

    schedule: str
    tz: str
    description: str
    times: list[datetime]
    dst_notes: list[str]


class Health(BaseModel):
    """Whether the service can do its work: its scheduler and its store."""

    status: str
    scheduler: str
    store: str
    version: str
