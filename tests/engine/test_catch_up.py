"""Slots that passed during an outage run one after another, never skipping each other.

The outage is a real stop and start of the engine on one store (memory, or SQLite in a
file), with the fake clock moved on while no engine runs.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from enginekit import START, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.stores import Store
from cronwork.testing import FakeClock

MINUTE = timedelta(minutes=1)
# The engine stops after the slots of minutes 1 and 2 ran, and comes back at 7:30, so the
# slots of minutes 3 to 7 passed while it was down.
BACK_AT = START + timedelta(minutes=7, seconds=30)


async def outage(clock: FakeClock, store: Store, misfire: str, grace: str) -> dict[str, list[int]]:
    """Minutes of the slots of an ``every 1m`` no-op job, by outcome, after the outage."""
    first = AsyncScheduler(store, clock=clock, timezone="UTC")
    await first.add_job(
        "tick", "builtins:len", "every 1m", args=[()], misfire=misfire, misfire_grace=grace
    )
    async with first:
        await clock.run_for(2 * MINUTE + timedelta(seconds=30))
    clock.set(BACK_AT)
    second = AsyncScheduler(store, clock=clock, timezone="UTC")
    async with second:
        await clock.run_for(timedelta(seconds=20))
    outcomes: dict[str, list[int]] = {}
    for run in sorted(store.runs("tick"), key=lambda r: r.scheduled_for):
        minute = int((run.scheduled_for - START) / MINUTE)
        outcomes.setdefault(run.status.value, []).append(minute)
    return outcomes


@pytest.mark.parametrize("misfire", ["all", "once", "skip"])
@run_async
async def test_slots_within_the_grace_all_run_after_an_outage(
    clock: FakeClock, store: Store, misfire: str
) -> None:
    outcomes = await outage(clock, store, misfire, grace="10m")
    assert outcomes == {RunStatus.SUCCEEDED.value: [1, 2, 3, 4, 5, 6, 7]}


@pytest.mark.parametrize(
    ("misfire", "ran", "missed"),
    [
        ("all", [1, 2, 3, 4, 5, 6, 7], []),
        # Slots within the grace run anyway, so once needs no run of the newest misfire.
        ("once", [1, 2, 6, 7], [3, 4, 5]),
        ("skip", [1, 2, 6, 7], [3, 4, 5]),
    ],
)
@run_async
async def test_older_slots_follow_the_policy_and_none_skips_another(
    clock: FakeClock, store: Store, misfire: str, ran: list[int], missed: list[int]
) -> None:
    # A grace of 2 minutes at 7:30: the slots of 3, 4 and 5 are misfires, 6 and 7 are late.
    outcomes = await outage(clock, store, misfire, grace="2m")
    assert outcomes.pop(RunStatus.SUCCEEDED.value) == ran
    assert outcomes.pop(RunStatus.MISSED.value, []) == missed
    assert outcomes == {}  # nothing skipped for overlap, nothing else


@run_async
async def test_catch_up_runs_start_one_after_another_in_slot_order(
    clock: FakeClock, store: Store
) -> None:
    await outage(clock, store, "all", grace="10m")
    runs = sorted(store.runs("tick"), key=lambda r: r.scheduled_for)[2:]
    for before, after in itertools.pairwise(runs):
        assert before.finished_at is not None and after.started_at is not None
        assert before.finished_at <= after.started_at
