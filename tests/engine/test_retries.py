"""retries=N: each attempt is its own run, after an exponential backoff with jitter."""

from __future__ import annotations

import itertools
from datetime import timedelta

from enginekit import START, kept, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.stores import Store
from cronwork.stores.slots import retry_delay
from cronwork.testing import FakeClock


def failing(times: int):
    calls = []

    def job() -> None:
        calls.append(1)
        if len(calls) <= times:
            raise RuntimeError(f"boom {len(calls)}")

    return job, calls


@run_async
async def test_failed_run_is_retried_with_backoff(clock: FakeClock, store: Store) -> None:
    job, calls = failing(10)
    retried = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        scheduler.on("run_retried", retried.append)
        added = await scheduler.add_job(
            "flaky",
            kept(scheduler, job),
            START + timedelta(minutes=1),
            retries=2,
            retry_backoff="10s",
        )
        await clock.run_for(timedelta(hours=1))
        runs = sorted(await scheduler.runs("flaky"), key=lambda r: r.attempt)
    assert len(calls) == 3
    assert [r.attempt for r in runs] == [1, 2, 3]
    assert [r.status for r in runs] == [RunStatus.FAILED] * 3
    assert {r.scheduled_for for r in runs} == {START + timedelta(minutes=1)}
    assert [r.trigger for r in runs] == ["schedule", "retry", "retry"]
    seed = f"flaky|{runs[0].scheduled_for.isoformat()}"
    for before, after in itertools.pairwise(runs):
        delay = retry_delay(added, before.attempt, seed)
        assert after.due_at == before.finished_at + delay  # type: ignore[operator]
        assert after.started_at == after.due_at
    assert timedelta(seconds=10) <= runs[1].due_at - runs[0].finished_at <= timedelta(seconds=12.5)  # type: ignore[operator]
    assert timedelta(seconds=20) <= runs[2].due_at - runs[1].finished_at <= timedelta(seconds=25)  # type: ignore[operator]
    assert "RuntimeError: boom 1" in (runs[0].error or "")
    assert [e.run.attempt for e in retried] == [2, 3]


@run_async
async def test_retries_stop_at_the_first_success(clock: FakeClock, store: Store) -> None:
    job, _calls = failing(1)
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "flaky", kept(scheduler, job), START + timedelta(minutes=1), retries=5
        )
        await clock.run_for(timedelta(hours=1))
        runs = sorted(await scheduler.runs("flaky"), key=lambda r: r.attempt)
    assert [r.status for r in runs] == [RunStatus.FAILED, RunStatus.SUCCEEDED]


@run_async
async def test_no_retries_by_default(clock: FakeClock, store: Store) -> None:
    job, _calls = failing(10)
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job("flaky", kept(scheduler, job), START + timedelta(minutes=1))
        await clock.run_for(timedelta(hours=1))
        runs = await scheduler.runs("flaky")
    assert [r.status for r in runs] == [RunStatus.FAILED]


@run_async
async def test_timed_out_runs_are_retried(clock: FakeClock, store: Store) -> None:
    import asyncio

    async def slow() -> None:
        await asyncio.sleep(5)

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "slow",
            kept(scheduler, slow),
            START + timedelta(minutes=1),
            retries=1,
            timeout=0.02,
            retry_backoff=0,
        )
        await clock.run_for(timedelta(minutes=2))
        runs = sorted(await scheduler.runs("slow"), key=lambda r: r.attempt)
    assert [r.status for r in runs] == [RunStatus.TIMED_OUT, RunStatus.TIMED_OUT]
