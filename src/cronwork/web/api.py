"""The REST API under ``/api/v1``: jobs, runs, schedule previews and live events.

Every route is a thin face over ``Operations`` (the same calls as the CLI) and the job-file
checker (the same validation as a job file); it holds no scheduling logic. Routes that touch
the store are plain functions, which the server runs on its thread pool. Errors answer
``{"error": ..., "field": ...}``: 400 for a body that is not JSON, 401/403 for access, 404
for an unknown id, 409 for a duplicate or a job others depend on, 422 for an invalid value.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from cronwork.errors import CronworkError, JobError
from cronwork.jobfile import check_job_table
from cronwork.jobfile.schema import TARGET_KEYS
from cronwork.jobs import Job
from cronwork.runs import Run, RunBrief, RunStatus
from cronwork.stores.paging import RunFilter
from cronwork.web.auth import Caller, check_write, identify, problem
from cronwork.web.params import cursor_of, instant, json_body, json_object, parse_cursor
from cronwork.web.service import Service, service_of
from cronwork.web.shapes import (
    Backfilled,
    BackfillIn,
    JobChanges,
    JobIn,
    JobList,
    JobOut,
    PauseIn,
    Preview,
    Problem,
    RunList,
    RunOut,
    RunOutput,
    RunsStopped,
    job_shape,
    job_table,
    jobs_list_body,
    run_shape,
)

MAX_PAGE = 500
# Jobs read from the store at once while a filtered listing looks for its page.
_SCAN = 200
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": what}
    for code, what in (
        (401, "no token, or a wrong one"),
        (403, "not allowed: a read-only token writing, a command job, a cross-site write"),
        (422, "an invalid value; `field` names it"),
    )
}
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the body is not JSON"},
    **_ERRORS,
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no job or run with this id"}
}


def _json_content(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI content of a JSON body described by ``model`` (checked by our own code)."""
    return {"application/json": {"schema": model.model_json_schema()}}


def reader(request: Request) -> Caller:
    """The dependency of every reading route: a valid token or session."""
    return identify(request, service_of(request).tokens)


def writer(request: Request) -> Caller:
    """The dependency of every changing route: the full token, and no cross-site write."""
    tokens = service_of(request).tokens
    caller = identify(request, tokens)
    check_write(request, tokens, caller)
    return caller


Reads = Annotated[Caller, Depends(reader)]
Writes = Annotated[Caller, Depends(writer)]

router = APIRouter(prefix="/api/v1", responses=_ERRORS)


# -- jobs ---------------------------------------------------------------------------------------


@router.get("/jobs", response_model=JobList, tags=["jobs"])
def list_jobs(
    request: Request,
    caller: Reads,
    tag: Annotated[str | None, Query(description="Only jobs with this tag.")] = None,
    paused: Annotated[bool | None, Query(description="Only paused (or active) jobs.")] = None,
    status: Annotated[
        RunStatus | None, Query(description="Only jobs whose newest run has this status.")
    ] = None,
    q: Annotated[str | None, Query(description="Only ids containing this text.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="`next` of the page before.")] = None,
) -> Response:
    """Jobs by id, a page at a time, with their newest run."""
    svc = service_of(request)
    needle = q.lower() if q else None
    picked: list[tuple[Job, RunBrief | None]] = []
    more = False
    # The newest runs are read for a batch of matching jobs at once (one store call each).
    batch: list[Job] = []

    def take(jobs: list[Job]) -> bool:
        """Keep the jobs whose newest run passes ``status``; True once the page is full."""
        newest = svc.store.newest_briefs([job.id for job in jobs]) if jobs else {}
        for job in jobs:
            last = newest.get(job.id)
            if status is not None and (last is None or last.status is not status):
                continue
            if len(picked) == limit:
                return True
            picked.append((job, last))
        return False

    # Without filters every job read is shown: read the page and one more (is there a next?).
    filtered = needle is not None or tag is not None or paused is not None or status is not None
    for job in _jobs_after(svc, cursor, _SCAN if filtered else limit + 1):
        if needle is not None and needle not in job.id.lower():
            continue
        if tag is not None and tag not in job.tags:
            continue
        if paused is not None and job.paused != paused:
            continue
        batch.append(job)
        if len(batch) > limit - len(picked):
            more = take(batch)
            batch = []
            if more:
                break
    if not more:
        more = take(batch)
    after = picked[-1][0].id if more else None
    return Response(jobs_list_body(picked, after), media_type="application/json")


@router.post(
    "/jobs",
    status_code=201,
    response_model=JobOut,
    tags=["jobs"],
    responses={**_BODY_ERRORS, 409: {"model": Problem, "description": "the id exists"}},
    openapi_extra={"requestBody": {"required": True, "content": _json_content(JobIn)}},
)
async def create_job(request: Request, caller: Writes) -> dict[str, Any]:
    """Add a job: the keys of a job file's [[jobs]] table, checked the same way."""
    body = json_object(await json_body(request))
    svc = service_of(request)
    return await run_in_threadpool(_create, svc, body)


def _create(svc: Service, body: dict[str, Any]) -> dict[str, Any]:
    _check_target_allowed(svc, body, body)
    job = check_job_table(body, check_imports=True, tasks=svc.operations.tasks, tz=svc.zone)
    stored = svc.operations.add_built_job(job)
    return job_shape(stored, None)


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"], responses=_NOT_FOUND)
def get_job(request: Request, caller: Reads, job_id: str) -> dict[str, Any]:
    """One job, with its newest run."""
    svc = service_of(request)
    job = svc.store.get_job(job_id)
    return job_shape(job, _newest_run(svc, job_id))


@router.patch(
    "/jobs/{job_id}",
    response_model=JobOut,
    tags=["jobs"],
    responses={**_BODY_ERRORS, **_NOT_FOUND},
    openapi_extra={"requestBody": {"required": True, "content": _json_content(JobChanges)}},
)
async def change_job(request: Request, caller: Writes, job_id: str) -> dict[str, Any]:
    """Change some keys of a job; null puts a key back to its default."""
    body = json_object(await json_body(request))
    svc = service_of(request)
    return await run_in_threadpool(_change, svc, job_id, body)


def _change(svc: Service, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
    old = svc.store.get_job(job_id)
    if "id" in body and body["id"] != job_id:
        raise JobError(f"id cannot change (this job is {job_id!r})", job_id=job_id, field="id")
    table = job_table(old)
    if any(key in body for key in TARGET_KEYS):
        # A new target replaces the old one and the keys that only applied to it.
        for key in (*TARGET_KEYS, "cwd", "env", "shell", "args", "kwargs"):
            table.pop(key, None)
    for key, value in body.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    _check_target_allowed(svc, table, body)
    checked = check_job_table(table, check_imports=True, tasks=svc.operations.tasks, tz=svc.zone)
    job = svc.operations.modify_job(job_id, _changes(checked, body))
    return job_shape(job, _newest_run(svc, job_id))


def _changes(checked: Job, body: Iterable[str]) -> dict[str, Any]:
    """The keywords of ``modify_job`` for the job-file keys a PATCH named."""
    changes: dict[str, Any] = {}
    for key in body:
        if key in (*TARGET_KEYS, "cwd", "env", "shell"):
            changes["target"] = checked.target
        elif key == "schedule":
            changes["schedule"] = checked.schedule_text
        elif key == "tz":
            changes["timezone"] = checked.timezone
        elif key != "id":
            changes[key] = getattr(checked, key)
    if "target" in changes or "args" in changes or "kwargs" in changes:
        changes.update(target=checked.target, args=checked.args, kwargs=checked.kwargs)
    return changes


@router.delete(
    "/jobs/{job_id}",
    status_code=204,
    response_class=Response,
    tags=["jobs"],
    responses={**_NOT_FOUND, 409: {"model": Problem, "description": "other jobs depend on it"}},
)
def remove_job(
    request: Request,
    caller: Writes,
    job_id: str,
    force: Annotated[bool, Query(description="Even if other jobs depend on it.")] = False,
) -> Response:
    """Remove a job; its run history stays."""
    svc = service_of(request)
    svc.store.get_job(job_id)
    try:
        svc.operations.remove_job(job_id, force=force)
    except JobError as exc:
        raise problem(409, str(exc), "force") from None
    return Response(status_code=204)


@router.post(
    "/jobs/{job_id}/pause",
    response_model=JobOut,
    tags=["jobs"],
    responses={**_BODY_ERRORS, **_NOT_FOUND},
    openapi_extra={"requestBody": {"required": False, "content": _json_content(PauseIn)}},
)
async def pause_job(request: Request, caller: Writes, job_id: str) -> dict[str, Any]:
    """Pause a job, with an optional note shown until it is resumed."""
    raw = await json_body(request, required=False)
    body = {} if raw is None else json_object(raw)
    unknown = sorted(set(body) - {"note"})
    if unknown:
        raise JobError(f"unknown key {unknown[0]!r}; a pause takes a note", field=unknown[0])
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise JobError("note must be text", field="note")
    svc = service_of(request)
    job = await run_in_threadpool(svc.operations.set_paused, job_id, True, note or None)
    return job_shape(job, None)


@router.post("/jobs/{job_id}/resume", response_model=JobOut, tags=["jobs"], responses=_NOT_FOUND)
def resume_job(request: Request, caller: Writes, job_id: str) -> dict[str, Any]:
    """Resume a paused job from its next slot after now."""
    return job_shape(service_of(request).operations.set_paused(job_id, False), None)


@router.post(
    "/jobs/{job_id}/trigger",
    status_code=201,
    response_model=RunOut,
    tags=["jobs"],
    responses=_NOT_FOUND,
)
def trigger_job(request: Request, caller: Writes, job_id: str) -> dict[str, Any]:
    """Run a job now; a run its overlap policy skips is recorded as skipped (see error)."""
    run, _ = service_of(request).operations.trigger_unless_overlapping(job_id)
    return run_shape(run)


@router.post("/jobs/{job_id}/stop", response_model=RunsStopped, tags=["jobs"], responses=_NOT_FOUND)
def stop_job(request: Request, caller: Writes, job_id: str) -> dict[str, Any]:
    """Cancel every running run of a job; its processes are killed."""
    return {"runs": [run_shape(run) for run in service_of(request).operations.stop(job_id)]}


@router.post(
    "/jobs/{job_id}/backfill",
    status_code=201,
    response_model=Backfilled,
    tags=["jobs"],
    responses={**_BODY_ERRORS, **_NOT_FOUND},
    openapi_extra={"requestBody": {"required": True, "content": _json_content(BackfillIn)}},
)
async def backfill_job(request: Request, caller: Writes, job_id: str) -> dict[str, Any]:
    """Record a run per slot of the job's schedule in a past range (at most 1,000; 422
    beyond), as ``cronwork backfill`` does; slots that have a run keep it."""
    body = json_object(await json_body(request))
    unknown = sorted(set(body) - {"start", "end", "overlap"})
    if unknown:
        raise JobError(
            f"unknown key {unknown[0]!r}; a backfill takes start, end and overlap",
            field=unknown[0],
        )
    for key in ("start", "end"):
        if key not in body:
            raise JobError(f"{key} is required (an ISO 8601 date-time)", field=key)
    overlap = body.get("overlap", "skip")
    if not isinstance(overlap, str):
        raise JobError("overlap must be one of skip, queue, allow", field="overlap")
    svc = service_of(request)
    runs = await run_in_threadpool(
        svc.operations.backfill, job_id, body["start"], body["end"], overlap
    )
    return {"runs": [run_shape(run) for run in runs]}


# -- runs ---------------------------------------------------------------------------------------


@router.get("/runs", response_model=RunList, tags=["runs"])
def list_runs(
    request: Request,
    caller: Reads,
    job_id: Annotated[str | None, Query(description="Only runs of this job.")] = None,
    status: Annotated[RunStatus | None, Query(description="Only runs with this status.")] = None,
    since: Annotated[str | None, Query(description="Slots at or after this instant.")] = None,
    until: Annotated[str | None, Query(description="Slots before this instant.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="`next` of the page before.")] = None,
) -> Response:
    """Runs, newest slot first, a page at a time."""
    wanted = RunFilter(
        job_id=job_id,
        status=status,
        since=instant(since, "since"),
        until=instant(until, "until"),
        after=parse_cursor(cursor),
    )
    found = service_of(request).store.runs_page(wanted, limit + 1)
    page = found[:limit]
    more = len(found) > limit
    return listing(
        {"runs": [run_shape(r) for r in page], "next": cursor_of(page[-1]) if more else None}
    )


@router.get("/runs/{run_id}", response_model=RunOut, tags=["runs"], responses=_NOT_FOUND)
def get_run(request: Request, caller: Reads, run_id: str) -> dict[str, Any]:
    """One run."""
    return run_shape(service_of(request).store.get_run(run_id))


@router.get("/runs/{run_id}/output", response_model=RunOutput, tags=["runs"], responses=_NOT_FOUND)
def run_output(request: Request, caller: Reads, run_id: str) -> dict[str, Any]:
    """A run's captured output and error; for a command running in this process, what it
    has printed so far. ``complete`` once the run has ended."""
    svc = service_of(request)
    run = svc.store.get_run(run_id)
    output = run.output
    if not run.status.finished:
        output = svc.operations.output_so_far(run_id) or output
    return {
        "id": run.id,
        "status": run.status.value,
        "output": output or "",
        "error": run.error,
        "complete": run.status.finished,
    }


@router.post("/runs/{run_id}/cancel", response_model=RunOut, tags=["runs"], responses=_NOT_FOUND)
def cancel_run(request: Request, caller: Writes, run_id: str) -> dict[str, Any]:
    """Cancel a run, running or not yet started (a finished run stays as it is)."""
    return run_shape(service_of(request).operations.cancel(run_id))


# -- schedules and events -------------------------------------------------------------------


@router.get("/preview", response_model=Preview, tags=["schedules"])
def preview(
    request: Request,
    caller: Reads,
    schedule: Annotated[str, Query(description='A schedule: "0 9 * * 1-5", "every 30m"...')],
    tz: Annotated[str | None, Query(description="IANA zone [default: the server's]")] = None,
    n: Annotated[int, Query(ge=1, le=100, description="How many fire times.")] = 5,
) -> dict[str, Any]:
    """A schedule's next fire times, in words, and the DST changes they cross."""
    from cronwork.timing import parse_schedule
    from cronwork.timing.zones import resolve_zone

    zone_name = tz or service_of(request).zone
    try:
        zone = resolve_zone(zone_name) if zone_name else None
    except CronworkError as exc:
        raise problem(422, str(exc), "tz") from None
    try:
        parsed = parse_schedule(schedule, tz=zone)
    except CronworkError as exc:
        raise problem(422, str(exc), "schedule") from None
    now = datetime.now(UTC)
    times = parsed.upcoming(n, now)
    return {
        "schedule": parsed.source,
        "tz": parsed.tz.key,
        "description": parsed.describe(),
        "times": [t.astimezone(parsed.tz).isoformat() for t in times],
        "dst_notes": _dst_notes(parsed.tz, [now, *times]),
    }


def _dst_notes(zone: Any, moments: list[datetime]) -> list[str]:
    """One note per change of the zone's UTC offset between consecutive ``moments``."""
    notes = []
    for before, after in itertools.pairwise(moments):
        old, new = before.astimezone(zone).utcoffset(), after.astimezone(zone).utcoffset()
        if old != new and old is not None and new is not None:
            notes.append(
                f"the clocks of {zone.key} change between {before.astimezone(zone).isoformat()} "
                f"and {after.astimezone(zone).isoformat()}: UTC{_offset(old)} becomes "
                f"UTC{_offset(new)}"
            )
    return notes


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@router.get(
    "/events",
    tags=["events"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `event: <type>` and `data: <JSON object>`",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def events(request: Request, caller: Reads) -> StreamingResponse:
    """Job and run events as they happen, as server-sent events."""
    hub = service_of(request).hub
    return StreamingResponse(
        hub.stream(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},  # nginx: pass each event on at once
    )


# -- helpers ------------------------------------------------------------------------------------


def _jobs_after(svc: Service, cursor: str | None, scan: int) -> Iterator[Job]:
    """Every job after ``cursor`` by id, read ``scan`` at a time: a listing without filters
    reads only what it shows, whatever the number of jobs."""
    while True:
        page = svc.store.jobs_page(after=cursor, limit=scan)
        yield from page
        if len(page) < scan:
            return
        cursor = page[-1].id


def listing(body: dict[str, Any]) -> Response:
    """A list's answer, encoded as it is.

    The lists are the API's busiest answers, and their shapes are built to the schema
    (``JobList``, ``RunList``) already; checking every item against the model again cost
    the jobs list a fifth of its time. The schema still documents them.
    """
    return JSONResponse(body)


def _newest_run(svc: Service, job_id: str) -> Run | None:
    return next(iter(svc.store.runs(job_id=job_id, limit=1)), None)


def _check_target_allowed(svc: Service, table: dict[str, Any], body: dict[str, Any]) -> None:
    """Refuse (403) what would run code the operator did not allow over HTTP.

    A command job, unless --allow-commands. A function in a module no stored job calls
    (``os:system`` runs shell commands too), unless --allow-commands.
    """
    if svc.allow_commands:
        return
    if "command" in table:
        raise problem(
            403,
            "command jobs cannot be created or changed over HTTP without --allow-commands",
            "command",
        )
    app = table.get("celery_app")
    if (
        "celery_app" in body
        and isinstance(app, str)
        and app.strip() not in svc.trusted_celery_apps()
    ):
        raise problem(
            403,
            f"Celery app {app.strip()!r} is not used by any stored job; other apps can be "
            "named over HTTP only with --allow-commands (importing one runs its module)",
            "celery_app",
        )
    call = table.get("call")
    if "call" in body and isinstance(call, str):
        module = call.strip().partition(":")[0]
        if module not in svc.trusted_modules():
            raise problem(
                403,
                f"module {module!r} is not called by any stored job; functions of other "
                "modules can be called over HTTP only with --allow-commands",
                "call",
            )
