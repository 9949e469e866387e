"""The timing layer: turn text, timedeltas and datetimes into Schedules. Pure, no I/O.

``parse_schedule`` reads, in this order (keywords are case-insensitive):

- ``@hourly``-style aliases and 5/6/7-field cron expressions -> ``CronSchedule``;
- ``every 30m``, ``every 1h30m``, ``every 2 hours``, ``every hour``, ``every minute``, bare
  durations (``30s``, ``PT30M``) and ``timedelta`` -> ``EverySchedule``, anchored at ``start``
  or the Unix epoch; ``every 1h from 2026-01-01T00:30`` sets the anchor in the text;
- ``at 2026-12-01 10:00``, bare ISO 8601 date-times and ``datetime`` -> ``OnceSchedule``;
- phrases such as ``every monday at 09:00`` or ``daily`` -> a cron schedule (see ``phrases``);
- ``after extract, load``, ``on_failure extract``, ``on_finish extract`` -> a triggered schedule.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from cronwork.errors import DurationError, ScheduleError
from cronwork.timing.base import Schedule, require_aware
from cronwork.timing.cron import CronSchedule
from cronwork.timing.durations import (
    MAX_DURATION,
    format_duration,
    parse_duration,
    refuse_non_ascii_digits,
)
from cronwork.timing.every import EverySchedule
from cronwork.timing.once import OnceSchedule
from cronwork.timing.phrases import KEYWORDS, PhraseSchedule
from cronwork.timing.wrappers import Bounded, Jittered
from cronwork.timing.zones import localize, resolve_zone

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = [
    "MAX_DURATION",
    "Bounded",
    "CronSchedule",
    "DurationError",
    "EverySchedule",
    "Jittered",
    "OnceSchedule",
    "PhraseSchedule",
    "Schedule",
    "ScheduleError",
    "format_duration",
    "next_times",
    "parse_duration",
    "parse_schedule",
    "resolve_zone",
    "shared_schedule",
    "uses_hash",
]

_FORMS = (
    'expected a cron expression ("0 9 * * 1-5", "@daily"), an interval ("every 30m"), '
    'a one-shot time ("at 2026-12-01 10:00") or a phrase ("every monday at 09:00")'
)
_INTERVAL_WORDS = {"second": "1s", "sec": "1s", "minute": "1m", "min": "1m", "hour": "1h"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DURATION = re.compile(r"pt?[\d.,]", re.IGNORECASE)
_FROM = re.compile(r"\s+from\s+", re.IGNORECASE)
_TRIGGER = re.compile(r"(after|on_failure|on_finish)\b", re.IGNORECASE)


def parse_schedule(
    spec: object,
    *,
    tz: str | tzinfo | None = None,
    job_id: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    jitter: timedelta | str | float | None = None,
) -> Schedule:
    """Turn text, a timedelta, a datetime or a Schedule into a Schedule in zone ``tz``."""
    try:
        zone = resolve_zone(tz)
        first = _instant(start, zone, "start")
        last = _instant(end, zone, "end")
        spread = None if jitter is None else parse_duration(jitter, what="jitter")
        schedule = _base(spec, zone, job_id, first)
        if (
            spread is not None
            and isinstance(schedule, EverySchedule)
            and spread > schedule.interval
        ):
            # Runs would overtake each other, and each next_after scans jitter/interval slots.
            raise ScheduleError(
                f"jitter {format_duration(spread)} is longer than the interval "
                f"{format_duration(schedule.interval)} of {schedule.source!r}"
            )
        if spread is not None:
            seed = job_id if job_id is not None else schedule.source
            schedule = Jittered(schedule, spread, seed)
        if first is not None or last is not None:
            schedule = Bounded(schedule, first, last)
        return schedule
    except OverflowError:
        # Dates near year 1 or 9999 overflow once shifted into UTC.
        raise ScheduleError(f"schedule {spec!r} lies outside the supported dates") from None


def next_times(schedule: Schedule, count: int, after: datetime | None = None) -> list[datetime]:
    """Return up to ``count`` successive fire instants of ``schedule`` after ``after``."""
    if not isinstance(schedule, Schedule):
        raise ScheduleError(f"expected a Schedule, got {type(schedule).__name__}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ScheduleError(f"count must be a non-negative int, got {count!r}")
    return schedule.upcoming(count, after)


def _base(spec: object, zone: ZoneInfo, job_id: str | None, start: datetime | None) -> Schedule:
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, timedelta):
        return EverySchedule(parse_duration(spec, what="interval"), zone, start)
    if isinstance(spec, datetime):
        return OnceSchedule(spec, zone)
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        raise ScheduleError(
            f'schedule {spec!r} is a bare number; write "every {spec}s" or pass a timedelta'
        )
    if not isinstance(spec, str):
        raise ScheduleError(
            f"schedule must be text, a timedelta, a datetime or a Schedule, "
            f"got {type(spec).__name__} {spec!r}"
        )
    return _parse_text(spec, zone, job_id, start)


def _parse_text(spec: str, zone: ZoneInfo, job_id: str | None, start: datetime | None) -> Schedule:
    text = spec.strip()
    if not text:
        raise ScheduleError(f"schedule is empty; {_FORMS}")
    try:
        refuse_non_ascii_digits(text, f'schedule "{text}"')
        return _parse_form(text, zone, job_id, start)
    except ScheduleError as error:
        # Every kind's error names the text it refused, whichever layer raised it.
        if text in str(error):
            raise
        raise type(error)(f'schedule "{text}": {error}') from None


# Parsed schedules shared per (text, zone) by every job on that text: a Schedule is
# immutable, and a parsed cron expression is kilobytes, so 100k jobs on a few expressions
# stay small. Bounded: a process that sees ever new texts starts the cache afresh.
_SHARED: dict[tuple[str, str], Schedule] = {}
SHARED_LIMIT = 10_000


def shared_schedule(text: str, tz: str | tzinfo | None, job_id: str | None = None) -> Schedule:
    """Schedule ``text`` in zone ``tz``, one object for every job on the same text and zone.

    Text where `uses_hash` is true is parsed for ``job_id`` alone each time, since H gives
    each job its own times. Jobs with bounds or jitter parse through `parse_schedule`.
    """
    if uses_hash(text):
        return parse_schedule(text, tz=tz, job_id=job_id)
    key = (text, str(tz))
    schedule = _SHARED.get(key)
    if schedule is None:
        schedule = parse_schedule(text, tz=tz)
        if len(_SHARED) >= SHARED_LIMIT:
            _SHARED.clear()
        _SHARED[key] = schedule
    return schedule


def uses_hash(text: str) -> bool:
    """True when schedule ``text`` is a cron expression with an H field.

    H takes its minute (or hour, ...) from a hash of the job id, so such text gives each job
    its own schedule; any other text gives the same schedule whichever job it belongs to.
    """
    words = text.split()
    if not words or not _is_cron(text.strip(), [word.lower() for word in words]):
        return False
    # The cron parser reads H only at the start of a list item, in any case.
    return any(item[:1] in ("H", "h") for word in words for item in word.split(","))


def _is_cron(text: str, words: list[str]) -> bool:
    """Whether ``text`` (split into lower-case ``words``) is read as a cron expression."""
    head = words[0]
    is_word = head in ("every", "at") or head in KEYWORDS
    return text.startswith("@") or (len(words) in (5, 6, 7) and not is_word)


def _parse_form(text: str, zone: ZoneInfo, job_id: str | None, start: datetime | None) -> Schedule:
    words = text.lower().split()
    head = words[0]
    if _is_cron(text, words):
        return _cron(text, zone, job_id)
    if head == "every":
        rest = text[len(head) :].strip()
        if _is_interval(rest):
            return _every(text, rest, zone, start)
        return _phrase(text, zone, job_id)
    if head in KEYWORDS:
        return _phrase(text, zone, job_id)
    if _TRIGGER.match(text):
        return _trigger(text, zone)
    if head == "at":
        return _once(text, text[len(head) :].strip(), zone)
    if _ISO_DATE.match(text):
        return _once(text, text, zone)
    if text[0].isdigit() or text[0] == "." or _ISO_DURATION.match(text):
        return _every(text, text, zone, start)
    raise ScheduleError(f'schedule "{text}" is not understood; {_FORMS}')


def _is_interval(rest: str) -> bool:
    amount = _FROM.split(rest, maxsplit=1)[0].strip().lower()
    if amount in _INTERVAL_WORDS:
        return True
    return bool(amount) and (
        amount[0].isdigit() or amount[0] == "." or bool(_ISO_DURATION.match(amount))
    )


def _every(text: str, rest: str, zone: ZoneInfo, start: datetime | None) -> EverySchedule:
    amount, *anchor_text = _FROM.split(rest, maxsplit=1)
    if re.search(r"\bat\b", amount, re.IGNORECASE):
        raise ScheduleError(
            f'schedule "{text}": an interval cannot take "at"; for fixed times use a phrase '
            'such as "every hour at :15" or "every day at 10:30", or a cron expression'
        )
    key = amount.strip().lower()
    try:
        interval = parse_duration(_INTERVAL_WORDS.get(key, amount), what="interval")
    except DurationError as error:
        raise DurationError(f'schedule "{text}": {error}') from None
    anchor = _datetime(anchor_text[0], zone, f'anchor in "{text}"') if anchor_text else start
    return EverySchedule(interval, zone, anchor)


def _once(text: str, when_text: str, zone: ZoneInfo) -> OnceSchedule:
    if not _ISO_DATE.match(when_text):
        raise ScheduleError(
            f'schedule "{text}": expected a date and time such as "at 2026-12-01 10:00", '
            f'got "{when_text}"; for a daily time use "every day at 10:00"'
        )
    return OnceSchedule(_datetime(when_text, zone, f'time in "{text}"'), zone)


def _phrase(text: str, zone: ZoneInfo, job_id: str | None) -> Schedule:
    return PhraseSchedule(text, zone, job_id)


def _trigger(text: str, zone: ZoneInfo) -> Schedule:
    # Imported on first use so that parsing time schedules never depends on the trigger module.
    from cronwork.timing.triggers import parse_trigger

    schedule = parse_trigger(text, zone)
    if schedule is None:
        raise ScheduleError(
            f'schedule "{text}": expected "after job_a, job_b", "on_failure job_a" '
            'or "on_finish job_a"'
        )
    return schedule


def _cron(text: str, zone: ZoneInfo, job_id: str | None) -> Schedule:
    return CronSchedule(text, zone, job_id)


def _datetime(text: str, zone: ZoneInfo, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ScheduleError(
            f'{what}: "{text.strip()}" is not an ISO 8601 date-time such as "2026-12-01T10:00"'
        ) from None
    return localize(moment, zone) if moment.tzinfo is None else moment


def _instant(value: object, zone: ZoneInfo, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _datetime(value, zone, what)
    if not isinstance(value, datetime):
        raise ScheduleError(f"{what} must be a datetime or ISO 8601 text, got {value!r}")
    if value.tzinfo is None:
        return localize(value, zone)
    require_aware(value, what)
    return value
