"""Cron expressions, parsed: each field's allowed values and the day rules (`parse_cron`).

The syntax follows Debian/Vixie cron with cronwork's extensions (see docs/cron.md); every
error names the field, the token and its column. `cron.py` computes fire times from what
this returns, and `cron_describe.py` puts it in words.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cronwork.errors import ScheduleError

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


@dataclass(frozen=True)
class FieldSpec:
    name: str
    lo: int
    hi: int
    names: tuple[str, ...] = ()
    # The first value that names[0] stands for (JAN=1, SUN=0).
    names_base: int = 0
    # H picks from this range; day-of-month stays within 1-28 so it fires every month.
    hash_lo: int = 0
    hash_hi: int = 0


SECOND = FieldSpec("second", 0, 59, hash_hi=59)
MINUTE = FieldSpec("minute", 0, 59, hash_hi=59)
HOUR = FieldSpec("hour", 0, 23, hash_hi=23)
DOM = FieldSpec("day-of-month", 1, 31, hash_lo=1, hash_hi=28)
MONTH = FieldSpec("month", 1, 12, MONTH_NAMES, 1, hash_lo=1, hash_hi=12)
DOW = FieldSpec("day-of-week", 0, 7, DAY_NAMES, 0, hash_hi=6)
YEAR = FieldSpec("year", 1970, 2199, hash_lo=1970, hash_hi=2199)

_NUMBER = re.compile(r"[0-9]+\Z")
_WORD = re.compile(r"[A-Z]+\Z")
_HASH = re.compile(r"H(?:\((?P<a>[^)]*)-(?P<b>[^)]*)\))?(?:/(?P<step>.*))?\Z")


def hash_value(job_id: str, field: str) -> int:
    """Return the stable 64-bit hash of ``job_id`` for one cron field (the H symbol)."""
    digest = hashlib.blake2b(f"{job_id}\x00{field}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass
class DaySpec:
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
                    dom_days.add(nearest_weekday(day, weekday(day), length))
            if self.dom_last_weekday:
                dom_days.add(nearest_weekday(length, weekday(length), length))
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


def nearest_weekday(day: int, weekday: int, length: int) -> int:
    """Return the weekday nearest to ``day`` without leaving the month (the W rule)."""
    if weekday == 5:  # Saturday: Friday before, unless that is in the previous month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, unless that is in the next month
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True, slots=True)
class CronFields:
    """A parsed cron expression: the allowed values of each field, and the day rules."""

    texts: tuple[str, ...]  # the field texts, upper-cased, seconds first ("0" when not given)
    has_seconds: bool
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...] | None  # None: any year
    day_spec: DaySpec
    # Debian cron moves a fixed-time job out of a DST gap and runs it once in a repeated
    # hour; jobs whose minute or hour begins with "*" follow elapsed time instead.
    fixed_time: bool


def parse_cron(expression: str, job_id: str | None) -> CronFields:
    """Parse a cron expression: 5, 6 or 7 fields, or an @alias; ``job_id`` seeds H fields.

    A ScheduleError names what is wrong and where.
    """
    tokens = [(m.group(), m.start() + 1) for m in re.finditer(r"\S+", expression)]
    if not tokens:
        raise ScheduleError("empty cron expression: expected 5, 6 or 7 fields")
    parser = _Parser(expression, job_id)
    if tokens[0][0].startswith("@"):
        alias, column = tokens[0]
        if len(tokens) != 1 or alias.lower() not in ALIASES:
            choices = ", ".join(ALIASES)
            raise ScheduleError(
                f'unknown alias {alias} (column {column} of "{expression}"); use one of {choices}'
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
        has_seconds = False
    else:
        has_seconds = True
    year_token = tokens[6] if len(tokens) == 7 else None

    sec_text, min_text, hour_text = tokens[0][0], tokens[1][0], tokens[2][0]
    seconds = tuple(sorted(parser.plain_field(SECOND, *tokens[0])))
    minutes = tuple(sorted(parser.plain_field(MINUTE, *tokens[1])))
    hours = tuple(sorted(parser.plain_field(HOUR, *tokens[2])))
    months = tuple(sorted(parser.plain_field(MONTH, *tokens[4])))
    years: tuple[int, ...] | None = None
    if year_token is not None and year_token[0] not in ("*", "?"):
        years = tuple(sorted(parser.plain_field(YEAR, *year_token)))
    dom_text, dow_text = tokens[3][0], tokens[5][0]
    dom, from_last, nearest, last_weekday = parser.dom_field(*tokens[3])
    dow, dow_last, dow_nth = parser.dow_field(*tokens[5])
    day_spec = DaySpec(
        frozenset(dom),
        frozenset(from_last),
        frozenset(nearest),
        last_weekday,
        frozenset(dow),
        frozenset(dow_last),
        frozenset(dow_nth),
        both_must_match=dom_text.startswith(("*", "?")) or dow_text.startswith(("*", "?")),
    )
    fixed_time = not any(
        text.startswith("*") for text in (min_text, hour_text) + (sec_text,) * has_seconds
    )
    return CronFields(
        texts=tuple(text for text, _ in tokens),
        has_seconds=has_seconds,
        seconds=seconds,
        minutes=minutes,
        hours=hours,
        months=months,
        years=years,
        day_spec=day_spec,
        fixed_time=fixed_time,
    )


class _Parser:
    """Turns one expression into value sets, raising ScheduleError with a column on error."""

    def __init__(self, text: str, job_id: str | None) -> None:
        self.text = text
        self.job_id = job_id

    def fail(self, field: FieldSpec, token: str, column: int, problem: str) -> ScheduleError:
        where = f'(column {column} of "{self.text}")'
        return ScheduleError(f"{field.name} {token} {problem} {where}")

    def allowed(self, field: FieldSpec) -> str:
        return f"(allowed {field.lo}-{field.hi})"

    def number(self, field: FieldSpec, token: str, column: int) -> int:
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

    def step(self, field: FieldSpec, token: str, column: int) -> int:
        if not _NUMBER.match(token):
            raise self.fail(field, token, column, f"is not a step number {self.allowed(field)}")
        value = int(token) if len(token) <= 6 else 10**6
        if value == 0:
            raise self.fail(field, token, column, f"is a zero step {self.allowed(field)}")
        return value

    def values(self, field: FieldSpec, item: str, column: int) -> Iterable[int]:
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

    def hashed(self, field: FieldSpec, item: str, column: int) -> Iterable[int]:
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

    def plain_field(self, field: FieldSpec, text: str, column: int) -> frozenset[int]:
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
