"""Backfill: one run per past slot of a job's schedule, picked up by the engine.

The job runs hourly at :00 and the clock starts at midnight (START), so the slots before it
are free to backfill; the job's own first slot is 01:00.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from enginekit import START, eventually, kept, run_async

from cronwork import AsyncScheduler, JobError, RunStatus, after
from cronwork.runs import Run
from cronwork.stores import Store
from cronwork.testing import FakeClock

HOUR = timedelta(hours=1)


class Gauge:
    """An async job target that records how many of its runs overlap, and their slots.

    Runs wait for ``gate`` (open unless closed), so a test can hold one running.
    """

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.slots: list[Any] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, ctx: Any) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.slots.append(ctx.scheduled_for)
        try:
            await self.gate.wait()
            await asyncio.sleep(0.005)  # long enough for others to start, were they allowed
        finally:
            self.now -= 1


async def _scheduler(store: Store, clock: FakeClock, target: Any = print) -> AsyncScheduler:
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    if isinstance(target, Gauge):
        counted = target

        async def gauge(ctx: Any) -> None:  # a function: a task name every store can keep
            await counted(ctx)

        target = gauge
    await scheduler.add_job("hourly", kept(scheduler, target), "0 * * * *")
    return scheduler


@run_async
async def test_one_run_per_past_slot_is_recorded_and_run(clock: FakeClock, store: Store) -> None:
    scheduler = await _scheduler(store, clock)
    async with scheduler:
        runs = await scheduler.backfill("hourly", START - 5 * HOUR, START - HOUR)
        slots = [START - hours * HOUR for hours in (5, 4, 3, 2, 1)]
        assert [r.scheduled_for for r in runs] == slots
        assert {(r.trigger, r.status, r.attempt) for r in runs} == {
            ("backfill", RunStatus.SCHEDULED, 1)
        }
        await scheduler.idle()
    done = await scheduler.runs("hourly")
    assert sorted(r.scheduled_for for r in done) == slots
    assert {(r.trigger, r.status) for r in done} == {("backfill", RunStatus.SUCCEEDED)}


@run_async
async def test_text_times_are_read_and_naive_ones_are_in_the_jobs_zone(
    clock: FakeClock, store: Store
) -> None:
    scheduler = AsyncScheduler(store, clock=clock, timezone="Europe/Paris")
    await scheduler.add_job("paris", print, "0 * * * *")
    # 2025-12-31 22:00 in Paris is 21:00 UTC.
    runs = await scheduler.backfill("paris", "2025-12-31T22:00", "2025-12-31T23:00:00+01:00")
    assert [r.scheduled_for for r in runs] == [START - 3 * HOUR, START - 2 * HOUR]


@run_async
async def test_slots_that_have_a_run_are_not_recorded_twice(clock: FakeClock, store: Store) -> None:
    scheduler = await _scheduler(store, clock)
    first = await scheduler.backfill("hourly", START - 3 * HOUR, START - 2 * HOUR)
    again = await scheduler.backfill("hourly", START - 4 * HOUR, START - HOUR)
    assert [r.scheduled_for for r in first] == [START - 3 * HOUR, START - 2 * HOUR]
    assert [r.scheduled_for for r in again] == [START - 4 * HOUR, START - HOUR]
    assert await scheduler.backfill("hourly", START - 4 * HOUR, START - HOUR) == []
    assert len(await scheduler.runs("hourly")) == 4


@run_async
async def test_a_thousand_slots_is_the_most_one_backfill_holds(
    clock: FakeClock, store: Store
) -> None:
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    await scheduler.add_job("minutely", print, "* * * * *")
    minute = timedelta(minutes=1)
    with pytest.raises(JobError) as refused:
        await scheduler.backfill("minutely", START - 1001 * minute, START - minute)
    assert refused.value.field == "end"
    assert "more than 1000 slots" in str(refused.value)
    assert await scheduler.runs("minutely") == []
    # 1000 minutes back to 1 minute back, both included.
    runs = await scheduler.backfill("minutely", START - 1000 * minute, START - minute)
    assert len(runs) == 1000


@pytest.mark.parametrize(
    ("start", "end", "overlap", "field", "message"),
    [
        (START - HOUR, START + HOUR, "skip", "end", "is in the future"),
        (START - HOUR, START - 2 * HOUR, "skip", "start", "must be before end"),
        (START - HOUR, START - HOUR, "skip", "start", "must be before end"),
        ("yesterday", START, "skip", "start", "is not an ISO 8601 date-time"),
        (START - HOUR, 12, "skip", "end", "must be a date-time, got int"),
        (START - HOUR, START, "replace", "overlap", "must be one of skip, queue, allow"),
    ],
)
@run_async
async def test_bad_input_names_the_field_and_records_nothing(
    clock: FakeClock, store: Store, start: Any, end: Any, overlap: str, field: str, message: str
) -> None:
    scheduler = await _scheduler(store, clock)
    with pytest.raises(JobError) as refused:
        await scheduler.backfill("hourly", start, end, overlap=overlap)
    assert refused.value.field == field
    assert message in str(refused.value)
    assert str(refused.value).startswith("job 'hourly': backfill ")
    assert await scheduler.runs("hourly") == []


@run_async
async def test_a_job_started_by_other_jobs_has_no_slots_to_backfill(
    clock: FakeClock, store: Store
) -> None:
    scheduler = await _scheduler(store, clock)
    await scheduler.add_job("report", print, after("hourly"))
    with pytest.raises(JobError) as refused:
        await scheduler.backfill("report", START - 3 * HOUR, START - HOUR)
    assert refused.value.field == "schedule"
    assert await scheduler.runs("report") == []


async def _with_a_running_run(store: Store, clock: FakeClock) -> tuple[AsyncScheduler, Gauge, Run]:
    """A started scheduler whose 01:00 run of ``hourly`` runs until ``gauge.gate`` opens."""
    gauge = Gauge()
    gauge.gate.clear()
    scheduler = await _scheduler(store, clock, gauge)
    # Up to just before 01:00 with no engine: stepping an hour over a shared store would poll
    # it 3,600 times.
    clock.advance(HOUR - timedelta(seconds=1))
    await scheduler.start()
    await clock.run_for(timedelta(seconds=1), wait_for_runs=False)
    await eventually(lambda: gauge.now == 1)
    [running] = await scheduler.runs("hourly", status="running")
    return scheduler, gauge, running


@run_async
async def test_overlap_skip_backfills_nothing_while_the_job_runs(
    clock: FakeClock, store: Store
) -> None:
    scheduler, gauge, running = await _with_a_running_run(store, clock)
    try:
        with pytest.raises(JobError) as refused:
            await scheduler.backfill("hourly", START - 3 * HOUR, START - HOUR)
        assert refused.value.field == "overlap"
        assert f"run {running.id} is still running" in str(refused.value)
        assert [r.id for r in await scheduler.runs("hourly")] == [running.id]
        gauge.gate.set()
        await scheduler.idle()
        # Once the job is idle, the backfill is recorded and its runs go one by one.
        runs = await scheduler.backfill("hourly", START - 3 * HOUR, START - HOUR)
        assert len(runs) == 3
        await scheduler.idle()
    finally:
        gauge.gate.set()
        await scheduler.shutdown()
    assert gauge.peak == 1
    assert gauge.slots[1:] == [START - 3 * HOUR, START - 2 * HOUR, START - HOUR]


@run_async
async def test_overlap_queue_runs_after_the_running_run_one_by_one(
    clock: FakeClock, store: Store
) -> None:
    scheduler, gauge, running = await _with_a_running_run(store, clock)
    try:
        runs = await scheduler.backfill("hourly", START - 3 * HOUR, START - HOUR, overlap="queue")
        assert len(runs) == 3
        await scheduler.idle(runs=False)
        await asyncio.sleep(0.05)  # time enough for a backfill run to start, were it allowed
        assert gauge.now == 1 and len(gauge.slots) == 1
        gauge.gate.set()
        await scheduler.idle()
    finally:
        gauge.gate.set()
        await scheduler.shutdown()
    assert gauge.peak == 1
    assert gauge.slots == [running.scheduled_for, START - 3 * HOUR, START - 2 * HOUR, START - HOUR]
    finished = await scheduler.runs("hourly", status="succeeded")
    assert len(finished) == 4


@run_async
async def test_overlap_allow_runs_everything_at_once(clock: FakeClock, store: Store) -> None:
    scheduler, gauge, _ = await _with_a_running_run(store, clock)
    try:
        await scheduler.backfill("hourly", START - 3 * HOUR, START - HOUR, overlap="allow")
        # Beside the running run, though the job's own overlap policy is skip.
        await eventually(lambda: gauge.now == 4)
        gauge.gate.set()
        await scheduler.idle()
    finally:
        gauge.gate.set()
        await scheduler.shutdown()
    assert gauge.peak == 4
    finished = await scheduler.runs("hourly", status="succeeded")
    assert len(finished) == 4
