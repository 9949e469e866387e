"""parse_duration and format_duration: the spec of what a duration looks like."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwork.errors import DurationError, ScheduleError
from cronwork.timing import format_duration, parse_duration

H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("30m", 30 * M),
        ("1h30m", 90 * M),
        ("1h 30m", 90 * M),
        ("1h, 30m", 90 * M),
        ("30m1h", 90 * M),
        ("2 hours", 2 * H),
        ("1 hour and 30 minutes", 90 * M),
        ("90s", 90 * S),
        ("90 sec", 90 * S),
        ("1d", 24 * H),
        ("1w", timedelta(days=7)),
        ("2 weeks", timedelta(days=14)),
        ("500ms", timedelta(milliseconds=500)),
        ("250us", timedelta(microseconds=250)),
        ("1.5h", 90 * M),
        (".5m", 30 * S),
        ("  45S  ", 45 * S),
        ("1H30M", 90 * M),
        ("PT30M", 30 * M),
        ("pt30m", 30 * M),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(days=14)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("PT0,5S", timedelta(milliseconds=500)),
        ("P1D", timedelta(days=1)),
        (30, 30 * S),
        (0.25, timedelta(milliseconds=250)),
        (0.1, timedelta(milliseconds=100)),
        (timedelta(minutes=5), 5 * M),
    ],
)
def test_parse_duration_accepts(spec: object, expected: timedelta) -> None:
    assert parse_duration(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("soon", 'timeout "soon" is not a duration (e.g. "30m", "1h30m", "PT30M")'),
        ("", "timeout is empty"),
        ("   ", "timeout is empty"),
        ("30", '"30" has no unit, write e.g. "30s"'),
        ("-5m", 'timeout "-5m" is negative'),
        ("0s", 'timeout "0s" is zero'),
        ("PT0S", 'timeout "PT0S" is zero'),
        (0, "timeout 0 is zero"),
        (-1, "timeout -1 is negative"),
        (timedelta(seconds=-1), "timeout -1s is negative"),
        ("5 fortnights", 'unknown unit "fortnights"'),
        ("1h1h", 'gives the unit "h" twice'),
        ("1h 30", '"30" has no unit'),
        ("1h soon", 'cannot read "soon"'),
        ("P1M", "years or months"),
        ("P1Y2D", "years or months"),
        ("PT", 'timeout "PT" is not a duration'),
        ("P1DT", 'timeout "P1DT" is not a duration'),
        ("PT1.2.3S", "is not a duration"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (10**30, "is too long"),
        ("99999999999w", "is too long"),
        (None, "got NoneType"),
        (True, "got bool"),
        ([30], "got list"),
    ],
)
def test_parse_duration_rejects_with_a_message_naming_the_field(spec: object, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(spec, what="timeout")
    assert message in str(caught.value)
    assert isinstance(caught.value, ScheduleError)


def test_zero_is_allowed_when_the_caller_says_so() -> None:
    assert parse_duration("0s", allow_zero=True) == timedelta(0)
    assert parse_duration(0, allow_zero=True) == timedelta(0)


def test_the_default_field_name_is_duration() -> None:
    with pytest.raises(DurationError, match=r'^duration "x" is not a duration'):
        parse_duration("x")


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (90 * M, "1h30m"),
        (45 * S, "45s"),
        (timedelta(days=1, hours=2), "1d2h"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(days=7), "1w"),
        (timedelta(days=8), "8d"),
        (timedelta(seconds=1, microseconds=500), "1s500us"),
        (timedelta(0), "0s"),
        (-90 * S, "-1m30s"),
    ],
)
def test_format_duration_is_compact(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


@given(st.timedeltas(min_value=timedelta(microseconds=1)))
def test_format_then_parse_is_identity(td: timedelta) -> None:
    assert parse_duration(format_duration(td)) == td


@given(st.text(max_size=30))
def test_any_text_parses_or_raises_duration_error(text: str) -> None:
    try:
        result = parse_duration(text)
    except DurationError:
        return
    assert result > timedelta(0)


@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.lists(st.integers(), max_size=2),
        st.binary(max_size=5),
        st.timedeltas(),
        st.text(alphabet="0123456789.,:PTWDHMShmsdwu µ-and", max_size=20),
    )
)
def test_any_value_parses_or_raises_duration_error(value: object) -> None:
    try:
        result = parse_duration(value)
    except DurationError:
        return
    assert result > timedelta(0)
