"""What happens when a slot arrives while a run of the same job is still going."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from enginekit import START, kept, run_async

from cronwork import AsyncScheduler, Run, RunStatus
from cronwork.stores import Store
from cronwork.testing import FakeClock


def statuses(runs: list[Run]) -> list[str]:
    return [r.status.value for r in sorted(runs, key=lambda r: (r.scheduled_for, r.attempt))]


async def held_job(scheduler: AsyncScheduler, gate: asyncio.Event, **settings: object) -> list[int]:
    starts: list[int] = []

    async def work() -> None:
        starts.append(len(starts))
        await gate.wait()

    await scheduler.add_job("held", kept(scheduler, work), "every 1m", **settings)
    return starts


@run_async
async def test_skip_records_a_skipped_run_with_the_reason(clock: FakeClock, store: Store) -> None:
    gate = asyncio.Event()
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        starts = await held_job(scheduler, gate)
        await clock.run_for(timedelta(minutes=3), wait_for_runs=False)
        gate.set()
        await scheduler.idle()
        runs = await scheduler.runs("held")
    assert len(starts) == 1
    assert statuses(runs) == ["succeeded", "skipped", "skipped"]
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    assert all("overlap=skip" in (r.error or "") for r in skipped)
    assert all(r.started_at is None for r in skipped)


@run_async
async def test_allow_runs_up_to_max_instances(clock: FakeClock, store: Store) -> None:
    gate = asyncio.Event()
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        starts = await held_job(scheduler, gate, overlap="allow", max_instances=2)
        await clock.run_for(timedelta(minutes=3), wait_for_runs=False)
        gate.set()
        await scheduler.idle()
        runs = await scheduler.runs("held")
    assert len(starts) == 2
    assert statuses(runs) == ["succeeded", "succeeded", "skipped"]
    assert "max_instances=2" in (runs[0].error or "")


@run_async
async def test_queue_runs_one_waiting_slot_after_the_current_run(
    clock: FakeClock, store: Store
) -> None:
    gate = asyncio.Event()
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        starts = await held_job(scheduler, gate, overlap="queue")
        await clock.run_for(timedelta(minutes=3, seconds=30), wait_for_runs=False)
        assert len(starts) == 1
        gate.set()
        await scheduler.idle()
        runs = await scheduler.runs("held")
    assert len(starts) == 2
    # Slot 1 ran, slot 2 waited and ran after it, slot 3 found the queue full.
    assert statuses(runs) == ["succeeded", "succeeded", "skipped"]
    queued = sorted(runs, key=lambda r: r.scheduled_for)[1]
    assert queued.queued_at == START + timedelta(minutes=2)
    assert queued.started_at == START + timedelta(minutes=3, seconds=30)


@run_async
async def test_replace_cancels_the_running_one_and_starts_the_new(
    clock: FakeClock, store: Store
) -> None:
    gate = asyncio.Event()
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        starts = await held_job(scheduler, gate, overlap="replace")
        await clock.run_for(timedelta(minutes=2), wait_for_runs=False)
        await scheduler.idle(runs=False)
        gate.set()
        await scheduler.idle()
        runs = await scheduler.runs("held")
    assert len(starts) == 2
    assert statuses(runs) == ["cancelled", "succeeded"]
    first = min(runs, key=lambda r: r.scheduled_for)
    assert "overlap=replace" in (first.error or "")


@run_async
async def test_overlap_is_per_job(clock: FakeClock, store: Store) -> None:
    gate = asyncio.Event()
    others: list[int] = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await held_job(scheduler, gate)

        # A coroutine ends within the step that starts it. A thread's run could still be
        # finishing when the next minute's slot arrives, and be skipped by its own overlap.
        async def other() -> None:
            others.append(1)

        await scheduler.add_job("other", kept(scheduler, other), "every 1m")
        await clock.run_for(timedelta(minutes=3), wait_for_runs=False)
        gate.set()
        await scheduler.idle()
    assert others == [1, 1, 1]
