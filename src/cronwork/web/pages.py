"""The dashboard's pages: overview, jobs, a job, a run, and the job form.

Pages are rendered on the server from the templates beside this module (Jinja2, every
value escaped); the scripts in ``static/`` make them live (server-sent events, countdowns,
output tails) and send actions to the JSON API with ``fetch``, so the pages themselves
never change anything. A page asks for the same access as the API: a browser without a
session goes to the login page.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from cronwork.errors import CronworkError
from cronwork.jobs import Job
from cronwork.runs import Run, RunStatus
from cronwork.stores.paging import RunFilter, RunKey, run_key
from cronwork.web import digest
from cronwork.web.auth import Caller, identify, problem
from cronwork.web.render import (
    HERE,
    bar_geometry,
    definition,
    form_values,
    render,
    seconds,
    spark,
)
from cronwork.web.service import Service, service_of
from cronwork.web.shapes import job_shape

PER_PAGE = 50
HISTORY_PAGE = 25
PROBLEMS = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.MISSED, RunStatus.LOST)
BACKFILL_PATH = "/api/v1/jobs/{job_id}/backfill"
BACKFILL_CAP = 1000

router = APIRouter(include_in_schema=False)


class LoginNeeded(Exception):
    """A page was asked for without a valid session: the browser goes to /login."""


def install(app: FastAPI) -> None:
    """Add the pages and their static files to ``app`` (before its other ``/`` route)."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.state.heat = digest.HeatCache()

    async def to_login(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/login", 303)

    app.add_exception_handler(LoginNeeded, to_login)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The icon browsers ask for by themselves (also on the login page)."""
    return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")


def _viewer(request: Request) -> Caller:
    try:
        return identify(request, service_of(request).tokens)
    except HTTPException:
        raise LoginNeeded from None


# -- overview ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> Any:
    """Counts by last status, running now, upcoming runs, recent problems, the load ahead."""
    caller = _viewer(request)
    svc = service_of(request)
    now = datetime.now(UTC)
    jobs = svc.store.jobs()
    by_id = {job.id: job for job in jobs}
    newest = digest.newest_statuses(svc.store, jobs)
    counts = Counter(newest.get(job.id, "never run") for job in jobs)
    running = [
        run
        for node in svc.store.owners()
        for run in svc.store.unfinished_runs(node)
        if run.status is RunStatus.RUNNING
    ]
    running.sort(key=lambda r: r.started_at or r.scheduled_for)
    horizon = now + timedelta(days=1)
    upcoming = heapq.nsmallest(
        20,
        (j for j in jobs if j.next_run_at and j.next_run_at < horizon and _active(j)),
        key=lambda j: (j.next_run_at, j.id),
    )
    since = now - timedelta(days=1)
    problems = sorted(
        (
            run
            for status in PROBLEMS
            for run in svc.store.runs_page(RunFilter(status=status, since=since), 20)
        ),
        key=lambda r: r.scheduled_for,
        reverse=True,
    )[:20]
    heat = request.app.state.heat.get(jobs, now)
    return render(
        request,
        caller,
        "overview.html",
        title="Overview",
        jobs_total=len(jobs),
        paused=sum(1 for j in jobs if j.paused),
        broken=sum(1 for j in jobs if j.broken is not None),
        counts=sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])),
        running=[(run, by_id.get(run.job_id)) for run in running],
        now=now,
        upcoming=upcoming,
        problems=problems,
        heat=heat,
        heat_counts=",".join(map(str, heat.counts)),
        hour_bars=_hour_bars(heat),
        scheduler=svc.scheduler_state(),
    )


def _active(job: Job) -> bool:
    return not job.paused and job.broken is None


def _hour_bars(heat: digest.HeatMap) -> list[dict[str, Any]]:
    hours = heat.hours()
    bars = bar_geometry([float(h) for h in hours], 500, 60)
    for i, bar in enumerate(bars):
        bar.update(count=hours[i], at=heat.start + timedelta(hours=i))
    return bars


# -- jobs -------------------------------------------------------------------------------------


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    q: str = "",
    tag: str = "",
    status: str = "",
    paused: str = "",
    sort: str = "id",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Any:
    """Jobs, searched, filtered, sorted and paged, with sparklines of their recent runs."""
    caller = _viewer(request)
    svc = service_of(request)
    jobs = svc.store.jobs()
    tags = sorted({t for job in jobs for t in job.tags})
    # The newest run of every job is read only when the filter or the order needs it.
    newest = digest.newest_statuses(svc.store, jobs) if status or sort == "status" else {}
    needle = q.strip().lower()
    shown = [
        job
        for job in jobs
        if (not needle or needle in job.id.lower())
        and (not tag or tag in job.tags)
        and (not paused or job.paused == (paused == "yes"))
        and (not status or _last_status(newest, job.id) == status)
    ]
    _sort(shown, sort, newest)
    pages = max(1, math.ceil(len(shown) / PER_PAGE))
    page = min(page, pages)
    rows = shown[(page - 1) * PER_PAGE : page * PER_PAGE]
    recent = digest.recent_runs(svc.store, [job.id for job in rows])
    return render(
        request,
        caller,
        "jobs.html",
        title="Jobs",
        rows=[
            {
                "job": job,
                "last": recent[job.id][-1] if recent.get(job.id) else None,
                "spark": spark(recent.get(job.id, [])),
            }
            for job in rows
        ],
        total=len(jobs),
        matched=len(shown),
        page=page,
        pages=pages,
        tags=tags,
        statuses=[s.value for s in RunStatus] + ["never"],
        query={"q": q, "tag": tag, "status": status, "paused": paused, "sort": sort},
    )


def _last_status(newest: dict[str, str], job_id: str) -> str:
    return newest.get(job_id, "never")


def _sort(jobs: list[Job], sort: str, newest: dict[str, str]) -> None:
    far = datetime.max.replace(tzinfo=UTC)
    if sort == "-id":
        jobs.sort(key=lambda j: j.id, reverse=True)
    elif sort == "next":
        jobs.sort(key=lambda j: (j.next_run_at if _active(j) and j.next_run_at else far, j.id))
    elif sort == "status":
        jobs.sort(key=lambda j: (_last_status(newest, j.id), j.id))


# -- one job ----------------------------------------------------------------------------------


@router.get("/jobs/new", response_class=HTMLResponse)
def new_job(request: Request) -> Any:
    """The form of a new job."""
    caller = _viewer(request)
    return render(
        request,
        caller,
        "form.html",
        title="New job",
        job=None,
        values={},
        zone=service_of(request).zone,
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, before: str | None = None) -> Any:
    """A job: its definition, next fire times, actions, and its run history a page at a time."""
    caller = _viewer(request)
    svc = service_of(request)
    job = _job_or_404(request, caller, svc, job_id)
    if not isinstance(job, Job):
        return job
    now = datetime.now(UTC)
    after = _history_key(before)
    found = svc.store.runs_page(RunFilter(job_id=job_id, after=after), HISTORY_PAGE + 1)
    history = found[:HISTORY_PAGE]
    older = _cursor(history[-1]) if len(found) > HISTORY_PAGE else None
    shape = job_shape(job, history[0] if history and after is None else None)
    chart = bar_geometry([r.duration for r in reversed(history)], 600, 80, slots=HISTORY_PAGE)
    for bar, run in zip(chart, reversed(history), strict=True):
        bar.update(
            status=run.status.value, title=f"{run.id}: {run.status.value}, {seconds(run.duration)}"
        )
    return render(
        request,
        caller,
        "job.html",
        title=job.id,
        job=job,
        shape=shape,
        definition=definition(shape),
        fires=digest.next_fires(job, 10, now),
        history=history,
        chart=chart,
        older=older,
        paged=after is not None,
        backfill=_has_route(request, BACKFILL_PATH),
        backfill_cap=BACKFILL_CAP,
    )


@router.get("/jobs/{job_id}/edit", response_class=HTMLResponse)
def edit_job(request: Request, job_id: str) -> Any:
    """The form of a job, filled with its definition."""
    caller = _viewer(request)
    svc = service_of(request)
    job = _job_or_404(request, caller, svc, job_id)
    if not isinstance(job, Job):
        return job
    return render(
        request,
        caller,
        "form.html",
        title=f"Edit {job.id}",
        job=job,
        values=form_values(job_shape(job, None)),
        zone=svc.zone,
    )


@router.get("/jobs/{job_id}/slots")
def count_slots(request: Request, job_id: str, start: str, end: str) -> JSONResponse:
    """How many runs a backfill of ``[start, end)`` would make (the form's preview)."""
    identify(request, service_of(request).tokens)  # 401 without a token or a session
    job = service_of(request).store.get_job(job_id)
    begin, finish = _instant(start, "start"), _instant(end, "end")
    if finish <= begin:
        raise problem(422, "end must be after start", "end")
    if finish > datetime.now(UTC):
        raise problem(422, "a backfill covers the past: end must not be in the future", "end")
    try:
        count = digest.slots_between(job, begin, finish, BACKFILL_CAP)
    except OverflowError:
        raise problem(422, "start is too far in the past", "start") from None
    return JSONResponse(
        {"count": min(count, BACKFILL_CAP), "over_cap": count > BACKFILL_CAP, "cap": BACKFILL_CAP}
    )


def _instant(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise problem(
            422, f"{field} must be a date and time such as 2026-01-31T09:00", field
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _job_or_404(request: Request, caller: Caller, svc: Service, job_id: str) -> Job | Response:
    try:
        return svc.store.get_job(job_id)
    except CronworkError as exc:
        return render(request, caller, "missing.html", 404, title="Not found", message=str(exc))


def _has_route(request: Request, path: str) -> bool:
    # The OpenAPI document (built once, then cached) lists every route of the included
    # routers; app.routes does not show the paths inside them.
    return path in request.app.openapi().get("paths", {})


def _history_key(before: str | None) -> RunKey | None:
    """The key a history page starts after; None (the newest page) for one we did not give."""
    if before is None:
        return None
    parts = before.split(".")
    if len(parts) != 3 or not all(p.isdigit() and len(p) < 20 for p in parts):
        return None
    micros, attempt, run_id = (int(p) for p in parts)
    try:
        slot = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    except OverflowError:
        return None
    return RunKey(slot, attempt, run_id)


def _cursor(run: Run) -> str:
    key = run_key(run)
    micros = (key.scheduled_for - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{micros}.{key.attempt}.{key.id}"


# -- one run ----------------------------------------------------------------------------------


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str) -> Any:
    """A run: its times and outcome, and its output, tailed while it runs."""
    caller = _viewer(request)
    svc = service_of(request)
    try:
        run = svc.store.get_run(run_id)
    except CronworkError as exc:
        return render(request, caller, "missing.html", 404, title="Not found", message=str(exc))
    try:
        zone: str | None = svc.store.get_job(run.job_id).timezone
    except CronworkError:
        zone = None
    return render(
        request,
        caller,
        "run.html",
        title=f"Run {run.id} of {run.job_id}",
        run=run,
        zone=zone,
        lateness=run.lateness,
    )
