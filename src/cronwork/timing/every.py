"""Interval schedules: ``every 30m``, anchored so fire times never drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronwork.errors import ScheduleError
from cronwork.timing.base import Schedule, require_aware
from cronwork.timing.durations import MAX_DURATION, format_duration
from cronwork.timing.zones import format_instant

__all__ = ["EPOCH", "MAX_INTERVAL", "MIN_INTERVAL", "EverySchedule"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Below a second the claim/dispatch round trip of a store dominates the interval itself.
MIN_INTERVAL = timedelta(seconds=1)
# Longer intervals are rarely meant (use a cron expression for yearly jobs), and huge ones
# overflow datetime when the next slot is computed.
MAX_INTERVAL = MAX_DURATION


class EverySchedule(Schedule):
    """Fires at ``anchor + k * interval`` for every integer k, in elapsed (UTC) time.

    The default anchor is the Unix epoch, so ``every 1h`` fires on the hour (in whole-hour
    zones) on every node and after every restart. Because the arithmetic is in elapsed time,
    ``every 1d`` fires at 00:00 UTC, not at local midnight; use ``every day at 00:00`` for that.
    """

    interval: timedelta
    anchor: datetime

    def __init__(self, interval: timedelta, tz: ZoneInfo, anchor: datetime | None = None) -> None:
        if not isinstance(interval, timedelta):
            raise ScheduleError(
                f"interval must be a timedelta, got {type(interval).__name__} {interval!r}"
            )
        if interval < MIN_INTERVAL:
            raise ScheduleError(
                f"interval {format_duration(interval)} is shorter than the minimum of 1s"
            )
        if interval > MAX_INTERVAL:
            raise ScheduleError(
                f"interval {format_duration(interval)} is too long: it must be at most "
                f"{format_duration(MAX_INTERVAL)}; for yearly jobs use a cron expression"
            )
        if not isinstance(tz, ZoneInfo):
            raise ScheduleError(f"tz must be a zoneinfo.ZoneInfo, got {type(tz).__name__}")
        if anchor is None:
            anchor = EPOCH
        require_aware(anchor, "anchor")
        self.interval = interval
        self.tz = tz
        self.anchor = anchor.astimezone(UTC)
        self.source = f"every {format_duration(interval)}"
        if self.anchor != EPOCH:
            self.source += f" from {self.anchor.astimezone(tz).isoformat()}"

    def next_after(self, moment: datetime) -> datetime | None:
        """Return the first ``anchor + k * interval`` strictly after ``moment``."""
        # Aware datetimes subtract across zones; a naive one (or none at all) raises
        # TypeError here, and require_aware turns that into the error that says so.
        try:
            steps = (moment - self.anchor) // self.interval + 1
        except TypeError:
            require_aware(moment)
            raise
        try:
            return self.anchor + steps * self.interval
        except OverflowError:
            return None

    def describe(self) -> str:
        """Return e.g. ``Every 1h30m`` or ``Every 1h, counted from 2026-01-01 00:30 CET``."""
        text = f"Every {format_duration(self.interval)}"
        if self.anchor != EPOCH:
            text += f", counted from {format_instant(self.anchor, self.tz)}"
        return text
