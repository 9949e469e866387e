"""Bounded and Jittered: start/end bounds and reproducible jitter around any schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwork.errors import ScheduleError
from cronwork.timing import (
    Bounded,
    CronSchedule,
    EverySchedule,
    Jittered,
    OnceSchedule,
    Schedule,
    parse_schedule,
)

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
HOURLY = EverySchedule(timedelta(hours=1), UTC_ZONE)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_nothing_fires_before_start_and_start_itself_may_fire() -> None:
    bounded = Bounded(HOURLY, start=utc(2026, 1, 1, 10))
    assert bounded.next_after(utc(2025, 1, 1)) == utc(2026, 1, 1, 10)
    assert bounded.next_after(utc(2026, 1, 1, 10)) == utc(2026, 1, 1, 11)


def test_nothing_fires_after_end_and_end_itself_may_fire() -> None:
    bounded = Bounded(HOURLY, end=utc(2026, 1, 1, 10))
    assert bounded.next_after(utc(2026, 1, 1, 9, 30)) == utc(2026, 1, 1, 10)
    assert bounded.next_after(utc(2026, 1, 1, 10)) is None


def test_bounds_expose_base_and_keep_its_source_and_zone() -> None:
    bounded = Bounded(HOURLY, utc(2026, 1, 1), utc(2026, 2, 1))
    assert bounded.base is HOURLY
    assert (bounded.start, bounded.end) == (utc(2026, 1, 1), utc(2026, 2, 1))
    assert bounded.source == HOURLY.source
    assert bounded.tz == HOURLY.tz


def test_naive_bounds_are_wall_times_in_the_zone() -> None:
    bounded = Bounded(CronSchedule("0 9 * * *", BERLIN), start=datetime(2026, 7, 1))
    assert bounded.start == utc(2026, 6, 30, 22)


def test_bounded_equality_includes_the_bounds() -> None:
    assert Bounded(HOURLY, utc(2026, 1, 1)) == Bounded(HOURLY, utc(2026, 1, 1))
    assert Bounded(HOURLY, utc(2026, 1, 1)) != Bounded(HOURLY, utc(2026, 1, 2))
    assert Bounded(HOURLY, utc(2026, 1, 1)) != HOURLY
    assert len({Bounded(HOURLY, utc(2026, 1, 1)), Bounded(HOURLY, utc(2026, 1, 1))}) == 1


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        (utc(2026, 1, 1), utc(2026, 2, 1), "Every 1h, from 2026-01-01 to 2026-02-01"),
        (utc(2026, 1, 1, 9, 30), None, "Every 1h, from 2026-01-01 09:30 UTC"),
        (None, utc(2026, 2, 1), "Every 1h, until 2026-02-01"),
    ],
)
def test_bounded_describe(start: datetime | None, end: datetime | None, text: str) -> None:
    assert Bounded(HOURLY, start, end).describe() == text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("every 1h",), "Bounded wraps a Schedule, got str"),
        ((HOURLY, utc(2026, 2, 1), utc(2026, 1, 1)), "start 2026-02-01 00:00 UTC is after end"),
        ((HOURLY, "2026-01-01"), "start must be a datetime"),
    ],
)
def test_bounded_rejects(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Bounded(*args)  # type: ignore[arg-type]


def test_jitter_delays_each_slot_within_the_window() -> None:
    jittered = Jittered(HOURLY, timedelta(minutes=5), seed="job")
    times = jittered.upcoming(50, after=utc(2025, 12, 31, 23, 30))
    for index, fire in enumerate(times):
        slot = utc(2026, 1, 1) + timedelta(hours=index)
        assert slot <= fire < slot + timedelta(minutes=5)
    assert len({t.minute * 60 + t.second for t in times}) > 10


def test_jitter_is_reproducible_and_depends_on_the_seed() -> None:
    after = utc(2026, 1, 1)
    one = Jittered(HOURLY, timedelta(minutes=5), "a").upcoming(5, after)
    assert Jittered(HOURLY, timedelta(minutes=5), "a").upcoming(5, after) == one
    assert Jittered(HOURLY, timedelta(minutes=5), "b").upcoming(5, after) != one


def test_jitter_offset_is_a_sha256_of_seed_and_slot() -> None:
    jittered = Jittered(HOURLY, timedelta(seconds=30), "job")
    slot = utc(2026, 1, 1, 10)
    assert jittered.offset(slot) == jittered.offset(slot.astimezone(BERLIN))
    assert timedelta(0) <= jittered.offset(slot) < timedelta(seconds=30)


def test_a_jittered_slot_before_the_moment_may_still_fire_after_it() -> None:
    jittered = Jittered(HOURLY, timedelta(minutes=30), "job")
    slot = utc(2026, 1, 1, 10)
    fire = slot + jittered.offset(slot)
    assert jittered.next_after(fire - timedelta(microseconds=1)) == fire
    assert jittered.next_after(slot - timedelta(microseconds=1)) == fire


def test_jittered_once_fires_once() -> None:
    once = OnceSchedule(utc(2026, 1, 1, 10), UTC_ZONE)
    jittered = Jittered(once, timedelta(minutes=1), "job")
    assert len(jittered.upcoming(5, utc(2025, 1, 1))) == 1


def test_jittered_exposes_base_and_jitter_and_describes_itself() -> None:
    jittered = Jittered(HOURLY, timedelta(seconds=30), "job")
    assert jittered.base is HOURLY
    assert jittered.jitter == timedelta(seconds=30)
    assert jittered.source == HOURLY.source
    assert jittered.describe() == "Every 1h, with up to 30s jitter"
    assert jittered == Jittered(HOURLY, timedelta(seconds=30), "job")
    assert jittered != Jittered(HOURLY, timedelta(seconds=30), "other")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((HOURLY, timedelta(0), "s"), "jitter must be a positive timedelta"),
        ((HOURLY, "30s", "s"), "jitter must be a positive timedelta"),
        ((HOURLY, timedelta(seconds=1), 5), "jitter seed must be a str"),
        ((None, timedelta(seconds=1), "s"), "Jittered wraps a Schedule"),
    ],
)
def test_jittered_rejects(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Jittered(*args)  # type: ignore[arg-type]


bases = st.sampled_from(
    [
        HOURLY,
        EverySchedule(timedelta(seconds=7), UTC_ZONE),
        CronSchedule("*/5 * * * *", BERLIN),
        CronSchedule("30 2 * * *", BERLIN),
        parse_schedule("every weekday at 09:00", tz=BERLIN),
    ]
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
jitters = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(minutes=20))


@given(bases, jitters, st.text(max_size=10), instants)
def test_jittered_results_are_strictly_increasing_and_within_jitter_of_a_base_slot(
    base: Schedule, jitter: timedelta, seed: str, after: datetime
) -> None:
    jittered = Jittered(base, jitter, seed)
    times = jittered.upcoming(6, after)
    assert len(times) == 6
    assert times[0] > after
    assert all(a < b for a, b in pairwise(times))
    for fire in times:
        slot = base.next_after(fire - jitter)
        assert slot is not None
        assert slot <= fire
    # A second construction agrees: the offsets come from the seed, not from process state.
    assert Jittered(base, jitter, seed).upcoming(6, after) == times


@given(bases, jitters, instants)
def test_jittered_next_after_is_the_earliest_fire_after_the_moment(
    base: Schedule, jitter: timedelta, moment: datetime
) -> None:
    jittered = Jittered(base, jitter, "seed")
    result = jittered.next_after(moment)
    assert result is not None
    # Brute force: every base slot that could fire after the moment, jittered.
    fires = []
    slot = base.next_after(moment - jitter)
    while slot is not None and slot <= result:
        fires.append(slot.astimezone(UTC) + jittered.offset(slot))
        slot = base.next_after(slot)
    assert result == min(f for f in fires if f > moment)


@given(bases, instants, instants, instants)
def test_bounded_results_lie_within_the_bounds(
    base: Schedule, start: datetime, end: datetime, after: datetime
) -> None:
    start, end = min(start, end), max(start, end)
    bounded = Bounded(base, start, end)
    times = bounded.upcoming(5, after)
    assert all(start <= t <= end and t > after for t in times)
    expected = [t for t in base.upcoming(5, max(after, start - timedelta(microseconds=1)))]
    assert times == [t for t in expected if t <= end]


@pytest.mark.parametrize("start", [None, utc(2026, 1, 1, 10)])
@pytest.mark.parametrize("moment", [datetime(2026, 1, 1, 12), "2026-01-01T12:00:00+00:00"])
def test_a_naive_moment_or_no_datetime_is_a_schedule_error(
    start: datetime | None, moment: object
) -> None:
    bounded = Bounded(HOURLY, start=start, end=utc(2027, 1, 1))
    with pytest.raises(ScheduleError, match="moment must be"):
        bounded.next_after(moment)  # type: ignore[arg-type]
