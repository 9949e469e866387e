"""What a claim of a SQL store plans from its due jobs, before it writes anything.

Pure planning over the rows a claim read (no I/O): for each due job, the slots that run on
time, the runs and missed records its misfire policy asks for, the job's next fire time, or
that the job is broken. One job whose arithmetic raises costs its own slot, not the claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cronwork.copiers import advanced
from cronwork.jobs import Job
from cronwork.runs import Run
from cronwork.stores.base import unplannable
from cronwork.stores.rows import from_micros, to_micros
from cronwork.stores.slots import on_time_slots, plan_claim


@dataclass(slots=True)
class DuePlan:
    """The rows one claim writes: on-time (job id, slot micros) pairs, planned runs (misfires),
    missed records, each planned job's (id, next_run_at micros), the (error, id) of broken
    jobs, and the definitions of the planned jobs."""

    on_time: list[tuple[str, int]] = field(default_factory=list)
    planned: list[Run] = field(default_factory=list)
    missed: list[Run] = field(default_factory=list)
    next_times: list[tuple[str, int | None]] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)


def plan_due(
    due: Sequence[tuple[str, int, int]],
    jobs: Mapping[str, Job],
    now: datetime,
    horizon: timedelta,
    node: str,
    lease: timedelta,
    limit: int,
) -> DuePlan:
    """Plan the claim of ``due`` ((id, rev, next_run_at micros) in due order) at ``now``."""
    plan = DuePlan()
    limit_at = now + horizon
    # As many due jobs as the limit make a full claim, which the engine follows at once with
    # the next one; so it takes no slot past the last job it reached (or now). When the
    # engine has fallen behind, the overdue slots of the jobs further down are then claimed
    # before the look-ahead slots of these: catching up takes one pass over the jobs instead
    # of several, each longer than the last.
    cut = limit_at
    if len(due) >= limit:
        cut = min(limit_at, max(now, from_micros(due[-1][2])))
    for job_id, _rev, next_micros in due:
        if len(plan.on_time) + len(plan.planned) >= limit:
            break
        job = jobs[job_id]
        if job.broken is not None:
            # The schedule no longer parses: set the job aside instead of selecting it again
            # on every claim.
            plan.broken.append((job.broken, job_id))
            continue
        slot = from_micros(next_micros)
        next_at: datetime | None
        # Planned into locals first, so that a job whose arithmetic raises (a date beyond the
        # calendar, a schedule that fails) costs its slot, not the claim.
        runs: list[Run] = []
        late: list[Run] = []
        slots: list[datetime] = []
        try:
            if slot < now and slot < now - job.misfire_grace:
                # Misfires: the shared planner applies the policy and words the records.
                if job.next_run_at != slot:
                    job = advanced(job, next_run_at=slot)
                runs, late, next_at = plan_claim(job, now, horizon, node, lease)
            else:
                # Every slot on time, the common case: one (job, slot) pair per slot.
                slots, next_at = on_time_slots(job.schedule, slot, cut)
            following = to_micros(next_at)
        except Exception as exc:
            failed, next_at = unplannable(job, slot, now, exc)
            runs, late, slots = [], [failed], []
            following = to_micros(next_at)
        for later in slots:
            plan.on_time.append((job_id, to_micros(later)))
        plan.planned += runs
        plan.missed += late
        plan.next_times.append((job_id, following))
        # The definition, as the engine needs it; its next_run_at may lag behind.
        plan.jobs[job_id] = jobs[job_id]
    return plan
