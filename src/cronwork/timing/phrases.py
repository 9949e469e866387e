"""English phrases compiled to cron, so they share cron's DST semantics.

=====================================  ======================
phrase                                 cron expression
=====================================  ======================
``hourly``                             ``0 * * * *``
``hourly at :15``, ``every hour at :15``  ``15 * * * *``
``daily``, ``every day``               ``0 0 * * *``
``daily at 10:30``, ``every day at 10:30``  ``30 10 * * *``
``every day at 9:00 and 18:00``        ``0 9,18 * * *``
``every day at 10:30:15``              ``15 30 10 * * *``
``every monday at 09:00``              ``0 9 * * 1``
``every mon, wed and fri at 6pm``      ``0 18 * * 1,3,5``
``every weekday at 18:00``             ``0 18 * * 1-5``
``every weekend at 10:00``             ``0 10 * * 0,6``
``weekly``, ``every week``             ``0 0 * * 0``
``weekly on friday at 17:00``          ``0 17 * * 5``
``monthly``, ``every month``           ``0 0 1 * *``
``every month on the 15th at 12:00``   ``0 12 15 * *``
``every month on the 1st and 15th``    ``0 0 1,15 * *``
``every month on the last day``        ``0 0 L * *``
``yearly``, ``annually``, ``every year``  ``0 0 1 1 *``
=====================================  ======================

Keywords are case-insensitive; times are ``H:MM``, ``H:MM:SS``, ``6pm``, ``6:30 pm``, ``noon`` or
``midnight``; without ``at`` a phrase fires at 00:00 (``:00`` for hourly). Several times share
one cron expression only when they differ in a single field (hours, minutes or seconds), so
``at 10:30 and 18:00`` is refused: use two jobs. As in cron, ``on the 31st`` skips shorter
months. Intervals (``every 30m``, ``every hour``) are not phrases: see ``every.py``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cronwork.errors import ScheduleError
from cronwork.timing.cron import CronSchedule

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = ["KEYWORDS", "PhraseSchedule", "phrase_to_cron"]

KEYWORDS = {
    "hourly": "hour",
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "yearly": "year",
    "annually": "year",
}

_DAYS = {
    "sunday": 0,
    "sun": 0,
    "monday": 1,
    "mon": 1,
    "tuesday": 2,
    "tue": 2,
    "tues": 2,
    "wednesday": 3,
    "wed": 3,
    "thursday": 4,
    "thu": 4,
    "thur": 4,
    "thurs": 4,
    "friday": 5,
    "fri": 5,
    "saturday": 6,
    "sat": 6,
}
_DAY_GROUPS = {
    "day": "*",
    "days": "*",
    "weekday": "1-5",
    "weekdays": "1-5",
    "weekend": "0,6",
    "weekends": "0,6",
}
_EXAMPLES = (
    'e.g. "every day at 10:30", "every monday at 09:00", "every weekday at 18:00", '
    '"every month on the 1st at 00:00", "every hour at :15"'
)
_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?(am|pm)?")
_MINUTE = re.compile(r":(\d{2})(?::(\d{2}))?")
_ORDINAL = re.compile(r"(\d{1,2})(st|nd|rd|th)?")


class _Phrase:
    """One parse of a phrase: tokens in, cron fields out."""

    def __init__(self, text: str) -> None:
        self.text = text
        spaced = re.sub(r"\s*,\s*", " , ", text.strip().lower())
        spaced = re.sub(r"\b(\d{1,2}(?::\d{2}){0,2})\s+(am|pm)\b", r"\1\2", spaced)
        self.tokens = spaced.split()
        self.pos = 0

    def fail(self, problem: str) -> ScheduleError:
        return ScheduleError(f'schedule "{self.text}": {problem}; {_EXAMPLES}')

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("it ends too early")
        self.pos += 1
        return token

    def list_items(self) -> list[str]:
        """Take ``a``, ``a and b``, ``a, b and c`` up to the next clause keyword."""
        items = [self.take()]
        while self.peek() in (",", "and"):
            self.pos += 1
            items.append(self.take())
        return items

    def compile(self) -> str:
        head = self.take()
        if head in KEYWORDS:
            period = KEYWORDS[head]
            dow = "*"
        elif head == "every":
            period, dow = self.period()
        else:
            raise self.fail(f'expected "every" or one of {", ".join(KEYWORDS)}, got "{head}"')
        dom = {"month": "1", "year": "1"}.get(period, "*")
        month = "1" if period == "year" else "*"
        if period == "week":
            dow = "0"
        times: list[tuple[str, ...]] = [("0", "0", "0")]
        seen: set[str] = set()
        while (word := self.peek()) is not None:
            self.pos += 1
            if word in seen:
                raise self.fail(f'"{word}" is given twice')
            seen.add(word)
            if word == "at":
                times = self.times(hourly=period == "hour")
            elif word == "on" and period == "week":
                dow = self.weekdays(self.list_items(), allow_groups=True)
            elif word == "on" and period == "month":
                dom = self.month_days()
            elif word == "on":
                raise self.fail(f'"on" applies to weeks and months only, not to "{period}"')
            else:
                raise self.fail(f'expected "at" or "on", got "{word}"')
        second, minute, hour = self.fields(times)
        if period == "hour":
            hour = "*"
        fields = [minute, hour, dom, month, dow]
        return " ".join([second, *fields] if second != "0" else fields)

    def period(self) -> tuple[str, str]:
        first = self.peek()
        if first in ("hour", "week", "month", "year"):
            self.pos += 1
            return first, "*"
        if first in _DAY_GROUPS:
            self.pos += 1
            return "day", _DAY_GROUPS[first]
        if first is not None and first.rstrip("s") in _DAYS:
            return "day", self.weekdays(self.list_items(), allow_groups=False)
        raise self.fail(
            'expected day, weekday, weekend, a day name, week, month or year after "every", '
            f'got "{first or ""}"'
        )

    def weekdays(self, names: list[str], *, allow_groups: bool) -> str:
        numbers: set[int] = set()
        for name in names:
            if allow_groups and name in ("weekday", "weekdays"):
                numbers.update(range(1, 6))
            elif allow_groups and name in ("weekend", "weekends"):
                numbers.update((0, 6))
            elif name in _DAYS or (name.endswith("s") and name[:-1] in _DAYS):
                numbers.add(_DAYS[name if name in _DAYS else name[:-1]])
            else:
                raise self.fail(f'expected a day name such as "monday", got "{name}"')
        return ",".join(str(n) for n in sorted(numbers))

    def month_days(self) -> str:
        if self.peek() == "the":
            self.pos += 1
        days: list[str] = []
        for item in self.list_items():
            match = _ORDINAL.fullmatch(item)
            if item in ("last", "first"):
                days.append("L" if item == "last" else "1")
            elif match is not None and 1 <= int(match.group(1)) <= 31:
                days.append(str(int(match.group(1))))
            else:
                raise self.fail(
                    f'expected a day of the month such as "1st", "15th" or "last", got "{item}"'
                )
            if self.peek() == "day":
                self.pos += 1
        if self.tokens[self.pos : self.pos + 3] == ["of", "the", "month"]:
            self.pos += 3
        if "L" in days and len(days) > 1:
            raise self.fail('"last" cannot be combined with other days of the month')
        unique = sorted(set(days), key=lambda d: (d == "L", int(d) if d != "L" else 0))
        return ",".join(unique)

    def times(self, *, hourly: bool) -> list[tuple[str, ...]]:
        result: list[tuple[str, ...]] = []
        for item in self.list_items():
            parsed = self.minute_of_hour(item) if hourly else self.time_of_day(item)
            result.append(parsed)
        return result

    def minute_of_hour(self, item: str) -> tuple[str, ...]:
        match = _MINUTE.fullmatch(item)
        if match is None or int(match.group(1)) > 59 or int(match.group(2) or 0) > 59:
            raise self.fail(f'expected a minute past the hour such as ":15", got "{item}"')
        return (str(int(match.group(2) or 0)), str(int(match.group(1))), "*")

    def time_of_day(self, item: str) -> tuple[str, ...]:
        if item in ("noon", "midnight"):
            return ("0", "0", "12" if item == "noon" else "0")
        match = _TIME.fullmatch(item)
        if match is None:
            raise self.fail(f'expected a time such as "10:30" or "6pm" after "at", got "{item}"')
        hour, minute, second, meridiem = match.groups()
        h, m, s = int(hour), int(minute or 0), int(second or 0)
        if minute is None and meridiem is None:
            raise self.fail(f'expected a time such as "10:30" or "6pm" after "at", got "{item}"')
        if meridiem is not None:
            if not 1 <= h <= 12:
                raise self.fail(f'"{item}" is not a time: the hour must be 1 to 12 with am/pm')
            h = h % 12 + (12 if meridiem == "pm" else 0)
        if h > 23 or m > 59 or s > 59:
            raise self.fail(f'"{item}" is not a time of day (00:00 to 23:59:59)')
        return (str(s), str(m), str(h))

    def fields(self, times: list[tuple[str, ...]]) -> tuple[str, str, str]:
        columns = [sorted(set(column), key=_numeric) for column in zip(*times, strict=True)]
        if sum(len(column) > 1 for column in columns) > 1:
            shown = " and ".join(
                f"{h}:{m:0>2}" + (f":{s:0>2}" if s != "0" else "") for s, m, h in times
            )
            raise self.fail(
                f"the times {shown} differ in more than one of hour, minute and second, "
                "so one cron expression cannot hold them; use one job per time"
            )
        second, minute, hour = (",".join(column) for column in columns)
        return second, minute, hour


def _numeric(value: str) -> int:
    return int(value) if value.isdigit() else -1


def phrase_to_cron(text: str) -> str:
    """Compile a phrase such as ``every monday at 09:00`` to its cron expression."""
    return _Phrase(text).compile()


class PhraseSchedule(CronSchedule):
    """A cron schedule written as a phrase: ``source`` is the phrase, ``expression`` the cron."""

    expression: str

    def __init__(self, phrase: str, tz: ZoneInfo, job_id: str | None = None) -> None:
        if not isinstance(phrase, str):
            raise ScheduleError(f"phrase must be a string, got {type(phrase).__name__}")
        expression = phrase_to_cron(phrase)
        super().__init__(expression, tz, job_id)
        self.expression = expression
        self.source = phrase.strip()
