"""The Schedule contract every schedule kind implements."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronwork.errors import ScheduleError

# The latest instant a schedule bound or a one-shot may name: a thousand years below
# datetime.max, so that adding any job duration (at most durations.MAX_DURATION) or a
# zone offset to a slot never overflows.
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def require_aware(moment: datetime, what: str = "moment") -> None:
    """Raise ScheduleError unless ``moment`` is a timezone-aware datetime."""
    if not isinstance(moment, datetime):
        raise ScheduleError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ScheduleError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")


class Schedule(ABC):
    """When a job fires: ``next_after(moment)`` is the whole contract.

    ``source`` is text that ``parse_schedule(source, tz=self.tz)`` turns back into an equal
    schedule; stores persist it with the zone name.
    """

    tz: ZoneInfo
    source: str

    @abstractmethod
    def next_after(self, moment: datetime) -> datetime | None:
        """Return the first fire instant strictly after ``moment``, or None when exhausted."""

    @abstractmethod
    def describe(self) -> str:
        """Return a human description, e.g. ``At 09:00, Monday through Friday``."""

    @functools.cached_property
    def description(self) -> str:
        """``describe()``, worked out once: a schedule never changes, and stores share one
        object per schedule text and zone, so a listing of many jobs describes each once."""
        return self.describe()

    def upcoming(self, count: int, after: datetime | None = None) -> list[datetime]:
        """Return up to ``count`` successive fire instants after ``after`` (default: now)."""
        moment = after if after is not None else datetime.now(UTC)
        require_aware(moment, "after")
        result: list[datetime] = []
        while len(result) < count:
            nxt = self.next_after(moment)
            if nxt is None:
                break
            result.append(nxt)
            moment = nxt
        return result

    @property
    def is_triggered(self) -> bool:
        """True for schedules driven by other jobs' outcomes rather than by time."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.source!r} tz={self.tz.key}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return type(self) is type(other) and (self.source, self.tz.key) == (
            other.source,
            other.tz.key,
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.source, self.tz.key))
