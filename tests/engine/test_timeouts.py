"""The expected duration: hard by default (cancel, kill, or let a thread linger), or warn."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

from enginekit import START, kept, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.stores import Store
from cronwork.testing import FakeClock


@run_async
async def test_a_coroutine_is_cancelled_at_its_deadline(clock: FakeClock, store: Store) -> None:
    cancelled = []

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "slow", kept(scheduler, slow), START + timedelta(seconds=1), timeout=0.05
        )
        await clock.run_for(timedelta(seconds=2))
        [run] = await scheduler.runs("slow")
    assert cancelled == [True]
    assert run.status is RunStatus.TIMED_OUT
    assert "timed out" in (run.error or "")


@run_async
async def test_a_thread_is_marked_timed_out_and_told_to_stop(
    clock: FakeClock, store: Store
) -> None:
    saw_cancel = threading.Event()

    def stubborn(ctx: object) -> None:
        if ctx.wait_cancelled(5):  # type: ignore[attr-defined]
            saw_cancel.set()

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "stubborn", kept(scheduler, stubborn), START + timedelta(seconds=1), timeout=0.05
        )
        await clock.run_for(timedelta(seconds=2))
        [run] = await scheduler.runs("stubborn")
        assert run.status is RunStatus.TIMED_OUT
    assert saw_cancel.is_set()


@run_async
async def test_warn_mode_lets_the_run_finish_and_fires_overdue(
    clock: FakeClock, store: Store
) -> None:
    overdue = []

    async def slowish() -> None:
        await asyncio.sleep(0.15)

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        scheduler.on("run_overdue", overdue.append)
        await scheduler.add_job(
            "slowish",
            kept(scheduler, slowish),
            START + timedelta(seconds=1),
            timeout=0.03,
            on_timeout="warn",
        )
        await clock.run_for(timedelta(seconds=2))
        [run] = await scheduler.runs("slowish")
    assert run.status is RunStatus.SUCCEEDED
    assert [e.job_id for e in overdue] == ["slowish"]
    assert overdue[0].run.id == run.id
