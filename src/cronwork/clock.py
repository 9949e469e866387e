"""Time is injected: the engine asks a Clock for now() and sleeps through it."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


class Clock(Protocol):
    """The source of time for the engine; tests pass cronwork.testing.FakeClock."""

    #: True when time passes by itself, as the event loop's own timers see it. The engine
    #: then starts due runs from loop timers and batches writes over a few milliseconds; a
    #: clock that moves only when told (a test clock) is followed through ``sleep_until``
    #: alone, and records are written at once since its time stands still meanwhile.
    real_time: bool

    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return once ``now() >= moment`` (or earlier if woken; callers re-check)."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin that never goes backwards."""
        ...


class Settles(Protocol):
    """An engine as a driving clock sees it: its loop, and a wait until it is idle."""

    loop: asyncio.AbstractEventLoop | None

    def idle(self, runs: bool = True) -> Awaitable[None]:
        """Return once everything due at the current time has been processed."""
        ...


@runtime_checkable
class DrivesEngines(Protocol):
    """An optional capability of a clock that steps engines through time (FakeClock).

    The engine attaches itself at start, so the clock can wait for it after each step, and
    detaches at stop with the function ``attach`` returned.
    """

    def attach(self, engine: Settles) -> Callable[[], None]:
        """Wait for ``engine`` after each step from now on; return a function that detaches it."""
        ...


class SystemClock:
    """The real wall clock."""

    real_time = True

    #: Return the current instant in UTC. A partial rather than a method: the engine reads
    #: the clock a few times per run, and this way no Python frame runs for it.
    now: Callable[[], datetime] = functools.partial(datetime.now, UTC)

    async def sleep_until(self, moment: datetime) -> None:
        """Sleep on the event loop until ``moment``."""
        delay = (moment - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    def monotonic(self) -> float:
        """Return time.monotonic()."""
        return time.monotonic()
