"""Cron expressions: parsing, next fire time, and plain-language descriptions.

Semantics follow Debian/Vixie cron as the cronsim library implements them; see docs/cron.md.
The engine works in naive local wall time (plain integer arithmetic plus bisection over
precomputed tuples) and converts to an aware datetime once per result. Daylight-saving
transitions are only looked at when the start or the result is near one.
"""

from __future__ import annotations

import functools
import hashlib
import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from cronwork.errors import ScheduleError
from cronwork.timing.base import Schedule, require_aware

__all__ = ["CronSchedule"]

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Without a year field the search stops where datetime does.
_LAST_YEAR = 9999
_FIXED_ZONES = frozenset(
    {"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"}
    | {"GMT", "Etc/GMT", "GMT0", "Etc/GMT0", "GMT+0", "GMT-0", "Greenwich", "Etc/Greenwich"}
)
_ONE_SECOND = timedelta(seconds=1)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    lo: int
    hi: int
    names: tuple[str, ...] = ()
    # The first value that names[0] stands for (JAN=1, SUN=0).
    names_base: int = 0
    # H picks from this range; day-of-month stays within 1-28 so it fires every month.
    hash_lo: int = 0
    hash_hi: int = 0


SECOND = _FieldSpec("second", 0, 59, hash_hi=59)
MINUTE = _FieldSpec("minute", 0, 59, hash_hi=59)
HOUR = _FieldSpec("hour", 0, 23, hash_hi=23)
DOM = _FieldSpec("day-of-month", 1, 31, hash_lo=1, hash_hi=28)
MONTH = _FieldSpec("month", 1, 12, MONTH_NAMES, 1, hash_lo=1, hash_hi=12)
DOW = _FieldSpec("day-of-week", 0, 7, DAY_NAMES, 0, hash_hi=6)
YEAR = _FieldSpec("year", 1970, 2199, hash_lo=1970, hash_hi=2199)

_NUMBER = re.compile(r"[0-9]+\Z")
_WORD = re.compile(r"[A-Z]+\Z")
_HASH = re.compile(r"H(?:\((?P<a>[^)]*)-(?P<b>[^)]*)\))?(?:/(?P<step>.*))?\Z")


def hash_value(job_id: str, field: str) -> int:
    """Return the stable 64-bit hash of ``job_id`` for one cron field (the H symbol)."""
    digest = hashlib.blake2b(f"{job_id}\x00{field}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass
class _DaySpec:
    """The day-of-month and day-of-week fields, resolved per month shape."""

    dom: frozenset[int]
    dom_from_last: frozenset[int]  # L is 0, L-3 is 3
    dom_nearest_weekday: frozenset[int]  # 15W is 15
    dom_last_weekday: bool  # LW
    dow: frozenset[int]  # 0 is Sunday
    dow_last: frozenset[int]  # 5L: the last Friday
    dow_nth: frozenset[tuple[int, int]]  # 5#2: (5, 2), the second Friday
    # Cron's rule: both fields restricted means either may match; a field that begins with
    # "*" (or "?") counts as unrestricted, and then both must match.
    both_must_match: bool

    def days(self, first_weekday: int, length: int) -> tuple[int, ...]:
        """Return the matching days of a month starting on ``first_weekday`` (Monday=0)."""
        dom_days = set(d for d in self.dom if d <= length)
        for back in self.dom_from_last:
            if length - back >= 1:
                dom_days.add(length - back)
        if self.dom_nearest_weekday or self.dom_last_weekday:
            # Python weekday of a day: Monday 0 ... Sunday 6.
            def weekday(day: int) -> int:
                return (first_weekday + day - 1) % 7

            for day in self.dom_nearest_weekday:
                if day <= length:
                    dom_days.add(_nearest_weekday(day, weekday(day), length))
            if self.dom_last_weekday:
                dom_days.add(_nearest_weekday(length, weekday(length), length))
        dow_days = set()
        for day in range(1, length + 1):
            cron_dow = (first_weekday + day) % 7  # Sunday 0
            if (
                cron_dow in self.dow
                or (cron_dow in self.dow_last and day + 7 > length)
                or (cron_dow, (day + 6) // 7) in self.dow_nth
            ):
                dow_days.add(day)
        matched = dom_days & dow_days if self.both_must_match else dom_days | dow_days
        return tuple(sorted(matched))


def _nearest_weekday(day: int, weekday: int, length: int) -> int:
    """Return the weekday nearest to ``day`` without leaving the month (the W rule)."""
    if weekday == 5:  # Saturday: Friday before, unless that is in the previous month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, unless that is in the next month
        return day + 1 if day < length else day - 2
    return day


def _month_shape(year: int, month: int) -> tuple[int, int]:
    length = _DAYS_IN_MONTH[month]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        length = 29
    return datetime(year, month, 1).weekday(), length


class _Parser:
    """Turns one expression into value sets, raising ScheduleError with a column on error."""

    def __init__(self, text: str, job_id: str | None) -> None:
        self.text = text
        self.job_id = job_id

    def fail(self, field: _FieldSpec, token: str, column: int, problem: str) -> ScheduleError:
        where = f'(column {column} of "{self.text}")'
        return ScheduleError(f"{field.name} {token} {problem} {where}")

    def allowed(self, field: _FieldSpec) -> str:
        return f"(allowed {field.lo}-{field.hi})"

    def number(self, field: _FieldSpec, token: str, column: int) -> int:
        if field.names and _WORD.match(token) and token in field.names:
            return field.names.index(token) + field.names_base
        if not _NUMBER.match(token):
            if field.names:
                choices = f"{field.names[0]}-{field.names[-1]} or {field.lo}-{field.hi}"
                raise self.fail(field, token, column, f"is not a number or name ({choices})")
            raise self.fail(field, token, column, f"is not a number {self.allowed(field)}")
        # Guard int() against huge digit strings; anything this long is out of range anyway.
        value = int(token) if len(token) <= 6 else field.hi + 1
        if not field.lo <= value <= field.hi:
            raise self.fail(field, token, column, f"out of range {field.lo}-{field.hi}")
        return value

    def step(self, field: _FieldSpec, token: str, column: int) -> int:
        if not _NUMBER.match(token):
            raise self.fail(field, token, column, f"is not a step number {self.allowed(field)}")
        value = int(token) if len(token) <= 6 else 10**6
        if value == 0:
            raise self.fail(field, token, column, f"is a zero step {self.allowed(field)}")
        return value

    def values(self, field: _FieldSpec, item: str, column: int) -> Iterable[int]:
        """Expand one list item (no specials) into the values it stands for."""
        if item.startswith("H"):
            return self.hashed(field, item, column)
        base, slash, step_text = item.partition("/")
        step = self.step(field, step_text, column + len(base) + 1) if slash else 1
        if base in ("*", "?"):
            return range(field.lo, field.hi + 1, step)
        start_text, dash, end_text = base.partition("-")
        start = self.number(field, start_text, column)
        if dash:
            end = self.number(field, end_text, column + len(start_text) + 1)
            if end < start:
                raise self.fail(field, base, column, f"is a reversed range {self.allowed(field)}")
        else:
            # "a/n" runs to the end of the field, "a" alone is just a.
            end = field.hi if slash else start
        return range(start, end + 1, step)

    def hashed(self, field: _FieldSpec, item: str, column: int) -> Iterable[int]:
        match = _HASH.match(item)
        if match is None:
            raise self.fail(field, item, column, "is not H, H(a-b), H/n or H(a-b)/n")
        if self.job_id is None:
            raise self.fail(field, item, column, "needs a job id to hash (H)")
        lo, hi = field.hash_lo, field.hash_hi
        if match["a"] is not None:
            lo = self.number(field, match["a"], column + 2)
            hi = self.number(field, match["b"], column + 3 + len(match["a"]))
            if hi < lo:
                raise self.fail(field, item, column, f"is a reversed range {self.allowed(field)}")
        seed = hash_value(self.job_id, field.name)
        if match["step"] is None:
            return (lo + seed % (hi - lo + 1),)
        step = self.step(field, match["step"], column + item.index("/") + 1)
        return range(lo + seed % min(step, hi - lo + 1), hi + 1, step)

    def plain_field(self, field: _FieldSpec, text: str, column: int) -> frozenset[int]:
        result: set[int] = set()
        for item, item_column in _items(text, column):
            if item == "?":
                raise self.fail(field, item, item_column, "is only allowed in the day fields")
            result.update(self.values(field, item, item_column))
        return frozenset(result)

    def dom_field(self, text: str, column: int) -> tuple[set[int], set[int], set[int], bool]:
        plain: set[int] = set()
        from_last: set[int] = set()
        nearest: set[int] = set()
        last_weekday = False
        for item, item_column in _items(text, column):
            if item == "L":
                from_last.add(0)
            elif item == "LW":
                last_weekday = True
            elif item.startswith("L-"):
                offset = item[2:]
                if not _NUMBER.match(offset) or len(offset) > 2 or int(offset) > 30:
                    raise self.fail(DOM, item, item_column, "is not L-n with n 0-30")
                from_last.add(int(offset))
            elif item.endswith("W") and not item.startswith("H"):
                nearest.add(self.number(DOM, item[:-1], item_column))
            else:
                plain.update(self.values(DOM, item, item_column))
        return plain, from_last, nearest, last_weekday

    def dow_field(self, text: str, column: int) -> tuple[set[int], set[int], set[tuple[int, int]]]:
        plain: set[int] = set()
        last: set[int] = set()
        nth: set[tuple[int, int]] = set()
        for item, item_column in _items(text, column):
            if "#" in item:
                day_text, _, nth_text = item.partition("#")
                day = self.number(DOW, day_text, item_column) % 7
                nth_column = item_column + len(day_text) + 1
                if not _NUMBER.match(nth_text) or len(nth_text) > 1 or not 1 <= int(nth_text) <= 5:
                    raise self.fail(DOW, item, nth_column, "needs #1 to #5 after the day")
                nth.add((day, int(nth_text)))
            elif item.endswith("L") and len(item) > 1 and not item.startswith("H"):
                last.add(self.number(DOW, item[:-1], item_column) % 7)
            else:
                plain.update(value % 7 for value in self.values(DOW, item, item_column))
        return plain, last, nth


def _items(text: str, column: int) -> Iterable[tuple[str, int]]:
    for item in text.split(","):
        yield item, column
        column += len(item) + 1


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
        self._parse(expression)
        self._days_cache: dict[int, tuple[int, ...]] = {}
        self._shape_tables: dict[tuple[int, int], tuple[int, ...]] = {}
        key = getattr(tz, "key", None) or ""
        # Zones that tzdata defines with a single fixed offset never need DST checks.
        self._fixed_zone = key in _FIXED_ZONES or key.startswith("Etc/GMT")
        self._check_can_fire()

    # -- parsing -------------------------------------------------------------------------

    def _parse(self, expression: str) -> None:
        tokens = [(m.group(), m.start() + 1) for m in re.finditer(r"\S+", expression)]
        if not tokens:
            raise ScheduleError("empty cron expression: expected 5, 6 or 7 fields")
        parser = _Parser(expression, self.job_id)
        if tokens[0][0].startswith("@"):
            alias, column = tokens[0]
            if len(tokens) != 1 or alias.lower() not in ALIASES:
                choices = ", ".join(ALIASES)
                raise ScheduleError(
                    f'unknown alias {alias} (column {column} of "{expression}"); use one of '
                    f"{choices}"
                )
            expanded = ALIASES[alias.lower()]
            tokens = [(m.group(), column) for m in re.finditer(r"\S+", expanded)]
        if len(tokens) not in (5, 6, 7):
            raise ScheduleError(
                f'expected 5, 6 or 7 fields, got {len(tokens)} in "{expression}" '
                "(minute hour day-of-month month day-of-week; seconds first if 6 or 7; year last)"
            )
        tokens = [(text.upper(), column) for text, column in tokens]
        if len(tokens) == 5:
            tokens.insert(0, ("0", 0))
            self.has_seconds = False
        else:
            self.has_seconds = True
        year_token = tokens[6] if len(tokens) == 7 else None

        sec_text, min_text, hour_text = tokens[0][0], tokens[1][0], tokens[2][0]
        self.seconds = tuple(sorted(parser.plain_field(SECOND, *tokens[0])))
        self.minutes = tuple(sorted(parser.plain_field(MINUTE, *tokens[1])))
        self.hours = tuple(sorted(parser.plain_field(HOUR, *tokens[2])))
        self.months = tuple(sorted(parser.plain_field(MONTH, *tokens[4])))
        self.years: tuple[int, ...] | None = None
        if year_token is not None and year_token[0] not in ("*", "?"):
            self.years = tuple(sorted(parser.plain_field(YEAR, *year_token)))
        dom_text, dow_text = tokens[3][0], tokens[5][0]
        dom, from_last, nearest, last_weekday = parser.dom_field(*tokens[3])
        dow, dow_last, dow_nth = parser.dow_field(*tokens[5])
        self._day_spec = _DaySpec(
            frozenset(dom),
            frozenset(from_last),
            frozenset(nearest),
            last_weekday,
            frozenset(dow),
            frozenset(dow_last),
            frozenset(dow_nth),
            both_must_match=dom_text.startswith(("*", "?")) or dow_text.startswith(("*", "?")),
        )
        self._texts = [text for text, _ in tokens]
        # Debian cron moves a fixed-time job out of a DST gap and runs it once in a repeated
        # hour; jobs whose minute or hour begins with "*" follow elapsed time instead.
        self.fixed_time = not any(
            text.startswith("*") for text in (min_text, hour_text) + (sec_text,) * self.has_seconds
        )
        self._next_second = _next_table(self.seconds, 60)
        self._next_minute = _next_table(self.minutes, 60)
        self._next_hour = _next_table(self.hours, 24)
        self._next_month = _next_table(self.months, 13)
        self._year_set = frozenset(self.years or ())

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
        return _Describer(self).sentence()


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


_ORDINALS = ("", "first", "second", "third", "fourth", "fifth")
_FULL_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_FULL_MONTHS = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _join(words: list[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def _runs(values: Iterable[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for value in sorted(values):
        if runs and runs[-1][1] == value - 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _listing(values: Iterable[int], name: object = str) -> str:
    """Say a set of values compactly: runs of three or more become "a through b"."""
    namer = name if callable(name) else str
    words: list[str] = []
    for start, end in _runs(values):
        if end - start >= 2:
            words.append(f"{namer(start)} through {namer(end)}")
        else:
            words.extend(namer(value) for value in range(start, end + 1))
    return _join(words)


def _step(values: tuple[int, ...], field: _FieldSpec) -> int | None:
    """Return n when values are exactly every n-th value of the field from its start."""
    if len(values) < 2:
        return None
    step = values[1] - values[0]
    if values[0] == field.lo and values == tuple(range(field.lo, field.hi + 1, step)):
        return step
    return None


def _nth(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


class _Describer:
    """Builds the plain-language sentence that CronSchedule.describe() returns."""

    def __init__(self, schedule: CronSchedule) -> None:
        self.s = schedule

    def sentence(self) -> str:
        return self.time() + self.days() + self.months() + self.years()

    def time(self) -> str:
        s = self.s
        secs, mins, hours = s.seconds, s.minutes, s.hours
        every_second = len(secs) == 60
        if len(mins) == 1 and len(secs) == 1 and len(hours) <= 4:
            clock = "%02d:%02d" + (":%02d" if secs[0] else "")
            stamps = [
                clock % ((hour, mins[0], secs[0]) if secs[0] else (hour, mins[0])) for hour in hours
            ]
            return "At " + _join(stamps)
        parts: list[str] = []
        if every_second:
            parts.append("Every second")
        elif secs != (0,):
            step = _step(secs, SECOND)
            parts.append(f"Every {step} seconds" if step else f"At second {_listing(secs)}")
        if len(mins) == 60:
            if not parts:
                parts.append("Every minute")
        else:
            step = _step(mins, MINUTE)
            if step:
                text = f"every {step} minutes"
            elif len(mins) == 1:
                text = f"at minute {mins[0]}"
            else:
                text = f"at minutes {_listing(mins)}"
            parts.append(text if parts else text[0].upper() + text[1:])
        if len(hours) != 24:
            step = _step(hours, HOUR)
            if step:
                parts.append(f"past every {_nth(step)} hour")
            else:
                parts.append(f"past hour {_listing(hours)}")
        elif len(mins) < 60 and not _step(mins, MINUTE):
            parts.append("of every hour")
        return " ".join(parts)

    def dom_phrase(self) -> str | None:
        s = self.s
        spec = s._day_spec
        if s._texts[3] in ("*", "?"):
            return None
        words: list[str] = []
        step = _step(tuple(sorted(spec.dom)), DOM)
        if step and not (spec.dom_from_last or spec.dom_nearest_weekday):
            words.append(f"every {_nth(step)} day")
        elif spec.dom:
            label = "day" if len(spec.dom) == 1 else "days"
            words.append(f"{label} {_listing(spec.dom)}")
        for back in sorted(spec.dom_from_last):
            words.append("the last day" if back == 0 else f"{back} days before the last day")
        for day in sorted(spec.dom_nearest_weekday):
            words.append(f"the weekday nearest day {day}")
        if spec.dom_last_weekday:
            words.append("the last weekday")
        return "on " + _join(words, "or") + " of the month"

    def dow_phrase(self) -> tuple[str, bool] | None:
        """Return the day-of-week phrase and whether it is a plain list of weekdays."""
        s = self.s
        spec = s._day_spec
        if s._texts[5] in ("*", "?"):
            return None
        words: list[str] = []
        if spec.dow:
            words.append(_listing(spec.dow, lambda day: _FULL_DAYS[day]))
        for day in sorted(spec.dow_last):
            words.append(f"the last {_FULL_DAYS[day]} of the month")
        for day, nth in sorted(spec.dow_nth):
            words.append(f"the {_ORDINALS[nth]} {_FULL_DAYS[day]} of the month")
        plain = not (spec.dow_last or spec.dow_nth)
        return _join(words, "or"), plain

    def days(self) -> str:
        dom = self.dom_phrase()
        dow = self.dow_phrase()
        if dom is None and dow is None:
            return ""
        if dow is None:
            assert dom is not None
            return " " + dom
        dow_text, plain = dow
        if dom is None:
            return (", " if plain else " on ") + dow_text
        joiner = " if it is " if self.s._day_spec.both_must_match else " or on "
        return " " + dom + joiner + dow_text

    def months(self) -> str:
        if len(self.s.months) == 12:
            return ""
        return " in " + _listing(self.s.months, lambda month: _FULL_MONTHS[month])

    def years(self) -> str:
        return "" if self.s.years is None else " in " + _listing(self.s.years)
