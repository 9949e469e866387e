"""English phrases compile to cron and fire as cron does."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwork.errors import ScheduleError
from cronwork.timing import CronSchedule, PhraseSchedule, parse_schedule
from cronwork.timing.phrases import phrase_to_cron

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("phrase", "cron"),
    [
        ("hourly", "0 * * * *"),
        ("hourly at :15", "15 * * * *"),
        ("every hour at :15", "15 * * * *"),
        ("every hour at :15 and :45", "15,45 * * * *"),
        ("every hour at :00:30", "30 0 * * * *"),
        ("daily", "0 0 * * *"),
        ("every day", "0 0 * * *"),
        ("daily at 10:30", "30 10 * * *"),
        ("every day at 10:30", "30 10 * * *"),
        ("Every Day At 10:30", "30 10 * * *"),
        ("every day at 9:00 and 18:00", "0 9,18 * * *"),
        ("every day at 9:00, 12:00 and 18:00", "0 9,12,18 * * *"),
        ("every day at 10:00 and 10:30", "0,30 10 * * *"),
        ("every day at 10:30:15", "15 30 10 * * *"),
        ("every day at noon", "0 12 * * *"),
        ("every day at midnight", "0 0 * * *"),
        ("every day at 12am", "0 0 * * *"),
        ("every day at 12pm", "0 12 * * *"),
        ("every day at 6:30 pm", "30 18 * * *"),
        ("every monday at 09:00", "0 9 * * 1"),
        ("every mondays at 09:00", "0 9 * * 1"),
        ("every sunday at 9am", "0 9 * * 0"),
        ("every mon, wed and fri at 6pm", "0 18 * * 1,3,5"),
        ("every friday and monday at 08:00", "0 8 * * 1,5"),
        ("every weekday at 18:00", "0 18 * * 1-5"),
        ("every weekdays at 18:00", "0 18 * * 1-5"),
        ("every weekend at 10:00", "0 10 * * 0,6"),
        ("weekly", "0 0 * * 0"),
        ("every week", "0 0 * * 0"),
        ("weekly on friday at 17:00", "0 17 * * 5"),
        ("every week on monday and thursday", "0 0 * * 1,4"),
        ("monthly", "0 0 1 * *"),
        ("every month", "0 0 1 * *"),
        ("every month on the 1st at 00:00", "0 0 1 * *"),
        ("every month on the 15th at 12:00", "0 12 15 * *"),
        ("every month on the 2nd, 3rd and 22nd", "0 0 2,3,22 * *"),
        ("monthly on the 31st", "0 0 31 * *"),
        ("every month on the last day", "0 0 L * *"),
        ("every month on the last day of the month at 23:00", "0 23 L * *"),
        ("every month at 06:00 on the first", "0 6 1 * *"),
        ("yearly", "0 0 1 1 *"),
        ("annually at noon", "0 12 1 1 *"),
    ],
)
def test_phrase_compiles_to_cron(phrase: str, cron: str) -> None:
    assert phrase_to_cron(phrase) == cron


@pytest.mark.parametrize(
    ("phrase", "message"),
    [
        ("every day at 10:30 and 18:00", "differ in more than one of hour, minute and second"),
        ("every day at 25:00", '"25:00" is not a time of day'),
        ("every day at 10:60", '"10:60" is not a time of day'),
        ("every day at 10", 'expected a time such as "10:30" or "6pm" after "at", got "10"'),
        ("every day at 13pm", "the hour must be 1 to 12 with am/pm"),
        ("every day at :15", 'got ":15"'),
        ("hourly at 15", 'expected a minute past the hour such as ":15", got "15"'),
        ("hourly at :75", 'got ":75"'),
        ("every fortnight", 'after "every", got "fortnight"'),
        ("every funday at 10:00", 'got "funday"'),
        ("daily on monday", '"on" applies to weeks and months only'),
        ("weekly on payday", 'expected a day name such as "monday", got "payday"'),
        ("every month on the 32nd", 'got "32nd"'),
        ("every month on the 0th", 'got "0th"'),
        ("every month on the last and 1st", '"last" cannot be combined'),
        ("every day at 10:30 at 11:00", '"at" is given twice'),
        ("every monday at", "it ends too early"),
        ("every day please", 'expected "at" or "on", got "please"'),
        ("fortnightly", 'expected "every" or one of hourly'),
    ],
)
def test_bad_phrases_name_the_phrase_and_what_was_expected(phrase: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        phrase_to_cron(phrase)
    assert f'schedule "{phrase}"' in str(caught.value)
    assert message in str(caught.value)


def test_a_phrase_schedule_is_a_cron_schedule_whose_source_is_the_phrase() -> None:
    schedule = parse_schedule("  every weekday at 18:00 ", tz=BERLIN)
    assert isinstance(schedule, PhraseSchedule)
    assert isinstance(schedule, CronSchedule)
    assert schedule.source == "every weekday at 18:00"
    assert schedule.expression == "0 18 * * 1-5"
    assert schedule.describe() == CronSchedule("0 18 * * 1-5", BERLIN).describe()
    assert parse_schedule(schedule.source, tz=schedule.tz) == schedule


def fires(phrase: str, after: datetime, count: int) -> list[str]:
    schedule = parse_schedule(phrase, tz=BERLIN)
    return [t.astimezone(BERLIN).isoformat() for t in schedule.upcoming(count, after)]


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("phrase", "after", "expected"),
    [
        (
            "every day at 10:30",
            berlin(2026, 3, 27, 12),
            ["2026-03-28T10:30:00+01:00", "2026-03-29T10:30:00+02:00", "2026-03-30T10:30:00+02:00"],
        ),
        # Spring forward: 02:30 does not exist on 29 March, cron runs it right after the jump.
        (
            "every day at 02:30",
            berlin(2026, 3, 28, 12),
            ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        ),
        # Fall back: 02:30 happens twice on 25 October, cron runs it once.
        (
            "every day at 02:30",
            berlin(2026, 10, 24, 12),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        ),
        (
            "every monday at 09:00",
            berlin(2026, 3, 25),
            ["2026-03-30T09:00:00+02:00", "2026-04-06T09:00:00+02:00"],
        ),
        (
            "every weekend at 10:00",
            berlin(2026, 3, 27),
            ["2026-03-28T10:00:00+01:00", "2026-03-29T10:00:00+02:00", "2026-04-04T10:00:00+02:00"],
        ),
        (
            "every month on the last day at 23:00",
            berlin(2026, 1, 1),
            ["2026-01-31T23:00:00+01:00", "2026-02-28T23:00:00+01:00", "2026-03-31T23:00:00+02:00"],
        ),
        (
            "every month on the 31st",
            berlin(2026, 1, 1),
            ["2026-01-31T00:00:00+01:00", "2026-03-31T00:00:00+02:00"],
        ),
        (
            "hourly at :15",
            berlin(2026, 3, 29, 1, 20),
            ["2026-03-29T03:15:00+02:00", "2026-03-29T04:15:00+02:00"],
        ),
    ],
)
def test_phrases_fire_like_cron_across_dst_in_berlin(
    phrase: str, after: datetime, expected: list[str]
) -> None:
    assert fires(phrase, after, len(expected)) == expected


@given(st.text(max_size=40))
def test_any_phrase_text_compiles_or_raises_schedule_error(text: str) -> None:
    try:
        expression = phrase_to_cron("every " + text)
    except ScheduleError:
        return
    CronSchedule(expression, BERLIN)


words = st.sampled_from(
    ["every", "daily", "hourly", "weekly", "monthly", "day", "monday", "weekday", "weekend",
     "week", "month", "hour", "at", "on", "the", "and", ",", "10:30", ":15", "6pm", "noon",
     "1st", "15th", "last", "31st", "of", "month", "2", "25:00"]
)  # fmt: skip


@given(st.lists(words, min_size=1, max_size=8))
def test_word_salad_compiles_to_valid_cron_or_raises_schedule_error(tokens: list[str]) -> None:
    try:
        expression = phrase_to_cron(" ".join(tokens))
    except ScheduleError:
        return
    assert CronSchedule(expression, BERLIN).next_after(datetime(2026, 1, 1, tzinfo=UTC))
