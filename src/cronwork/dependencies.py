"""Dependencies between jobs: the graph (unknown ids, cycles) and the runtime questions.

A job waits for the jobs in ``depends_on``: a run starts only once each of them has a
successful run that finished after the job's previous slot. A job whose schedule is
``after(...)``, ``on_failure(...)`` or ``on_finish(...)`` is started when its upstream jobs
end that way. This is the graph (pure), and the checks that validate a new or removed job
against the stored jobs; the questions the running engine asks the store (is a dependency
fresh, does a trigger fire) are in `cronwork.engine.waits`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from cronwork.errors import JobError, JobNotFound
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


def downstream_index(jobs: Iterable[Job]) -> dict[str, list[str]]:
    """Map each job id to the ids of jobs whose trigger schedule names it."""
    index: dict[str, list[str]] = {}
    for job in jobs:
        if isinstance(job.schedule, TriggeredSchedule):
            for name in job.schedule.upstream:
                index.setdefault(name, []).append(job.id)
    return index


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
                raise JobError(
                    f"job {job.id!r} depends on unknown job {name!r}",
                    job_id=job.id,
                    field="depends_on",
                    value=name,
                ) from None
            continue  # an older inconsistency further up; not this change's fault
        jobs[name] = found
        stack.extend(upstream_of(found))
    cycle = find_cycle(jobs)
    if cycle:
        raise JobError("dependency cycle: " + " -> ".join(cycle), job_id=job.id, field="depends_on")


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
