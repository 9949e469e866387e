"""OnceSchedule: fires exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwork.errors import ScheduleError
from cronwork.timing import OnceSchedule, parse_schedule

BERLIN = ZoneInfo("Europe/Berlin")
WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_fires_once_strictly_after_the_moment() -> None:
    schedule = OnceSchedule(WHEN, BERLIN)
    assert schedule.next_after(WHEN - timedelta(seconds=1)) == WHEN
    assert schedule.next_after(WHEN) is None
    assert schedule.next_after(WHEN + timedelta(days=1)) is None
    assert schedule.upcoming(5, after=datetime(2026, 1, 1, tzinfo=UTC)) == [WHEN]


def test_a_naive_time_is_wall_time_in_the_zone() -> None:
    schedule = OnceSchedule(datetime(2026, 12, 1, 10, 0), BERLIN)
    assert schedule.when == WHEN
    assert schedule.source == "at 2026-12-01T10:00:00+01:00"


def test_source_is_the_aware_iso_form_in_the_zone() -> None:
    other_offset = datetime(2026, 12, 1, 14, 0, tzinfo=timezone(timedelta(hours=5)))
    assert OnceSchedule(other_offset, BERLIN).source == "at 2026-12-01T10:00:00+01:00"
    assert OnceSchedule(other_offset, ZoneInfo("UTC")).source == "at 2026-12-01T09:00:00+00:00"


def test_a_wall_time_skipped_by_spring_forward_fires_at_the_jump() -> None:
    schedule = OnceSchedule(datetime(2026, 3, 29, 2, 30), BERLIN)
    assert schedule.when == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert schedule.source == "at 2026-03-29T03:00:00+02:00"


def test_a_wall_time_repeated_by_fall_back_fires_at_its_first_occurrence() -> None:
    schedule = OnceSchedule(datetime(2026, 10, 25, 2, 30), BERLIN)
    assert schedule.when == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = OnceSchedule(datetime(2026, 10, 25, 2, 30, fold=1), BERLIN)
    assert second.when == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert parse_schedule(second.source, tz=BERLIN) == second


def test_describe() -> None:
    assert OnceSchedule(WHEN, BERLIN).describe() == "Once at 2026-12-01 10:00 CET"


@pytest.mark.parametrize(
    ("when", "tz", "message"),
    [
        ("2026-12-01", BERLIN, "when must be a datetime"),
        (WHEN, "Europe/Berlin", "tz must be a zoneinfo.ZoneInfo"),
    ],
)
def test_rejects_bad_arguments(when: object, tz: object, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        OnceSchedule(when, tz)  # type: ignore[arg-type]


zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)), zones)
def test_source_round_trips_for_any_wall_time(naive: datetime, zone: str) -> None:
    schedule = OnceSchedule(naive, ZoneInfo(zone))
    again = parse_schedule(schedule.source, tz=schedule.tz)
    assert again == schedule
    assert isinstance(again, OnceSchedule)
    assert again.when == schedule.when


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)), zones)
def test_a_wall_time_lands_within_the_largest_dst_shift(naive: datetime, zone: str) -> None:
    when = OnceSchedule(naive, ZoneInfo(zone)).when.astimezone(ZoneInfo(zone))
    assert timedelta(0) <= when.replace(tzinfo=None) - naive <= timedelta(hours=2)
