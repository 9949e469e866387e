"""Time is injected: the engine asks a Clock for now() and sleeps through it."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """The source of time for the engine; tests pass cronwork.testing.FakeClock."""

    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return once ``now() >= moment`` (or earlier if woken; callers re-check)."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin that never goes backwards."""
        ...


class SystemClock:
    """The real wall clock."""

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
