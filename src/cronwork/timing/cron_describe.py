"""Cron expressions in words: the sentence `CronSchedule.describe()` returns."""

from __future__ import annotations

from collections.abc import Iterable

from cronwork.timing.cron_parse import DOM, HOUR, MINUTE, SECOND, CronFields, FieldSpec

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


def _step(values: tuple[int, ...], field: FieldSpec) -> int | None:
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


def describe_cron(fields: CronFields) -> str:
    """A plain-language sentence for a parsed cron expression, e.g. ``At 09:00, Monday
    through Friday``."""
    return _Describer(fields).sentence()


class _Describer:
    """Builds the plain-language sentence that describe_cron returns."""

    def __init__(self, fields: CronFields) -> None:
        self.s = fields

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
        spec = s.day_spec
        if s.texts[3] in ("*", "?"):
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
        spec = s.day_spec
        if s.texts[5] in ("*", "?"):
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
        joiner = " if it is " if self.s.day_spec.both_must_match else " or on "
        return " " + dom + joiner + dow_text

    def months(self) -> str:
        if len(self.s.months) == 12:
            return ""
        return " in " + _listing(self.s.months, lambda month: _FULL_MONTHS[month])

    def years(self) -> str:
        return "" if self.s.years is None else " in " + _listing(self.s.years)
