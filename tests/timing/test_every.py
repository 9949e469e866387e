"""EverySchedule: anchored intervals that never drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwork.errors import ScheduleError
from cronwork.timing import EverySchedule, parse_schedule
from cronwork.timing.every import EPOCH, MAX_INTERVAL

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("interval", "moment", "expected"),
    [
        (timedelta(hours=1), utc(2026, 5, 1, 10, 0), utc(2026, 5, 1, 11, 0)),
        (timedelta(hours=1), utc(2026, 5, 1, 10, 59, 59), utc(2026, 5, 1, 11, 0)),
        (timedelta(minutes=30), utc(2026, 5, 1, 10, 15), utc(2026, 5, 1, 10, 30)),
        (timedelta(minutes=90), utc(2026, 5, 1, 0, 0), utc(2026, 5, 1, 1, 30)),
        (timedelta(seconds=1), utc(2026, 5, 1, 0, 0, 0), utc(2026, 5, 1, 0, 0, 1)),
        (timedelta(days=1), utc(2026, 5, 1, 12), utc(2026, 5, 2)),
        (timedelta(hours=1), utc(1969, 12, 31, 23, 30), utc(1970, 1, 1)),
    ],
)
def test_fires_on_multiples_of_the_interval_since_the_epoch(
    interval: timedelta, moment: datetime, expected: datetime
) -> None:
    assert EverySchedule(interval, UTC_ZONE).next_after(moment) == expected


def test_next_after_is_strictly_after() -> None:
    schedule = EverySchedule(timedelta(hours=1), UTC_ZONE)
    assert schedule.next_after(utc(2026, 5, 1, 11)) == utc(2026, 5, 1, 12)


def test_a_daily_interval_is_elapsed_time_not_local_midnight() -> None:
    schedule = EverySchedule(timedelta(days=1), BERLIN)
    assert schedule.next_after(utc(2026, 5, 1, 12)) == utc(2026, 5, 2, 0)


def test_an_interval_crossing_dst_keeps_elapsed_spacing() -> None:
    schedule = EverySchedule(timedelta(hours=1), BERLIN)
    times = schedule.upcoming(4, after=utc(2026, 3, 29, 0, 30))
    assert [t - times[0] for t in times] == [timedelta(hours=h) for h in range(4)]
    # 02:00 local does not exist that night: the hour after 01:00 CET is 03:00 CEST.
    assert [t.astimezone(BERLIN).hour for t in times] == [3, 4, 5, 6]


def test_a_start_anchor_shifts_the_grid() -> None:
    anchor = datetime(2026, 1, 1, 0, 30, tzinfo=BERLIN)
    schedule = EverySchedule(timedelta(hours=1), BERLIN, anchor)
    assert schedule.next_after(utc(2026, 5, 1, 10)) == utc(2026, 5, 1, 10, 30)
    assert schedule.source == "every 1h from 2026-01-01T00:30:00+01:00"
    assert schedule.anchor == utc(2025, 12, 31, 23, 30)


def test_results_are_utc_and_aware() -> None:
    result = EverySchedule(timedelta(minutes=5), BERLIN).next_after(utc(2026, 5, 1))
    assert result is not None
    assert result.tzinfo is UTC


def test_the_moment_may_be_in_any_zone() -> None:
    schedule = EverySchedule(timedelta(hours=1), UTC_ZONE)
    moment = datetime(2026, 5, 1, 12, 10, tzinfo=timezone(timedelta(hours=2)))
    assert schedule.next_after(moment) == utc(2026, 5, 1, 11)


def test_exhausted_at_the_end_of_time() -> None:
    schedule = EverySchedule(MAX_INTERVAL, UTC_ZONE)
    assert schedule.next_after(datetime.max.replace(tzinfo=UTC) - timedelta(days=10)) is None


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        (timedelta(milliseconds=500), "interval 500ms is shorter than the minimum of 1s"),
        (timedelta(0), "interval 0s is shorter"),
        (timedelta(seconds=-5), "interval -5s is shorter"),
        ("1h", "interval must be a timedelta"),
    ],
)
def test_rejects_intervals_below_one_second(interval: object, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        EverySchedule(interval, UTC_ZONE)  # type: ignore[arg-type]


def test_rejects_a_naive_anchor_and_a_naive_moment() -> None:
    with pytest.raises(ScheduleError, match="anchor must be timezone-aware"):
        EverySchedule(timedelta(hours=1), UTC_ZONE, datetime(2026, 1, 1))
    with pytest.raises(ScheduleError, match="moment must be timezone-aware"):
        EverySchedule(timedelta(hours=1), UTC_ZONE).next_after(datetime(2026, 1, 1))


def test_describe() -> None:
    assert EverySchedule(timedelta(minutes=90), BERLIN).describe() == "Every 1h30m"
    anchored = EverySchedule(timedelta(hours=1), BERLIN, datetime(2026, 1, 1, 0, 30, tzinfo=BERLIN))
    assert anchored.describe() == "Every 1h, counted from 2026-01-01 00:30 CET"


intervals = st.timedeltas(min_value=timedelta(seconds=1), max_value=MAX_INTERVAL)
instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(intervals, instants, instants)
def test_every_result_is_on_the_grid_strictly_after_and_the_first_such(
    interval: timedelta, anchor: datetime, moment: datetime
) -> None:
    result = EverySchedule(interval, UTC_ZONE, anchor).next_after(moment)
    assert result is not None
    assert result > moment
    assert (result - anchor) % interval == timedelta(0)
    assert result - interval <= moment


@given(intervals, instants)
def test_default_anchor_is_the_epoch(interval: timedelta, moment: datetime) -> None:
    result = EverySchedule(interval, BERLIN).next_after(moment)
    assert result is not None
    assert (result - EPOCH) % interval == timedelta(0)


@given(intervals, st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]))
def test_source_round_trips(interval: timedelta, zone: str) -> None:
    schedule = EverySchedule(interval, ZoneInfo(zone))
    assert parse_schedule(schedule.source, tz=schedule.tz) == schedule


@given(intervals, instants)
def test_anchored_source_round_trips(interval: timedelta, anchor: datetime) -> None:
    schedule = EverySchedule(interval, BERLIN, anchor)
    again = parse_schedule(schedule.source, tz=schedule.tz)
    assert again == schedule
    assert isinstance(again, EverySchedule)
    assert again.anchor == schedule.anchor
