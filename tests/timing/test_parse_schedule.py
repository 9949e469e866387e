"""parse_schedule: one entry point for every way to say when a job fires."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwork.errors import DurationError, ScheduleError
from cronwork.timing import (
    MAX_DURATION,
    Bounded,
    CronSchedule,
    EverySchedule,
    Jittered,
    OnceSchedule,
    PhraseSchedule,
    Schedule,
    next_times,
    parse_schedule,
)
from cronwork.timing.zones import local_zone, resolve_zone

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("spec", "kind", "source"),
    [
        ("0 9 * * 1-5", CronSchedule, "0 9 * * 1-5"),
        ("*/5 * * * * *", CronSchedule, "*/5 * * * * *"),
        ("0 0 0 1 1 * 2030", CronSchedule, "0 0 0 1 1 * 2030"),
        ("@daily", CronSchedule, "@daily"),
        ("every 30m", EverySchedule, "every 30m"),
        ("EVERY 1h30m", EverySchedule, "every 1h30m"),
        ("every 90 minutes", EverySchedule, "every 1h30m"),
        ("every 2 hours", EverySchedule, "every 2h"),
        ("every hour", EverySchedule, "every 1h"),
        ("every minute", EverySchedule, "every 1m"),
        ("every second", EverySchedule, "every 1s"),
        ("every PT30M", EverySchedule, "every 30m"),
        ("30s", EverySchedule, "every 30s"),
        ("PT30M", EverySchedule, "every 30m"),
        (
            "every 1h from 2026-01-01T00:30",
            EverySchedule,
            "every 1h from 2026-01-01T00:30:00+01:00",
        ),
        (
            "every 1h FROM 2026-01-01T00:30Z",
            EverySchedule,
            "every 1h from 2026-01-01T01:30:00+01:00",
        ),
        (timedelta(minutes=5), EverySchedule, "every 5m"),
        ("at 2026-12-01 10:00", OnceSchedule, "at 2026-12-01T10:00:00+01:00"),
        ("AT 2026-12-01T10:00:00+01:00", OnceSchedule, "at 2026-12-01T10:00:00+01:00"),
        ("at 2026-12-01T09:00:00Z", OnceSchedule, "at 2026-12-01T10:00:00+01:00"),
        ("at 2026-12-01", OnceSchedule, "at 2026-12-01T00:00:00+01:00"),
        ("2026-12-01T10:00", OnceSchedule, "at 2026-12-01T10:00:00+01:00"),
        ("2026-12-01 10:00:00+01:00", OnceSchedule, "at 2026-12-01T10:00:00+01:00"),
        (datetime(2026, 12, 1, 10), OnceSchedule, "at 2026-12-01T10:00:00+01:00"),
        (datetime(2026, 12, 1, 9, tzinfo=UTC), OnceSchedule, "at 2026-12-01T10:00:00+01:00"),
        ("every day at 10:30", PhraseSchedule, "every day at 10:30"),
        ("daily", PhraseSchedule, "daily"),
        ("Hourly", PhraseSchedule, "Hourly"),
        ("every monday at 09:00", PhraseSchedule, "every monday at 09:00"),
        ("every day", PhraseSchedule, "every day"),
    ],
)
def test_dispatch_on_the_text(spec: object, kind: type[Schedule], source: str) -> None:
    schedule = parse_schedule(spec, tz="Europe/Berlin")
    assert type(schedule) is kind
    assert schedule.source == source
    assert schedule.tz == BERLIN
    assert parse_schedule(schedule.source, tz=schedule.tz) == schedule


def test_every_hour_fires_on_the_hour() -> None:
    schedule = parse_schedule("every 1h", tz="UTC")
    after = datetime(2026, 5, 1, 10, 17, tzinfo=UTC)
    assert next_times(schedule, 2, after) == [
        datetime(2026, 5, 1, 11, tzinfo=UTC),
        datetime(2026, 5, 1, 12, tzinfo=UTC),
    ]


def test_start_anchors_an_interval_and_bounds_it() -> None:
    start = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    schedule = parse_schedule("every 1h", tz="UTC", start=start)
    assert isinstance(schedule, Bounded)
    assert schedule.source == "every 1h from 2026-01-01T00:30:00+00:00"
    assert next_times(schedule, 2, datetime(2025, 1, 1, tzinfo=UTC)) == [
        start,
        start + timedelta(hours=1),
    ]


def test_an_anchor_in_the_text_wins_over_start() -> None:
    schedule = parse_schedule("every 1h from 2026-01-01T00:10Z", tz="UTC", start="2026-02-01")
    assert isinstance(schedule, Bounded)
    assert next_times(schedule, 1, datetime(2025, 1, 1, tzinfo=UTC)) == [
        datetime(2026, 2, 1, 0, 10, tzinfo=UTC)
    ]


def test_bounds_and_jitter_wrap_the_schedule() -> None:
    schedule = parse_schedule(
        "every 1h", tz="UTC", job_id="report", start="2026-01-01", end="2026-01-02", jitter="30s"
    )
    assert isinstance(schedule, Bounded)
    assert isinstance(schedule.base, Jittered)
    assert schedule.base.seed == "report"
    assert schedule.source == "every 1h from 2026-01-01T00:00:00+00:00"
    assert schedule.describe() == (
        "Every 1h, counted from 2026-01-01 00:00 UTC, with up to 30s jitter, "
        "from 2026-01-01 to 2026-01-02"
    )
    times = next_times(schedule, 100, datetime(2025, 1, 1, tzinfo=UTC))
    assert len(times) == 24
    assert all(schedule.start <= t <= schedule.end for t in times)  # type: ignore[operator]


def test_jitter_seed_defaults_to_the_source() -> None:
    schedule = parse_schedule("every 1h", tz="UTC", jitter=timedelta(seconds=30))
    assert isinstance(schedule, Jittered)
    assert schedule.seed == "every 1h"


def test_a_schedule_is_returned_as_is_or_wrapped() -> None:
    base = parse_schedule("every 1h", tz="UTC")
    assert parse_schedule(base) is base
    assert parse_schedule(base, end=datetime(2027, 1, 1, tzinfo=UTC)) == Bounded(
        base, end=datetime(2027, 1, 1, tzinfo=UTC)
    )


def test_cron_gets_the_job_id_for_h() -> None:
    one = parse_schedule("H * * * *", tz="UTC", job_id="a")
    assert isinstance(one, CronSchedule)
    assert one.job_id == "a"


def test_describe_and_next_times() -> None:
    schedule = parse_schedule("every 30m", tz="UTC")
    assert schedule.describe() == "Every 30m"
    assert next_times(schedule, 0) == []
    assert len(next_times(schedule, 3)) == 3
    with pytest.raises(ScheduleError, match="count must be a non-negative int"):
        next_times(schedule, -1)


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        ("", {}, "schedule is empty; expected a cron expression"),
        ("soon", {}, 'schedule "soon" is not understood; expected a cron expression'),
        ("every", {}, 'after "every", got ""'),
        ("every 0s", {}, 'interval "0s" is zero'),
        ("every 500ms", {}, "interval 500ms is shorter than the minimum of 1s"),
        ("every 30", {}, '"30" has no unit'),
        ("every 5 parsecs", {}, 'unknown unit "parsecs"'),
        ("every 2 hours at :15", {}, 'an interval cannot take "at"'),
        ("every 1h from tomorrow", {}, '"tomorrow" is not an ISO 8601 date-time'),
        ("at 10:00", {}, 'expected a date and time such as "at 2026-12-01 10:00"'),
        ("at 2026-13-01 10:00", {}, '"2026-13-01 10:00" is not an ISO 8601 date-time'),
        ("61 * * * *", {}, "minute 61"),
        ("@fortnightly", {}, "unknown alias @fortnightly"),
        ("P1M", {}, "years or months"),
        (30, {}, 'schedule 30 is a bare number; write "every 30s"'),
        (1.5, {}, "bare number"),
        (None, {}, "schedule must be text, a timedelta, a datetime or a Schedule, got NoneType"),
        (["every 1h"], {}, "got list"),
        (True, {}, "got bool"),
        (timedelta(0), {}, "interval 0s is zero"),
        ("every 1h", {"tz": "Mars/Olympus"}, 'unknown time zone "Mars/Olympus"'),
        ("every 1h", {"tz": timezone(timedelta(hours=1))}, "must be an IANA name"),
        ("every 1h", {"tz": 5}, "must be an IANA name"),
        ("every 1h", {"jitter": "lots"}, 'jitter "lots" is not a duration'),
        ("every 1m", {"jitter": "2m"}, "jitter 2m is longer than the interval 1m of 'every 1m'"),
        ("every 1h", {"start": "monday"}, 'start: "monday" is not an ISO 8601'),
        ("every 1h", {"end": 5}, "end must be a datetime"),
        ("every 1h", {"start": "2026-02-01", "end": "2026-01-01"}, "is after end"),
        (
            datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
            {},
            "must be before 9000-01-01",
        ),
    ],
)
def test_errors_are_schedule_errors_naming_what_is_wrong(
    spec: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(spec, **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_interval_errors_are_duration_errors_naming_the_schedule() -> None:
    with pytest.raises(DurationError, match=r'^schedule "every 5 parsecs": interval'):
        parse_schedule("every 5 parsecs", tz="UTC")


def test_resolve_zone() -> None:
    assert resolve_zone("Europe/Berlin") == BERLIN
    assert resolve_zone(" Europe/Berlin ") == BERLIN
    assert resolve_zone(BERLIN) is BERLIN
    assert resolve_zone(UTC) == ZoneInfo("UTC")
    assert isinstance(resolve_zone(None), ZoneInfo)


def test_local_zone_follows_tz_then_localtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert local_zone() == ZoneInfo("Asia/Tokyo")
    assert parse_schedule("every 1h").tz == ZoneInfo("Asia/Tokyo")
    monkeypatch.setenv("TZ", ":America/New_York")
    assert local_zone() == ZoneInfo("America/New_York")
    monkeypatch.setenv("TZ", "Not/AZone")
    fallback = local_zone()
    monkeypatch.delenv("TZ")
    assert fallback == local_zone()
    localtime = Path("/etc/localtime")
    if localtime.is_symlink() and "zoneinfo/" in os.path.realpath(localtime):
        expected = os.path.realpath(localtime).split("zoneinfo/", 1)[1]
        assert local_zone().key == expected


zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
specs = st.one_of(
    st.sampled_from(
        ["0 9 * * 1-5", "*/15 * * * *", "@hourly", "every 30m", "every 1h30m", "45s",
         "every day at 10:30", "every weekday at 18:00", "every month on the last day",
         "at 2026-12-01 10:00", "every 1h from 2026-01-01T00:30", "hourly at :15"]
    ),
    st.timedeltas(min_value=timedelta(seconds=1), max_value=MAX_DURATION).map(
        lambda td: f"every {td.total_seconds():.0f}s" if td.total_seconds() >= 1 else "every 1s"
    ),
)  # fmt: skip


@given(specs, zones)
def test_source_round_trips(spec: str, zone: str) -> None:
    schedule = parse_schedule(spec, tz=zone)
    assert parse_schedule(schedule.source, tz=schedule.tz) == schedule


junk = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789 */-,@LW#?HPTmhsdwaeveryt:.", max_size=30),
    st.sampled_from(
        ["every ", "at ", "daily ", "@", "every 1h from ", "P", "2026-", "after "]
    ).flatmap(lambda prefix: st.text(max_size=20).map(lambda rest: prefix + rest)),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.timedeltas(),
    st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones()),
)


@given(junk, zones)
def test_any_input_gives_a_schedule_or_a_schedule_error(spec: object, zone: str) -> None:
    try:
        schedule = parse_schedule(spec, tz=zone, job_id="fuzz")
    except ScheduleError:
        return
    assert isinstance(schedule, Schedule)
    schedule.next_after(datetime(2026, 1, 1, tzinfo=UTC))


@given(
    st.one_of(st.text(max_size=20), st.integers(), st.none(), st.floats()),
    st.one_of(st.text(max_size=20), st.integers(), st.none(), st.timedeltas()),
    st.one_of(st.text(max_size=20), st.none(), st.datetimes()),
)
def test_any_keyword_values_give_a_schedule_or_a_schedule_error(
    tz: object, jitter: object, start: object
) -> None:
    try:
        parse_schedule("every 1h", tz=tz, jitter=jitter, start=start)  # type: ignore[arg-type]
    except ScheduleError:
        return


@pytest.mark.parametrize(
    ("text", "source"),
    [
        ("after extract, load", "after extract, load"),
        ("on_failure(extract)", "on_failure extract"),
        ("ON_FINISH extract", "on_finish extract"),
    ],
)
def test_trigger_texts_give_triggered_schedules(text: str, source: str) -> None:
    pytest.importorskip("cronwork.timing.triggers")
    schedule = parse_schedule(text, tz="UTC")
    assert schedule.is_triggered
    assert schedule.source == source
    assert parse_schedule(schedule.source, tz=schedule.tz) == schedule


def test_a_trigger_keyword_without_jobs_is_a_schedule_error() -> None:
    pytest.importorskip("cronwork.timing.triggers")
    with pytest.raises(ScheduleError, match='schedule "after": expected "after job_a, job_b"'):
        parse_schedule("after", tz="UTC")
