"""A second, impatient stop cuts a graceful one short; what jobs print becomes run.output."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from datetime import timedelta

from enginekit import START, kept, run_async, with_a_run_in_flight

from cronwork import AsyncScheduler, Run, RunStatus, Scheduler
from cronwork.stores import Store
from cronwork.testing import FakeClock


def graceful_shutdown_under_way(clock: FakeClock) -> tuple[Scheduler, threading.Thread]:
    """A run that waits to be cancelled, and a graceful shutdown on a thread, waiting for it."""
    started = threading.Event()

    def polite(ctx: object) -> None:
        started.set()
        ctx.wait_cancelled(30)  # type: ignore[attr-defined]

    scheduler = Scheduler(clock=clock, timezone="UTC")
    scheduler.add_job("j", polite, START + timedelta(seconds=1))
    scheduler.start()
    clock.run_for_sync(timedelta(seconds=1), wait_for_runs=False)
    assert started.wait(5)
    graceful = threading.Thread(target=scheduler.shutdown)
    graceful.start()
    time.sleep(0.2)
    return scheduler, graceful


def test_a_second_shutdown_without_wait_cancels_runs_a_graceful_one_waits_for(
    clock: FakeClock,
) -> None:
    scheduler, graceful = graceful_shutdown_under_way(clock)
    assert graceful.is_alive()  # waiting for the run, as asked
    began = time.monotonic()
    scheduler.shutdown(wait=False)
    graceful.join(5)
    assert not graceful.is_alive()
    assert time.monotonic() - began < 3
    [run] = scheduler.runs("j")
    assert run.status is RunStatus.CANCELLED


def test_a_cancel_during_a_graceful_shutdown_is_honoured(clock: FakeClock) -> None:
    scheduler, graceful = graceful_shutdown_under_way(clock)
    [running] = scheduler.runs("j", status=RunStatus.RUNNING)
    scheduler.cancel(running.id)
    graceful.join(5)
    assert not graceful.is_alive()
    assert scheduler.get_run(running.id).status is RunStatus.CANCELLED


@run_async
async def test_async_second_stop_cuts_the_first_short(clock: FakeClock) -> None:
    scheduler = await with_a_run_in_flight(clock)
    first = asyncio.create_task(scheduler.shutdown())
    await asyncio.sleep(0.1)
    assert not first.done()
    await asyncio.wait_for(scheduler.shutdown(wait=False), 3)
    await asyncio.wait_for(first, 3)
    [run] = await scheduler.runs("j")
    assert run.status is RunStatus.CANCELLED


@run_async
async def test_printed_output_of_functions_is_recorded_per_run(
    clock: FakeClock, store: Store
) -> None:
    def sync_job(word: str) -> None:
        print("sync", word)
        print("oops", file=sys.stderr)

    async def async_job(word: str) -> None:
        print("async", word)
        await asyncio.sleep(0)
        print("async again", word)

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job("s", kept(scheduler, sync_job), "every 1s", args=("a",))
        await scheduler.add_job("a", kept(scheduler, async_job), "every 1s", args=("b",))
        await scheduler.add_job("q", kept(scheduler, lambda: None), "every 1s")
        await clock.run_for(timedelta(seconds=2))
        # A persistent store claims a second ahead, so the slot at 3 s may be there too, not
        # yet run: only the runs that ran have output to compare.
        sync_runs = await finished_runs(scheduler, "s")
        async_runs = await finished_runs(scheduler, "a")
        quiet_runs = await finished_runs(scheduler, "q")
    assert [r.output for r in sync_runs] == ["sync a\noops\n"] * 2
    assert [r.output for r in async_runs] == ["async b\nasync again b\n"] * 2
    assert [r.output for r in quiet_runs] == [None, None]
    assert sys.stdout.__class__.__name__ != "_StreamRouter"  # restored after shutdown


async def finished_runs(scheduler: AsyncScheduler, job_id: str) -> list[Run]:
    """The job's runs that have ended, newest first."""
    return [run for run in await scheduler.runs(job_id) if run.status.finished]
