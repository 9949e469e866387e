"""Helpers for engine tests: a known start instant, async test bodies, real-time waits.

A module of its own (not conftest) so that test modules and the child processes they start
import it by a name no other test folder uses."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwork import AsyncScheduler, Scheduler
from cronwork.targets import make_target
from cronwork.testing import FakeClock

START = datetime(2026, 1, 1, tzinfo=UTC)


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an ``async def`` test body with asyncio.run (no plugin needed)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        # A guard against a hung engine, not a time budget: the tests that step hours of fake
        # time over a shared store poll it once a simulated second and take 20-30 s of real
        # time on a loaded machine. pytest-timeout (120 s) stays the outer bound.
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 90))

    return wrapper


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (in real time) until ``check()`` is true."""
    give_up = time.monotonic() + timeout
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


async def with_a_run_in_flight(clock: FakeClock) -> AsyncScheduler:
    """A started AsyncScheduler whose job ``j`` has a run that sleeps for a minute."""

    async def slow() -> None:
        await asyncio.sleep(60)

    scheduler = AsyncScheduler(clock=clock, timezone="UTC")
    await scheduler.add_job("j", slow, START + timedelta(seconds=1))
    await scheduler.start()
    await clock.run_for(timedelta(seconds=1), wait_for_runs=False)
    return scheduler


def kept(scheduler: AsyncScheduler | Scheduler, func: Callable[..., Any]) -> Any:
    """``func`` as a job target every store can keep.

    The engine suite runs over every store, and a persistent one keeps a job's target by
    name; a closure (which tests use to record what ran) has none, so on such a store it is
    registered as a task of ``scheduler`` and the job names that task.
    """
    if not scheduler.store.shared or make_target(func).persistable:
        return func
    name = f"{getattr(func, '__qualname__', type(func).__name__)}#{id(func)}"
    scheduler.tasks.register(name, func)
    return name
