"""Schedules fire at their slots, and each slot leaves one run record."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from enginekit import START, kept, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.executors.base import RunContext
from cronwork.stores import Store
from cronwork.testing import FakeClock
from cronwork.timing.every import EverySchedule


# Memory store only: it steps 3 days of fake time, and a shared store is polled each second, so
# the fake clock would stop there 259,200 times.
@run_async
async def test_cron_job_fires_at_each_slot_over_days(clock: FakeClock) -> None:
    fired = []
    scheduler = AsyncScheduler(clock=clock, timezone="UTC")
    await scheduler.add_job(
        "report", kept(scheduler, lambda: fired.append(clock.now())), "0 9 * * *"
    )
    async with scheduler:
        await clock.run_for(timedelta(days=3))
    assert fired == [START + timedelta(days=d, hours=9) for d in range(3)]
    runs = await scheduler.runs("report")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 3
    assert all(r.started_at == r.scheduled_for for r in runs)


# Memory store only: it steps 2 days of fake time, and a shared store is polled each second, so the
# fake clock would stop there 172,800 times.
@run_async
async def test_several_jobs_each_on_its_own_slots(clock: FakeClock) -> None:
    counts: dict[str, int] = {"a": 0, "b": 0}

    def bump(name: str) -> None:
        counts[name] += 1

    async with AsyncScheduler(clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job("a", kept(scheduler, bump), "*/15 * * * *", args=("a",))
        await scheduler.add_job("b", kept(scheduler, bump), "every 1h", args=("b",))
        await clock.run_for(timedelta(days=2))
    assert counts == {"a": 2 * 24 * 4, "b": 2 * 24}


@run_async
async def test_next_run_at_is_the_first_slot_after_now(clock: FakeClock, store: Store) -> None:
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    job = await scheduler.add_job("j", print, "0 * * * *")
    assert job.next_run_at == START + timedelta(hours=1)
    async with scheduler:
        await clock.run_for(timedelta(minutes=90))
    assert (await scheduler.get_job("j")).next_run_at == START + timedelta(hours=2)


@run_async
async def test_a_schedule_object_is_used_as_is(clock: FakeClock, store: Store) -> None:
    fired = []
    schedule = EverySchedule(timedelta(minutes=7), ZoneInfo("UTC"), anchor=START)
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        job = await scheduler.add_job(
            "odd", kept(scheduler, lambda: fired.append(clock.now())), schedule
        )
        assert job.schedule is schedule
        await clock.run_for(timedelta(minutes=30))
    assert fired == [START + timedelta(minutes=m) for m in (7, 14, 21, 28)]


# Memory store only: it steps a day of fake time, and a shared store is polled each second, so the
# fake clock would stop there 86,400 times.
@run_async
async def test_one_shot_job_runs_once_and_stays_recorded(clock: FakeClock) -> None:
    fired = []
    async with AsyncScheduler(clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "once", kept(scheduler, lambda: fired.append(clock.now())), START + timedelta(hours=5)
        )
        await clock.run_for(timedelta(days=1))
        job = await scheduler.get_job("once")
    assert fired == [START + timedelta(hours=5)]
    assert job.next_run_at is None


# Not on PostgreSQL: it steps 10 hours of fake time, and a shared store is polled each second,
# so the fake clock stops 36,000 times, each a few round trips to the server (over 30 s here).
@pytest.mark.stores("memory", "sqlite")
@run_async
async def test_end_at_stops_the_job(clock: FakeClock, store: Store) -> None:
    fired = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "bounded",
            kept(scheduler, lambda: fired.append(clock.now())),
            "0 * * * *",
            start_at=START + timedelta(hours=3),
            end_at=START + timedelta(hours=5),
        )
        await clock.run_for(timedelta(hours=10))
    assert fired == [START + timedelta(hours=h) for h in (3, 4, 5)]


@run_async
async def test_async_function_runs_on_the_engine_loop(clock: FakeClock, store: Store) -> None:
    import asyncio

    loops = []

    async def job() -> None:
        loops.append(asyncio.get_running_loop())

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job("co", kept(scheduler, job), "every 1m")
        await clock.run_for(timedelta(minutes=3))
    assert loops == [asyncio.get_running_loop()] * 3


@run_async
async def test_ctx_parameter_receives_the_run_context(clock: FakeClock, store: Store) -> None:
    seen = []

    def job(ctx: object) -> None:
        seen.append(ctx)

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job("ctx", kept(scheduler, job), "every 1m", timeout="10s")
        await clock.run_for(timedelta(minutes=2))
        runs = await scheduler.runs("ctx")
    first, second = seen
    assert first.job_id == "ctx" and first.run_id == runs[-1].id  # type: ignore[attr-defined]
    assert first.scheduled_for == START + timedelta(minutes=1)  # type: ignore[attr-defined]
    assert first.deadline == START + timedelta(minutes=1, seconds=10)  # type: ignore[attr-defined]
    assert first.attempt == 1 and not first.cancelled  # type: ignore[attr-defined]
    # A real, frozen RunContext of its own per run, though the engine builds it by copying.
    assert type(first) is RunContext and first is not second
    assert second.run_id == runs[0].id  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.job_id = "other"  # type: ignore[attr-defined]
