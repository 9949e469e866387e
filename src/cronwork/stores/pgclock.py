"""Whose clock a PostgreSQL store's leases are on: the server's, whatever the engine's.

The Store protocol hands the store instants of the engine's clock (a fake one in tests),
while leases must be judged on one clock for the whole cluster, the server's, so that nodes
whose clocks drift apart still agree on which lease ran out. Both hold: the store keeps
``runs.lease_until`` on the server's timeline, and translates each engine instant by the
engine's offset to it (`ServerClock.skew`). That offset is two measured parts: the engine
clock against the local clock, measured once at the first call that passes ``now`` (zero
for the real clock, a constant for a fake one, so fake time still moves leases exactly as it
moves), and the local clock against the server's ``clock_timestamp()``, measured at open
and again every minute, and adopted when it moved by more than a quarter second (so noise
does not shift leases the store hands back). Lease deadlines written by a node and expiries
judged by another thus compare on the server's clock; lease values read back come in the
reader's engine clock. Every other instant (slots, start and finish times) is the engine's,
as in other stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import tuple_row

# How often the local clock's offset to the server's is measured again, and by how much it
# must have moved to be adopted (smaller moves are measurement noise).
OFFSET_EVERY = 60.0
OFFSET_STEP = timedelta(milliseconds=250)


def measure_offset(conn: psycopg.Connection[Any]) -> timedelta:
    """The server's clock minus the local clock, from one round trip."""
    before = time.time()
    cursor = conn.cursor(row_factory=tuple_row)
    (server,) = cursor.execute("SELECT clock_timestamp()").fetchone() or (None,)
    after = time.time()
    conn.rollback()
    local = datetime.fromtimestamp((before + after) / 2, UTC)
    return timedelta(0) if server is None else server - local


class ServerClock:
    """The offsets between the engine's clock, the local clock and the server's."""

    def __init__(self) -> None:
        # Engine clock minus local clock; None until a call passes ``now``.
        self._engine_offset: timedelta | None = None
        # Server clock minus local clock, and when (monotonic) it was measured.
        self._server_offset = timedelta(0)
        self._measured_at = float("-inf")

    def set(self, offset: timedelta) -> None:
        """Take ``offset`` (measure_offset's) as the server's, measured now."""
        self._server_offset = offset
        self._measured_at = time.monotonic()

    def skew(self, now: datetime | None = None) -> timedelta:
        """What to add to an engine instant to place it on the server's timeline."""
        if self._engine_offset is None:
            if now is None:
                return self._server_offset  # no engine instant seen: take it as the real clock
            self._engine_offset = now - datetime.now(UTC)
        return self._server_offset - self._engine_offset

    def refresh(self, measure: Callable[[], timedelta]) -> None:
        """Measure the local clock against the server's again, at most once a minute."""
        if time.monotonic() - self._measured_at < OFFSET_EVERY:
            return
        offset = measure()
        self._measured_at = time.monotonic()
        if abs(offset - self._server_offset) > OFFSET_STEP:
            self._server_offset = offset
