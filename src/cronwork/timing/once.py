"""One-shot schedules: ``at 2026-12-01 10:00`` fires once."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronwork.errors import ScheduleError
from cronwork.timing.base import LATEST, Schedule, require_aware
from cronwork.timing.zones import format_instant, localize

__all__ = ["OnceSchedule"]


class OnceSchedule(Schedule):
    """Fires once at ``when``; a naive ``when`` is a wall time in ``tz``.

    A wall time that a DST change skips fires at the instant of the jump and a repeated one
    at its first occurrence, as cron would.
    """

    when: datetime

    def __init__(self, when: datetime, tz: ZoneInfo) -> None:
        if not isinstance(when, datetime):
            raise ScheduleError(f"when must be a datetime, got {type(when).__name__} {when!r}")
        if not isinstance(tz, ZoneInfo):
            raise ScheduleError(f"tz must be a zoneinfo.ZoneInfo, got {type(tz).__name__}")
        if when.tzinfo is None or when.utcoffset() is None:
            when = localize(when, tz)
        require_aware(when, "when")
        if when >= LATEST:
            raise ScheduleError(
                f"one-shot time {when.isoformat()} is too late: it must be before "
                f"{LATEST.date().isoformat()}"
            )
        self.tz = tz
        self.when = when.astimezone(UTC)
        self.source = f"at {self.when.astimezone(tz).isoformat()}"

    def next_after(self, moment: datetime) -> datetime | None:
        """Return ``when`` if it is strictly after ``moment``, else None."""
        require_aware(moment)
        return self.when if self.when > moment else None

    def describe(self) -> str:
        """Return e.g. ``Once at 2026-12-01 10:00 CET``."""
        return f"Once at {format_instant(self.when, self.tz)}"
