"""Backfill: runs for the past slots of a job's schedule, after an outage or a fix.

`backfill_runs` plans them (`Operations.backfill` records them): one run per slot of the
job's schedule from ``start`` to ``end``, both included, with ``trigger = "backfill"``. The
engine picks them up as it does manual runs. What ``overlap`` does when they meet the job's
other runs:

- ``skip`` (the default): nothing is backfilled while a run of the job is running: a JobError
  says which run (field ``overlap``). Once recorded, the runs start one after another in
  slot order, like the catch-up runs of ``misfire = "all"``.
- ``queue``: the runs wait for the job's running run, then start one after another in slot
  order.
- ``allow``: the runs start at once, beside each other and the job's running run, as places
  free up (``max_running``); the job's overlap policy and ``max_instances`` do not hold them.

The first two are recorded due at their slots (so the engine treats them as catch-up runs),
``allow`` runs due at the moment they were asked for (see `engine.runstate.beside_others`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cronwork.errors import JobError
from cronwork.jobs import Job
from cronwork.runs import Run

__all__ = ["MAX_BACKFILL", "OVERLAPS", "backfill_runs"]

#: The most slots one backfill may hold; a longer range is refused, not cut.
MAX_BACKFILL = 1000
OVERLAPS = ("skip", "queue", "allow")


def backfill_runs(
    job: Job,
    start: datetime | str,
    end: datetime | str,
    overlap: str,
    now: datetime,
    running: Callable[[], list[Run]],
) -> list[Run]:
    """The runs a backfill of ``job`` records (not stored yet), oldest slot first.

    ``running`` lists the job's running runs, asked only for ``overlap="skip"``. Raise
    JobError naming the field (``start``, ``end``, ``overlap``, ``schedule``) for bad input.
    """
    from cronwork.operations import event_driven

    if overlap not in OVERLAPS:
        raise _error(job, "overlap", overlap, f"must be one of {', '.join(OVERLAPS)}")
    first = _moment(job, "start", start)
    last = _moment(job, "end", end)
    if event_driven(job.schedule):
        raise _error(
            job,
            "schedule",
            job.schedule.source,
            f'"{job.schedule.source}" starts runs when other jobs end: it has no slots to backfill',
        )
    if last > now:
        raise _error(
            job, "end", end, f"{last.isoformat()} is in the future (now is {now.isoformat()})"
        )
    if first >= last:
        raise _error(
            job, "start", start, f"{first.isoformat()} must be before end {last.isoformat()}"
        )
    slots = _slots(job, first, last, now)
    if overlap == "skip" and slots:
        busy = running()
        if busy:
            raise _error(
                job,
                "overlap",
                overlap,
                f"run {busy[0].id} is still running (overlap=skip): nothing was backfilled; "
                'use overlap "queue" to run the backfill after it',
            )
    return [
        Run(
            id="",
            job_id=job.id,
            scheduled_for=slot,
            created_at=now,
            due_at=now if overlap == "allow" else slot,
            trigger="backfill",
        )
        for slot in slots
    ]


def _slots(job: Job, first: datetime, last: datetime, now: datetime) -> list[datetime]:
    """The job's slots from ``first`` to ``last`` (both included), before ``now``."""
    slots: list[datetime] = []
    slot = job.schedule.next_after(first - timedelta(microseconds=1))
    while slot is not None and slot <= last and slot < now:
        if len(slots) == MAX_BACKFILL:
            raise _error(
                job,
                "end",
                last.isoformat(),
                f"the range from {first.isoformat()} to {last.isoformat()} holds more than "
                f"{MAX_BACKFILL} slots of the schedule; backfill at most {MAX_BACKFILL} at once",
            )
        slots.append(slot)
        slot = job.schedule.next_after(slot)
    return slots


def _moment(job: Job, field: str, value: object) -> datetime:
    """An aware instant from a datetime or ISO 8601 text; naive ones are in the job's zone."""
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _error(
                job, field, value, f"{value!r} is not an ISO 8601 date-time (2026-11-01T03:00)"
            ) from None
    else:
        raise _error(job, field, value, f"must be a date-time, got {type(value).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=job.schedule.tz)
    return moment


def _error(job: Job, field: str, value: object, problem: str) -> JobError:
    return JobError(
        f"job {job.id!r}: backfill {field} {problem}", job_id=job.id, field=field, value=value
    )
