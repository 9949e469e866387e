"""Helpers for testing code that uses cronwork; chiefly FakeClock.

``FakeClock`` replaces the wall clock of a scheduler so that tests move through days of
schedule in milliseconds::

    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    async with AsyncScheduler(clock=clock) as scheduler:
        scheduler.add_job("report", report, "0 9 * * *")
        await clock.run_for(timedelta(days=2))   # the job ran twice
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwork.clock import Settles

__all__ = ["FakeClock"]

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(eq=False)
class _Waiter:
    moment: datetime
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None] = field(repr=False)


def _release(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class FakeClock:
    """A clock that moves only when told to; implements cronwork.clock.Clock.

    ``advance()`` and ``set()`` move time from any thread; ``run_for()`` steps from one
    wake-up of the attached schedulers to the next, waiting after each step until they have
    processed everything due, so tests are deterministic. Executors still measure job
    timeouts in real time.
    """

    #: Time moves only when told (see Clock.real_time); attach() drives engines through it.
    real_time = False

    def __init__(self, start: datetime | None = None) -> None:
        start = DEFAULT_START if start is None else start
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"FakeClock needs an aware datetime, got naive {start.isoformat()}")
        self._start = start.astimezone(UTC)
        self._now = self._start
        self._lock = threading.Lock()
        self._waiters: list[_Waiter] = []
        self._engines: list[Settles] = []

    # -- the Clock protocol -------------------------------------------------------------

    def now(self) -> datetime:
        """Return the fake current instant (UTC)."""
        return self._now

    def monotonic(self) -> float:
        """Return fake seconds elapsed since the clock's start."""
        return (self._now - self._start).total_seconds()

    async def sleep_until(self, moment: datetime) -> None:
        """Return once the clock has been moved to ``moment`` or later."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._now >= moment:
                waiter = None
            else:
                waiter = _Waiter(moment, loop, loop.create_future())
                self._waiters.append(waiter)
        if waiter is None:
            await asyncio.sleep(0)
            return
        try:
            await waiter.future
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    # -- moving time --------------------------------------------------------------------

    def advance(self, delta: timedelta | float = 0.0) -> datetime:
        """Move time forward by ``delta`` (a timedelta or seconds) and wake due sleepers."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        if delta < timedelta(0):
            raise ValueError("a FakeClock cannot go backwards")
        return self.set(self._now + delta)

    def set(self, moment: datetime) -> datetime:
        """Move time forward to ``moment`` and wake due sleepers; return the new now."""
        if moment.tzinfo is None:
            raise ValueError("FakeClock.set needs an aware datetime")
        with self._lock:
            if moment < self._now:
                raise ValueError(f"a FakeClock cannot go backwards to {moment.isoformat()}")
            self._now = moment.astimezone(UTC)
            due = [w for w in self._waiters if w.moment <= self._now]
        for waiter in due:
            if not waiter.loop.is_closed():
                waiter.loop.call_soon_threadsafe(_release, waiter.future)
        return self._now

    def next_wakeup(self) -> datetime | None:
        """The earliest instant someone sleeps until, or None."""
        with self._lock:
            return min((w.moment for w in self._waiters), default=None)

    async def advance_async(
        self, delta: timedelta | float = 0.0, *, wait_for_runs: bool = True
    ) -> datetime:
        """Advance by ``delta`` in one jump, then wait until the schedulers are idle."""
        now = self.advance(delta)
        await self.settle(wait_for_runs=wait_for_runs)
        return now

    async def settle(self, *, wait_for_runs: bool = True) -> None:
        """Wait until every attached scheduler has processed what is due now.

        By default that includes waiting for the runs that started to finish; pass
        ``wait_for_runs=False`` when a test holds a job running on purpose.
        """
        for engine in list(self._engines):
            loop = engine.loop
            if loop is None or loop.is_closed():
                continue
            try:
                current = asyncio.get_running_loop()
            except RuntimeError:
                current = None
            if loop is current:
                await engine.idle(wait_for_runs)
            else:
                coro: Any = engine.idle(wait_for_runs)
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    async def run_until(self, moment: datetime, *, wait_for_runs: bool = True) -> datetime:
        """Step through every wake-up up to ``moment``, settling after each; end at ``moment``."""
        await self.settle(wait_for_runs=wait_for_runs)
        while True:
            nxt = self.next_wakeup()
            if nxt is None or nxt > moment:
                break
            self.set(max(nxt, self._now))
            await self.settle(wait_for_runs=wait_for_runs)
        if moment > self._now:
            self.set(moment)
        await self.settle(wait_for_runs=wait_for_runs)
        return self._now

    async def run_for(self, delta: timedelta | float, *, wait_for_runs: bool = True) -> datetime:
        """Step through ``delta`` of fake time the way a real clock would pass it."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        return await self.run_until(self._now + delta, wait_for_runs=wait_for_runs)

    def run_for_sync(self, delta: timedelta | float, *, wait_for_runs: bool = True) -> datetime:
        """``run_for`` for synchronous tests of a (sync) ``Scheduler``."""
        return asyncio.run(self.run_for(delta, wait_for_runs=wait_for_runs))

    # -- attachment (called by the scheduler) -------------------------------------------

    def attach(self, engine: Settles) -> Callable[[], None]:
        """Make ``settle()`` wait for ``engine``; return a function that detaches it."""
        self._engines.append(engine)

        def detach() -> None:
            if engine in self._engines:
                self._engines.remove(engine)

        return detach

    def __repr__(self) -> str:
        return f"<FakeClock {self._now.isoformat()}>"
