"""Waiting out an outage: exponential delays between attempts, and one log line each way.

An engine that cannot reach its store, or a store whose listening connection broke, tries
again after a delay that doubles from ``first`` up to ``cap``. The outage is logged once
when it starts (a warning) and once when it ends (how long it lasted), never per attempt, so
a database down for an hour leaves two lines rather than thousands.
"""

from __future__ import annotations

import logging
import time


class Backoff:
    """The delays and the log lines of the attempts to reach ``what``."""

    def __init__(
        self, what: str, logger: logging.Logger, first: float = 0.5, cap: float = 30.0
    ) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first <= cap, not first={first}, cap={cap}")
        self.what = what
        self.logger = logger
        self.first = first
        self.cap = cap
        self.failures = 0
        self._since = 0.0

    @property
    def down(self) -> bool:
        """True from a failed attempt until the next one that succeeds."""
        return self.failures > 0

    def failed(self, error: object) -> float:
        """Note a failed attempt; return how long to wait before the next (seconds)."""
        if self.failures == 0:
            self._since = time.monotonic()
            self.logger.warning("%s failed: %s; trying again with backoff", self.what, error)
        else:
            self.logger.debug("%s failed again: %s", self.what, error)
        delay = min(self.cap, self.first * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return delay

    def succeeded(self) -> bool:
        """Note a successful attempt; True when it ends an outage (logged once)."""
        if self.failures == 0:
            return False
        lasted = time.monotonic() - self._since
        self.logger.warning(
            "%s works again after %.1f s (%d failed attempt(s))", self.what, lasted, self.failures
        )
        self.failures = 0
        return True
