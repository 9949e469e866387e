"""Slots that passed while the engine was stopped: skip, once or all (same store, restarted)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from enginekit import START, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.stores import MemoryStore
from cronwork.testing import FakeClock


async def downtime(clock: FakeClock, misfire: str, down_until: timedelta, **settings: object):
    store = MemoryStore()
    fired = []
    first = AsyncScheduler(store, clock=clock, timezone="UTC")
    await first.add_job(
        "hourly", lambda: fired.append(clock.now()), "0 * * * *", misfire=misfire, **settings
    )
    async with first:
        await clock.run_for(timedelta(hours=1, minutes=30))
    clock.set(START + down_until)  # the engine is not running meanwhile
    second = AsyncScheduler(store, clock=clock, timezone="UTC")
    async with second:
        await clock.run_for(timedelta(minutes=1))
    runs = sorted(store.runs("hourly"), key=lambda r: r.scheduled_for)
    return fired, runs


@run_async
async def test_skip_records_every_missed_slot(clock: FakeClock) -> None:
    fired, runs = await downtime(clock, "skip", timedelta(hours=6, minutes=30))
    assert fired == [START + timedelta(hours=1)]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] + [RunStatus.MISSED] * 5
    assert [r.scheduled_for.hour for r in runs] == [1, 2, 3, 4, 5, 6]


@run_async
async def test_once_runs_the_newest_missed_slot_now(clock: FakeClock) -> None:
    fired, runs = await downtime(clock, "once", timedelta(hours=6, minutes=30))
    now = START + timedelta(hours=6, minutes=30)
    assert fired == [START + timedelta(hours=1), now]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] + [RunStatus.MISSED] * 4 + [
        RunStatus.SUCCEEDED
    ]
    assert runs[-1].scheduled_for == START + timedelta(hours=6)
    assert runs[-1].trigger == "misfire"
    assert runs[-1].lateness == 30 * 60


@run_async
async def test_all_runs_every_missed_slot(clock: FakeClock) -> None:
    fired, runs = await downtime(clock, "all", timedelta(hours=6, minutes=30))
    assert len(fired) == 6
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 6
    assert [r.scheduled_for.hour for r in runs] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("misfire", ["skip", "once", "all"])
@run_async
async def test_a_slot_within_the_grace_is_on_time(clock: FakeClock, misfire: str) -> None:
    fired, runs = await downtime(
        clock, misfire, timedelta(hours=2, seconds=20), misfire_grace="30s"
    )
    assert fired == [START + timedelta(hours=1), START + timedelta(hours=2, seconds=20)]
    assert runs[-1].trigger == "schedule"
    assert runs[-1].status is RunStatus.SUCCEEDED


@run_async
async def test_the_missed_event_fires(clock: FakeClock) -> None:
    store = MemoryStore()
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    await scheduler.add_job("j", print, "0 * * * *", misfire="skip")
    missed = []
    scheduler.on("run_missed", missed.append)
    clock.set(START + timedelta(hours=3, minutes=5))
    async with scheduler:
        await scheduler.idle()
    assert [e.run.scheduled_for.hour for e in missed] == [1, 2, 3]
