"""Pause, resume, trigger, cancel and stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from enginekit import START, kept, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.stores import Store
from cronwork.testing import FakeClock


# Not on PostgreSQL: it steps 9.5 hours of fake time, and a shared store is polled each second,
# so the fake clock stops 34,200 times, each a few round trips to the server (over 30 s here).
@pytest.mark.stores("memory", "sqlite")
@run_async
async def test_paused_job_claims_nothing_and_resume_does_not_replay(
    clock: FakeClock, store: Store
) -> None:
    fired = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "hourly", kept(scheduler, lambda: fired.append(clock.now().hour)), "0 * * * *"
        )
        await clock.run_for(timedelta(hours=2, minutes=30))
        paused = await scheduler.pause_job("hourly")
        assert paused.paused
        await clock.run_for(timedelta(hours=5))
        resumed = await scheduler.resume_job("hourly")
        assert resumed.next_run_at == START + timedelta(hours=8)
        await clock.run_for(timedelta(hours=2))
        runs = await scheduler.runs("hourly")
    assert fired == [1, 2, 8, 9]
    assert all(r.status is RunStatus.SUCCEEDED for r in runs)


@run_async
async def test_jobs_added_paused_do_not_run(clock: FakeClock, store: Store) -> None:
    fired = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "j", kept(scheduler, lambda: fired.append(1)), "every 1m", paused=True
        )
        await clock.run_for(timedelta(minutes=10))
    assert fired == []


@run_async
async def test_trigger_runs_now_outside_the_schedule(clock: FakeClock, store: Store) -> None:
    fired = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "daily", kept(scheduler, lambda: fired.append(clock.now())), "0 9 * * *"
        )
        clock.advance(timedelta(minutes=5))
        run = await scheduler.trigger("daily")
        assert run.trigger == "manual"
        await clock.advance_async(0)
        [done] = await scheduler.runs("daily")
    assert fired == [START + timedelta(minutes=5)]
    assert done.id == run.id and done.status is RunStatus.SUCCEEDED


@run_async
async def test_trigger_works_on_a_paused_job_and_twice_in_one_instant(
    clock: FakeClock, store: Store
) -> None:
    fired = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "j",
            kept(scheduler, lambda: fired.append(1)),
            "0 9 * * *",
            paused=True,
            overlap="allow",
            max_instances=2,
        )
        await scheduler.trigger("j")
        await scheduler.trigger("j")
        await clock.advance_async(0)
    assert fired == [1, 1]


@run_async
async def test_trigger_before_start_runs_once_started(clock: FakeClock, store: Store) -> None:
    fired = []
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    await scheduler.add_job("j", kept(scheduler, lambda: fired.append(1)), "0 9 * * *")
    await scheduler.trigger("j")
    async with scheduler:
        await clock.advance_async(0)
    assert fired == [1]


@run_async
async def test_cancel_a_running_run(clock: FakeClock, store: Store) -> None:
    async def forever() -> None:
        await asyncio.sleep(60)

    cancelled = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        scheduler.on("run_cancelled", cancelled.append)
        await scheduler.add_job("forever", kept(scheduler, forever), "every 1m")
        await clock.run_for(timedelta(minutes=1), wait_for_runs=False)
        [run] = await scheduler.runs("forever", status="running")
        await scheduler.cancel(run.id)
        await scheduler.idle()
        [done] = await scheduler.runs("forever")
    assert done.status is RunStatus.CANCELLED
    assert [e.run.id for e in cancelled] == [run.id]


@run_async
async def test_cancel_a_run_not_started_yet(clock: FakeClock, store: Store) -> None:
    fired = []
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    await scheduler.add_job("j", kept(scheduler, lambda: fired.append(1)), "0 9 * * *")
    run = await scheduler.trigger("j")
    await scheduler.cancel(run.id)
    async with scheduler:
        await clock.advance_async(0)
    assert fired == []
    assert (await scheduler.get_run(run.id)).status is RunStatus.CANCELLED


@run_async
async def test_stop_cancels_every_running_run_of_a_job(clock: FakeClock, store: Store) -> None:
    async def forever() -> None:
        await asyncio.sleep(60)

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "j", kept(scheduler, forever), "every 1m", overlap="allow", max_instances=3
        )
        await clock.run_for(timedelta(minutes=3), wait_for_runs=False)
        stopped = await scheduler.stop("j")
        await scheduler.idle()
        runs = await scheduler.runs("j")
    assert len(stopped) == 3
    assert [r.status for r in runs] == [RunStatus.CANCELLED] * 3


@run_async
async def test_removed_job_stops_firing_and_keeps_history(clock: FakeClock, store: Store) -> None:
    fired = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job("j", kept(scheduler, lambda: fired.append(1)), "every 1m")
        await clock.run_for(timedelta(minutes=2))
        await scheduler.remove_job("j")
        await clock.run_for(timedelta(minutes=5))
        assert len(await scheduler.runs("j")) == 2
        assert await scheduler.jobs() == []
    assert fired == [1, 1]


@run_async
async def test_modify_job_changes_the_schedule_from_now(clock: FakeClock, store: Store) -> None:
    fired = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "j", kept(scheduler, lambda: fired.append(clock.now().minute)), "*/10 * * * *"
        )
        await clock.run_for(timedelta(minutes=25))
        job = await scheduler.modify_job("j", schedule="*/7 * * * *", retries=2)
        assert job.retries == 2 and job.next_run_at == START + timedelta(minutes=28)
        await clock.run_for(timedelta(minutes=10))
    assert fired == [10, 20, 28, 35]


@run_async
async def test_modify_keeps_the_schedule_when_not_changed(clock: FakeClock, store: Store) -> None:
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        before = await scheduler.add_job("j", print, "*/10 * * * *", timeout="1m")
        after = await scheduler.modify_job("j", timeout="2m", tags=["x"])
    assert after.schedule == before.schedule
    assert after.next_run_at == before.next_run_at
    assert after.timeout == timedelta(minutes=2) and after.tags == ("x",)
