"""Cron expressions: the next fire time (parsing is in cron_parse.py, words in cron_describe.py).

Semantics follow Debian/Vixie cron as the cronsim library implements them; see docs/cron.md.
The engine works in naive local wall time (plain integer arithmetic plus bisection over
precomputed tuples) and converts to an aware datetime once per result. Daylight-saving
transitions are only looked at when the start or the result is near one.
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from cronwork.errors import ScheduleError
from cronwork.timing.base import Schedule, require_aware
from cronwork.timing.cron_describe import describe_cron
from cronwork.timing.cron_parse import parse_cron

__all__ = ["CronSchedule"]

# Without a year field the search stops where datetime does.
_LAST_YEAR = 9999
_FIXED_ZONES = frozenset(
    {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"}
    | {"GMT", "Etc/GMT", "GMT0", "Etc/GMT0", "GMT+0", "GMT-0", "Greenwich", "Etc/Greenwich"}
)
_ONE_SECOND = timedelta(seconds=1)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_shape(year: int, month: int) -> tuple[int, int]:
    length = _DAYS_IN_MONTH[month]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        length = 29
    return datetime(year, month, 1).weekday(), length


def _next_table(values: Iterable[int], size: int) -> tuple[int, ...]:
    """Map each v in 0..size to the first allowed value >= v, or -1 when there is none."""
    return _cached_next_table(frozenset(values), size)


@functools.lru_cache(maxsize=512)
def _cached_next_table(allowed: frozenset[int], size: int) -> tuple[int, ...]:
    # Most expressions share a handful of value sets ("*", "0"), so tables are shared too.
    table = [-1] * (size + 1)
    following = -1
    for value in range(size, -1, -1):
        if value in allowed:
            following = value
        table[value] = following
    return tuple(table)


class CronSchedule(Schedule):
    """A cron expression in a time zone: 5 fields, or 6 with seconds first, or 7 with a year."""

    def __init__(self, expression: str, tz: ZoneInfo, job_id: str | None = None) -> None:
        if not isinstance(expression, str):
            raise ScheduleError(f"cron expression must be a string, got {type(expression)}")
        if not isinstance(tz, tzinfo):
            raise ScheduleError(f"tz must be a ZoneInfo, got {type(tz).__name__}")
        if job_id is not None and not isinstance(job_id, str):
            raise ScheduleError(f"job_id must be a string, got {type(job_id).__name__}")
        self.source = expression.strip()
        self.tz = tz
        self.job_id = job_id
        fields = self.fields = parse_cron(expression, job_id)
        self.has_seconds = fields.has_seconds
        self.seconds = fields.seconds
        self.minutes = fields.minutes
        self.hours = fields.hours
        self.months = fields.months
        self.years = fields.years
        self.fixed_time = fields.fixed_time
        self._day_spec = fields.day_spec
        self._texts = fields.texts
        self._next_second = _next_table(self.seconds, 60)
        self._next_minute = _next_table(self.minutes, 60)
        self._next_hour = _next_table(self.hours, 24)
        self._next_month = _next_table(self.months, 13)
        self._year_set = frozenset(self.years or ())
        self._days_cache: dict[int, tuple[int, ...]] = {}
        self._shape_tables: dict[tuple[int, int], tuple[int, ...]] = {}
        key = getattr(tz, "key", None) or ""
        # Zones that tzdata defines with a single fixed offset never need DST checks.
        self._fixed_zone = key in _FIXED_ZONES or key.startswith("Etc/GMT")
        self._check_can_fire()

    # -- parsing -------------------------------------------------------------------------

    def _check_can_fire(self) -> None:
        """Reject expressions whose day fields match no day in any allowed month."""
        spec = self._day_spec
        if self.years is None and spec.both_must_match:
            # The common shapes need no search: plain weekdays occur in every month, and so
            # do days 1-28 and the last-day specials.
            dom_any, dow_any = self._texts[3] in ("*", "?"), self._texts[5] in ("*", "?")
            if dom_any and (dow_any or spec.dow):
                return
            if dow_any and (min(spec.dom, default=99) <= 28 or spec.dom_last_weekday):
                return
        if self.years is None:
            # Every month starts on every weekday somewhere in the 400-year cycle, and
            # February comes both with 28 and with 29 days.
            for month in self.months:
                lengths = (29, 28) if month == 2 else (_DAYS_IN_MONTH[month],)
                for length in lengths:
                    for first_weekday in range(7):
                        if self._day_spec.days(first_weekday, length):
                            return
        else:
            for year in self.years:
                for month in self.months:
                    if self._days(year, month):
                        return
        raise ScheduleError(
            f'cron expression "{self.source}" can never fire: no day matches '
            f"day-of-month {self._texts[3]} and day-of-week {self._texts[5]} in month "
            f"{self._texts[4]}" + (f" of year {self._texts[6]}" if self.years else "")
        )

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        return self._day_spec.days(*_month_shape(year, month))

    def _day_table(self, year: int, month: int) -> tuple[int, ...]:
        # Months repeat in at most 14 shapes (first weekday, length), so resolve the day
        # rules once per shape and keep a small per-month index on top.
        shape = _month_shape(year, month)
        table = self._shape_tables.get(shape)
        if table is None:
            table = self._shape_tables[shape] = _next_table(self._day_spec.days(*shape), 32)
        if len(self._days_cache) > 4096:
            self._days_cache.clear()
        self._days_cache[year * 16 + month] = table
        return table

    # -- searching -----------------------------------------------------------------------

    def _wall_at_or_after(
        self, year: int, month: int, day: int, hour: int, minute: int, second: int
    ) -> tuple[int, int, int, int, int, int] | None:
        """Return the first matching wall time at or after the given one (fields may overflow)."""
        next_second, next_minute, next_hour = self._next_second, self._next_minute, self._next_hour
        next_month, years, days_cache = self._next_month, self.years, self._days_cache
        last_year = years[-1] if years else _LAST_YEAR
        # Each table maps a value to the first allowed value at or after it, or -1. Each
        # "continue" carries into the next larger unit and restarts from the top; the
        # fields below the one that moved reset to their smallest value.
        while True:
            if second > 59:
                second, minute = 0, minute + 1
            if minute > 59:
                minute, hour = 0, hour + 1
            if hour > 23:
                hour, day = 0, day + 1
            if month > 12:
                month, year, day = 1, year + 1, 1
            if year > last_year:
                return None
            if years is not None and year not in self._year_set:
                index = bisect_left(years, year)
                if index == len(years):
                    return None
                year, month, day, hour, minute, second = years[index], 1, 1, 0, 0, 0
            found = next_month[month]
            if found < 0:
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if found != month:
                month, day, hour, minute, second = found, 1, 0, 0, 0
            next_day = days_cache.get(year * 16 + month)
            if next_day is None:
                next_day = self._day_table(year, month)
            found = next_day[day] if day <= 32 else -1
            if found < 0:
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                continue
            if found != day:
                day, hour, minute, second = found, 0, 0, 0
            found = next_hour[hour]
            if found < 0:
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if found != hour:
                hour, minute, second = found, 0, 0
            found = next_minute[minute]
            if found < 0:
                hour, minute, second = hour + 1, 0, 0
                continue
            if found != minute:
                minute, second = found, 0
            found = next_second[second]
            if found < 0:
                minute, second = minute + 1, 0
                continue
            return year, month, day, hour, minute, found

    def _wall_after(self, wall: datetime) -> datetime | None:
        """Return the first matching naive wall time strictly after ``wall`` (whole seconds)."""
        found = self._wall_at_or_after(
            wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second + 1
        )
        return None if found is None else datetime(*found)

    def next_after(self, moment: datetime) -> datetime | None:
        """Return the first fire instant strictly after ``moment``, in ``tz``, or None."""
        if moment.__class__ is not datetime or moment.tzinfo is None:
            require_aware(moment)
        tz = self.tz
        try:
            local = moment.astimezone(tz)
        except OverflowError:
            return None
        # The hot path: no DST transition at the start or at the result. Constructors are
        # used instead of datetime.replace(), which costs more per call on this path.
        year, month, day = local.year, local.month, local.day
        hour, minute, second = local.hour, local.minute, local.second
        if self._fixed_zone:
            found = self._wall_at_or_after(year, month, day, hour, minute, second + 1)
            return None if found is None else datetime(*found, 0, tz)
        flipped = datetime(year, month, day, hour, minute, second, 0, tz, fold=1 - local.fold)
        if flipped.utcoffset() == local.utcoffset():
            found = self._wall_at_or_after(year, month, day, hour, minute, second + 1)
            if found is None:
                return None
            result = datetime(*found, 0, tz)
            if result.utcoffset() == datetime(*found, 0, tz, fold=1).utcoffset():
                return result
        return self._next_near_transition(moment, local)

    def _next_near_transition(self, moment: datetime, local: datetime) -> datetime | None:
        """The careful path, used when the start or the candidate is in a DST gap or fold."""
        tz = self.tz
        wall = local.replace(tzinfo=None)
        # Compare instants in UTC: aware datetimes sharing a tzinfo compare by wall time
        # and ignore fold, which is exactly what differs inside a repeated hour.
        start = moment.astimezone(UTC)
        # Wall times repeated by a fall-back that is still ahead of `moment`: elapsed-time
        # jobs fire on the second pass too, so remember where that second pass starts.
        repeat: tuple[datetime, datetime] | None = None
        if local.fold == 0 and local.replace(fold=1).utcoffset() != local.utcoffset():
            repeat = _fold_range(wall, tz)
        candidate: datetime | None = wall
        while True:
            assert candidate is not None
            candidate = self._wall_after(candidate)
            if repeat is not None and (candidate is None or candidate >= repeat[1]):
                first_pass_end = repeat[1]
                second_pass_start = repeat[0]
                repeat = None
                if not self.fixed_time:
                    again = self._wall_after(second_pass_start - _ONE_SECOND)
                    if again is not None and again < first_pass_end:
                        return again.replace(tzinfo=tz, fold=1)
            if candidate is None:
                return None
            early = candidate.replace(tzinfo=tz)
            late = candidate.replace(tzinfo=tz, fold=1)
            early_offset, late_offset = early.utcoffset(), late.utcoffset()
            if early_offset == late_offset:
                return early
            assert early_offset is not None and late_offset is not None
            if early_offset > late_offset:
                # Repeated wall time: the first pass unless it is not after `moment`.
                if early.astimezone(UTC) > start:
                    return early
                if not self.fixed_time and late.astimezone(UTC) > start:
                    return late
                continue
            # A wall time skipped by spring-forward.
            if self.fixed_time:
                # Debian cron runs it right after the jump.
                return _gap_end(candidate, tz, late_offset - early_offset).replace(tzinfo=tz)

    # -- describing ----------------------------------------------------------------------

    def describe(self) -> str:
        """Return a human description, e.g. ``At 09:00, Monday through Friday``."""
        return describe_cron(self.fields)


def _is_skipped(wall: datetime, tz: tzinfo) -> bool:
    aware = wall.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall


def _gap_end(wall: datetime, tz: tzinfo, width: timedelta) -> datetime:
    """Return the first wall time that exists after ``wall``, which a spring-forward skipped."""
    # The gap is `width` wide, so wall + width exists; bisect in whole seconds for the first
    # existing wall time (the instant of the jump itself).
    lo, hi = 0, int(width.total_seconds())  # wall + lo is skipped, wall + hi exists
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _is_skipped(wall + timedelta(seconds=mid), tz):
            lo = mid
        else:
            hi = mid
    return wall + timedelta(seconds=hi)


def _fold_range(wall: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """Return the wall-time range [start, end) that a fall-back repeats, given a time in it."""
    wall = wall.replace(microsecond=0)
    early = wall.replace(tzinfo=tz)
    late = wall.replace(tzinfo=tz, fold=1)
    early_offset, late_offset = early.utcoffset(), late.utcoffset()
    assert early_offset is not None and late_offset is not None
    width = early_offset - late_offset
    # The fall-back happens at the instant where the first pass ends; it lies within
    # `width` of `wall`. Bisect in whole seconds on "is this wall time still repeated?".
    lo, hi = 0, int(width.total_seconds())  # wall + lo is repeated, wall + hi is not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        probe = (wall + timedelta(seconds=mid)).replace(tzinfo=tz)
        if probe.utcoffset() != probe.replace(fold=1).utcoffset():
            lo = mid
        else:
            hi = mid
    end = wall + timedelta(seconds=hi)
    return end - width, end
