"""Both faces, start and shutdown: nothing is left running; unstarted runs are handed back."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import psutil
from enginekit import START, kept, run_async, with_a_run_in_flight

from cronwork import AsyncScheduler, Command, RunStatus, Scheduler
from cronwork.stores import MemoryStore, Store
from cronwork.testing import FakeClock


def engine_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("cronwork")]


def test_sync_facade_runs_jobs_and_leaves_no_threads(clock: FakeClock, store: Store) -> None:
    fired: list[int] = []
    with Scheduler(store, clock=clock, timezone="UTC") as scheduler:
        scheduler.add_job("j", kept(scheduler, lambda: fired.append(1)), "every 1m")
        clock.run_for_sync(timedelta(minutes=5))
        assert scheduler.running
    assert fired == [1] * 5
    assert not scheduler.running
    assert engine_threads() == []
    assert [r.status for r in scheduler.runs("j")] == [RunStatus.SUCCEEDED] * 5


def test_sync_scheduler_can_start_again(clock: FakeClock, store: Store) -> None:
    fired: list[int] = []
    scheduler = Scheduler(store, clock=clock, timezone="UTC")
    scheduler.add_job("j", kept(scheduler, lambda: fired.append(1)), "every 1m")
    for _ in range(2):
        scheduler.start()
        clock.run_for_sync(timedelta(minutes=1))
        scheduler.shutdown()
    assert fired == [1, 1]
    assert engine_threads() == []


@run_async
async def test_shutdown_hands_back_claimed_runs(clock: FakeClock) -> None:
    store = MemoryStore()
    first = AsyncScheduler(store, clock=clock, timezone="UTC")
    await first.add_job("j", print, START + timedelta(seconds=30, milliseconds=100))
    await first.start()
    clock.set(START + timedelta(seconds=30))  # inside the look-ahead: claimed, not yet due
    await first.idle()
    [claimed] = store.runs("j")
    assert claimed.node == first.node
    await first.shutdown()
    [released] = store.runs("j")
    assert released.node is None and released.status is RunStatus.SCHEDULED
    fired: list[int] = []
    second = AsyncScheduler(store, clock=clock, timezone="UTC")
    await second.modify_job("j", target=lambda: fired.append(1))
    async with second:
        await clock.run_for(timedelta(seconds=5))
    assert fired == [1]
    assert store.runs("j")[0].status is RunStatus.SUCCEEDED


@run_async
async def test_shutdown_without_wait_cancels_running_runs(clock: FakeClock) -> None:
    scheduler = await with_a_run_in_flight(clock)
    await scheduler.shutdown(wait=False)
    [run] = await scheduler.runs("j")
    assert run.status is RunStatus.CANCELLED


@run_async
async def test_shutdown_waits_up_to_timeout_then_cancels(clock: FakeClock) -> None:
    scheduler = await with_a_run_in_flight(clock)
    began = time.monotonic()
    await scheduler.shutdown(timeout=0.1)
    assert time.monotonic() - began < 2
    [run] = await scheduler.runs("j")
    assert run.status is RunStatus.CANCELLED


@run_async
async def test_shutdown_kills_running_commands(clock: FakeClock, store: Store) -> None:
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC", kill_grace=0.5)
    await scheduler.add_job("sleepy", Command(["sleep", "30"]), START + timedelta(seconds=1))
    await scheduler.start()
    await clock.run_for(timedelta(seconds=1), wait_for_runs=False)
    await asyncio.sleep(0.1)
    assert psutil.Process().children(recursive=True)
    await scheduler.shutdown(wait=False)
    assert psutil.Process().children(recursive=True) == []
    [run] = await scheduler.runs("sleepy")
    assert run.status is RunStatus.CANCELLED
    assert engine_threads() == []
