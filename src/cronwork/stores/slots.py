"""What a claim does with a job's slots, and when a retry is due: pure arithmetic, no I/O.

Every store applies the same policy arithmetic here, so a slot plans alike in memory, in
SQLite and in any store to come: which slots run, which are recorded as missed under the
job's misfire policy, the rows a claim writes, and the backoff before a retry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cronwork.policies import Misfire
from cronwork.runs import Run, RunStatus

if TYPE_CHECKING:
    from cronwork.jobs import Job
    from cronwork.timing.base import Schedule

# How many missed slots one claim records or replays at most, so a job firing every second
# that was down for a week does not write 600k rows in one transaction.
MISFIRE_CAP = 100


@dataclass(slots=True)
class SlotPlan:
    """What a claim does with one due job: slots to run, slots missed, the next fire time."""

    run: list[datetime] = field(default_factory=list)
    missed: list[datetime] = field(default_factory=list)
    next_run_at: datetime | None = None
    note: str | None = None


def on_time_slots(
    schedule: Schedule, first: datetime, limit: datetime
) -> tuple[list[datetime], datetime | None]:
    """A due job's slots from ``first`` (on time) up to ``limit``, and the slot after them.

    The common case of a claim, which plan_slots covers too with the bookkeeping misfires
    need; stores take this path when the first slot is on time.
    """
    slots = [first]
    following = schedule.next_after(first)
    while following is not None and following <= limit:
        slots.append(following)
        following = schedule.next_after(following)
    return slots, following


def plan_slots(job: Job, now: datetime, horizon: timedelta) -> SlotPlan:
    """Split a due job's slots up to ``now + horizon`` into runs and misses per its policy.

    Slots later than their time by less than ``misfire_grace`` are on time. Older ones are
    misfires: ``skip`` records each as missed, ``once`` runs the newest and records the rest
    as missed, ``all`` runs each (up to MISFIRE_CAP).
    """
    plan = SlotPlan()
    slot = job.next_run_at
    limit = now + horizon
    late_before = now - job.misfire_grace
    late: list[datetime] = []
    skipped_over = False
    while slot is not None and slot <= limit:
        if slot < late_before:
            late.append(slot)
            if len(late) > MISFIRE_CAP:
                # Far behind: keep the newest slots and jump instead of walking every one.
                late.pop(0)
                skipped_over = True
                nxt = job.schedule.next_after(late_before - timedelta(microseconds=1))
                if nxt is not None and nxt > slot:
                    late = late[-MISFIRE_CAP // 2 :]
                    slot = nxt
                    continue
        else:
            plan.run.append(slot)
        slot = job.schedule.next_after(slot)
    plan.next_run_at = slot
    if late:
        if job.misfire is Misfire.SKIP:
            plan.missed = late
        elif job.misfire is Misfire.ONCE:
            plan.missed = late[:-1]
            if not plan.run:
                plan.run.insert(0, late[-1])
            else:
                plan.missed.append(late[-1])
        else:
            plan.run = late + plan.run
        if skipped_over:
            plan.note = "older missed slots were too many to record one by one"
    return plan


def plan_claim(
    job: Job, now: datetime, horizon: timedelta, node: str, lease: timedelta
) -> tuple[list[Run], list[Run], datetime | None]:
    """The rows one due job's claim writes: (runs to execute, missed records, next_run_at).

    Shared by every store so that the policy arithmetic lives in one place; ids are blank and
    assigned by the store on insert.
    """
    plan = plan_slots(job, now, horizon)
    runs = []
    for slot in plan.run:
        late = slot < now - job.misfire_grace
        runs.append(
            Run(
                id="",
                job_id=job.id,
                scheduled_for=slot,
                due_at=max(slot, now) if late else slot,
                node=node,
                created_at=now,
                lease_until=now + lease,
                trigger="misfire" if late else "schedule",
            )
        )
    missed = [
        Run(
            id="",
            job_id=job.id,
            scheduled_for=slot,
            status=RunStatus.MISSED,
            created_at=now,
            finished_at=now,
            error=f"missed: the engine was not running or was blocked (misfire={job.misfire})",
        )
        for slot in plan.missed
    ]
    if plan.note and missed:
        first = missed[0]
        missed[0] = first.replace(error=f"{first.error}; {plan.note}")
    return runs, missed, plan.next_run_at


def retry_delay(job: Job, attempt: int, seed: str) -> timedelta:
    """Backoff before attempt ``attempt + 1``: base * 2**(attempt-1), capped, with jitter.

    The jitter is up to a quarter of the delay and reproducible for the same seed, so two
    nodes computing it agree.
    """
    base = job.retry_backoff.total_seconds()
    cap = job.retry_backoff_max.total_seconds()
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    digest = hashlib.blake2b(f"{seed}:{attempt}".encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return timedelta(seconds=delay * (1 + 0.25 * fraction))
