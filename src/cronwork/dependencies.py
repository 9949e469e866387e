"""The dependency graph between jobs: validation (unknown ids, cycles) and look-ups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from cronwork.errors import JobError
from cronwork.timing.triggers import TriggeredSchedule

if TYPE_CHECKING:
    from cronwork.jobs import Job


def upstream_of(job: Job) -> tuple[str, ...]:
    """Every job id ``job`` waits for or is triggered by, in declaration order."""
    names = list(job.depends_on)
    if isinstance(job.schedule, TriggeredSchedule):
        names.extend(n for n in job.schedule.upstream if n not in names)
    return tuple(names)


def check_graph(jobs: Mapping[str, Job], changed: Iterable[str] | None = None) -> None:
    """Raise JobError for an unknown dependency, a self-dependency or a cycle.

    ``changed`` limits the unknown-id check to the jobs being added or modified, so an
    existing inconsistent store does not block unrelated changes.
    """
    to_check = list(changed) if changed is not None else list(jobs)
    for job_id in to_check:
        job = jobs[job_id]
        for name in upstream_of(job):
            if name == job_id:
                raise JobError(f"job {job_id!r} cannot depend on itself")
            if name not in jobs:
                known = ", ".join(sorted(jobs)[:10]) or "none"
                raise JobError(
                    f"job {job_id!r} depends on unknown job {name!r} (known jobs: {known})"
                )
    cycle = find_cycle(jobs)
    if cycle:
        raise JobError("dependency cycle: " + " -> ".join(cycle))


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
