"""Dependencies between jobs: the graph (unknown ids, cycles) and the runtime questions.

A job waits for the jobs in ``depends_on``: a run starts only once each of them has a
successful run that finished after the job's previous slot. A job whose schedule is
``after(...)``, ``on_failure(...)`` or ``on_finish(...)`` is started when its upstream jobs
end that way. Everything here reads the store, so it holds across restarts and nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cronwork.errors import JobError, JobNotFound
from cronwork.runs import Run, RunStatus
from cronwork.timing.triggers import TriggeredSchedule

if TYPE_CHECKING:
    from cronwork.jobs import Job
    from cronwork.stores.base import Store


def upstream_of(job: Job) -> tuple[str, ...]:
    """Every job id ``job`` waits for or is triggered by, in declaration order."""
    names = list(job.depends_on)
    if isinstance(job.schedule, TriggeredSchedule):
        names.extend(n for n in job.schedule.upstream if n not in names)
    return tuple(names)


def find_cycle(jobs: Mapping[str, Job]) -> list[str] | None:
    """Return one cycle as ``[a, b, c, a]`` (a waits for b ...), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(jobs, white)
    for root in sorted(jobs):
        if colour[root] != white:
            continue
        # Iterative DFS so deep chains cannot hit the recursion limit.
        path: list[str] = [root]
        stack = [iter(upstream_of(jobs[root]))]
        colour[root] = grey
        while stack:
            advanced = False
            for name in stack[-1]:
                if name not in jobs:
                    continue
                if colour[name] == grey:
                    start = path.index(name)
                    return [*path[start:], name]
                if colour[name] == white:
                    colour[name] = grey
                    path.append(name)
                    stack.append(iter(upstream_of(jobs[name])))
                    advanced = True
                    break
            if not advanced:
                colour[path.pop()] = black
                stack.pop()
    return None


def dependents(jobs: Mapping[str, Job], job_id: str) -> list[str]:
    """Ids of the jobs that wait for or are triggered by ``job_id``, sorted."""
    return sorted(j.id for j in jobs.values() if job_id in upstream_of(j) and j.id != job_id)


# -- runtime: what the engine asks of the store ------------------------------------------

# Outcomes that count as "ended" for on_finish triggers: the run did start (or was lost).
ENDED = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.CANCELLED,
        RunStatus.LOST,
    }
)
FAILURES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST})

# How long a run waits for its dependencies when the job sets no dependency_timeout and has
# no next slot to bound the wait (one-shot and triggered jobs).
DEFAULT_WAIT = timedelta(hours=1)
MIN_WAIT = timedelta(minutes=1)
MAX_WAIT = timedelta(days=1)


def previous_slot(store: Store, job: Job, run: Run) -> datetime | None:
    """The slot of the job's latest run before ``run`` (any status), else its creation."""
    for earlier in store.runs(job.id, limit=20):
        if earlier.scheduled_for < run.scheduled_for:
            return earlier.scheduled_for
    return job.created_at


def stale_dependencies(
    store: Store, job: Job, run: Run
) -> tuple[datetime | None, list[tuple[str, Run | None]]]:
    """The previous slot, and each ``depends_on`` id lacking a success after it (with its last).

    One pass over the store serves both the readiness check and the skip message.
    """
    if not job.depends_on:
        return None, []
    since = previous_slot(store, job, run)
    stale: list[tuple[str, Run | None]] = []
    for name in job.depends_on:
        last = store.last_finished(name, RunStatus.SUCCEEDED)
        finished = last.finished_at if last is not None else None
        if finished is None or (since is not None and finished <= since):
            stale.append((name, last))
    return since, stale


def unmet_dependencies(store: Store, job: Job, run: Run) -> list[str]:
    """The ``depends_on`` ids with no successful run that finished after the previous slot."""
    return [name for name, _ in stale_dependencies(store, job, run)[1]]


def dependency_deadline(job: Job, run: Run, waiting_since: datetime) -> datetime:
    """When a run waiting for its dependencies gives up and ends skipped.

    ``dependency_timeout`` when set; otherwise until the job's next slot (so waiting runs do
    not pile up), kept between one minute and one day; one hour for jobs with no next slot.
    """
    if job.dependency_timeout is not None:
        return waiting_since + job.dependency_timeout
    following = job.schedule.next_after(run.scheduled_for)
    if following is None:
        return waiting_since + DEFAULT_WAIT
    wait = min(MAX_WAIT, max(MIN_WAIT, following - run.scheduled_for))
    return waiting_since + wait


def missing_message(since: datetime | None, stale: list[tuple[str, Run | None]]) -> str:
    """``skipped: dependency not met: extract (last success ...)`` for a run's error."""
    parts = []
    for name, last in stale:
        if last is None or last.finished_at is None:
            parts.append(f"{name} (no successful run yet)")
        else:
            parts.append(
                f"{name} (last success {last.finished_at.isoformat()}, "
                f"not after the previous slot {since.isoformat() if since else '-'})"
            )
    return "skipped: dependency not met: " + ", ".join(parts)


def downstream_index(jobs: Iterable[Job]) -> dict[str, list[str]]:
    """Map each job id to the ids of jobs whose trigger schedule names it."""
    index: dict[str, list[str]] = {}
    for job in jobs:
        if isinstance(job.schedule, TriggeredSchedule):
            for name in job.schedule.upstream:
                index.setdefault(name, []).append(job.id)
    return index


def matches(on: str, status: RunStatus) -> bool:
    """Whether a final outcome ``status`` fires a trigger waiting for ``on``."""
    if on == "success":
        return status is RunStatus.SUCCEEDED
    if on == "failure":
        return status in FAILURES
    return status in ENDED


def triggered_run(store: Store, job: Job, now: datetime) -> Run | None:
    """The run a trigger job gets now, or None if some upstream job has not ended as needed.

    Every upstream job must have a final run with the awaited outcome that finished after this
    job's last slot (fan-in). The new run's slot is the latest of those finish times, so two
    nodes that see the same completions compute the same slot and the store keeps one.
    """
    schedule = job.schedule
    if not isinstance(schedule, TriggeredSchedule) or job.paused or job.broken:
        return None
    latest = store.runs(job.id, limit=1)
    since = latest[0].scheduled_for if latest else job.created_at
    finish_times = []
    for name in schedule.upstream:
        last = store.last_finished(name)
        if last is None or last.finished_at is None or not matches(schedule.on, last.status):
            return None
        if since is not None and last.finished_at <= since:
            return None
        finish_times.append(last.finished_at)
    slot = max(finish_times)
    return Run(
        id="",
        job_id=job.id,
        scheduled_for=slot,
        due_at=max(slot, now),
        created_at=now,
        trigger="dependency",
    )


def check_new_job(store: Store, job: Job) -> None:
    """Validate ``job``'s upstream ids against the store: unknown ids and cycles."""
    upstream = upstream_of(job)
    if not upstream:
        return
    jobs: dict[str, Job] = {job.id: job}
    stack = list(upstream)
    while stack:
        name = stack.pop()
        if name in jobs:
            continue
        try:
            found = store.get_job(name)
        except JobNotFound:
            if name in upstream:
                raise JobError(f"job {job.id!r} depends on unknown job {name!r}") from None
            continue  # an older inconsistency further up; not this change's fault
        jobs[name] = found
        stack.extend(upstream_of(found))
    cycle = find_cycle(jobs)
    if cycle:
        raise JobError("dependency cycle: " + " -> ".join(cycle))


def check_removal(store: Store, job_id: str) -> list[str]:
    """Ids of stored jobs that depend on ``job_id`` (so removing it would break them)."""
    return dependents({job.id: job for job in store.jobs()}, job_id)


def removals_needed(jobs: Mapping[str, Job], removed: Iterable[str]) -> dict[str, list[str]]:
    """For each id in ``removed`` that jobs staying in ``jobs`` depend on, those jobs' ids.

    ``jobs`` is the whole set after the change, removed ones included: a job that goes
    together with the jobs depending on it breaks nothing.
    """
    gone = set(removed)
    staying = {job_id: job for job_id, job in jobs.items() if job_id not in gone}
    needed = {job_id: dependents(staying, job_id) for job_id in sorted(gone)}
    return {job_id: names for job_id, names in needed.items() if names}


def needed_message(job_id: str, needed_by: Iterable[str], command: str) -> str:
    """Why a job others depend on is not removed, and the ``--force`` of ``command``."""
    return (
        f"job {job_id!r} is needed by {', '.join(needed_by)}; to remove it anyway pass "
        f"force=True ({command} --force)"
    )
