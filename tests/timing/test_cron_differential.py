"""cronwork against cronsim, the reference implementation of Debian cron semantics.

Random expressions in the syntax both libraries support, random zones, and start instants
packed around DST transitions; each case compares up to 15 successive fire instants.

cronwork deliberately differs from cronsim in three places, written down in docs/cron.md;
where a case hits one of them, the test checks cronwork against an elapsed-time brute force
instead of against cronsim:

1. cronsim walks hours in steps of 3600 real seconds, so after a transition that is not a
   whole hour (Lord Howe's 30 minutes, Chatham's 02:45) or that skips midnight (Santiago)
   it lands on the wrong minute and skips wall times that exist, or returns one instant
   again and again (Chatham's fall-back day). cronwork does not.
2. cronsim returns a wall time that does not exist (midnight on Santiago's spring-forward
   day) for elapsed-time jobs; cronwork fires only at wall times that exist.
3. cronwork applies the fixed-time DST rule to 6-field expressions too (cronsim only to 5).

cronsim also reads a single-value range with a step (``5-5/10``) as running to the end of the
field; cron, and cronwork, read it as the one value. The reference is given the plain value
(``5``) instead, which both read alike.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from cronsim.cronsim import CronSimError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronwork.errors import ScheduleError
from cronwork.timing.cron import CronSchedule

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "America/Santiago",
    "Pacific/Chatham",
    "Asia/Kolkata",
]
STEPS = 15
# How many values cronsim may return that are not after the last fire before it counts as
# repeating itself (see first_after); a repeated hour holds at most 3600 one-second fires.
MAX_REPEATS = 3601


@functools.cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """Return the UTC instants in 2015-2035 where the zone's offset changes."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    moment = datetime(2015, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(tz).utcoffset()
    while moment.year < 2035:
        probe = moment + timedelta(hours=6)
        if probe.astimezone(tz).utcoffset() != offset:
            lo, hi = moment, probe
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == offset else (lo, mid)
            found.append(hi)
            offset = probe.astimezone(tz).utcoffset()
        moment = probe
    return tuple(found) or (datetime(2024, 3, 1, tzinfo=UTC),)


def field(lo: int, hi: int) -> st.SearchStrategy[str]:
    number = st.integers(lo, hi)
    return st.one_of(
        st.just("*"),
        st.integers(1, hi - lo + 2).map(lambda n: f"*/{n}"),
        number.map(str),
        st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.tuples(number, number, st.integers(1, 20)).map(
            lambda abn: f"{min(abn[:2])}-{max(abn[:2])}/{abn[2]}"
        ),
        st.tuples(number, st.integers(1, 30)).map(lambda an: f"{an[0]}/{an[1]}"),
        st.lists(number, min_size=2, max_size=4).map(lambda xs: ",".join(map(str, xs))),
    )


names = st.sampled_from(["MON", "tue", "Wed", "FRI", "sat", "SUN"])
dom_field = st.one_of(field(1, 31), st.sampled_from(["L", "LW", "1,L", "L,15"]))
dow_field = st.one_of(
    field(0, 7),
    names,
    st.tuples(names, names).map(lambda ab: f"{ab[0]}-{ab[1]}"),
    st.integers(0, 7).map(lambda n: f"{n}L"),
    st.tuples(st.integers(0, 7), st.integers(1, 5)).map(lambda nk: f"{nk[0]}#{nk[1]}"),
)
month_field = st.one_of(field(1, 12), st.sampled_from(["JAN-MAR", "jun,Dec", "FEB"]))


@st.composite
def expressions(draw: st.DrawFn) -> str:
    parts = [
        draw(field(0, 59)),
        draw(field(0, 23)),
        draw(st.one_of(st.just("*"), dom_field)),
        draw(st.one_of(st.just("*"), month_field)),
        draw(st.one_of(st.just("*"), dow_field)),
    ]
    if draw(st.booleans()) and draw(st.booleans()):
        parts.insert(0, draw(field(0, 59)))
    return " ".join(parts)


@st.composite
def starts(draw: st.DrawFn, zone: str) -> datetime:
    """A start instant, usually within a day before or a few hours after a transition."""
    base = draw(st.sampled_from(transitions(zone)))
    seconds = draw(
        st.one_of(st.integers(-26 * 3600, 4 * 3600), st.integers(-3 * 86400, 100 * 86400))
    )
    micro = draw(st.sampled_from([0, 0, 500000]))
    return (base + timedelta(seconds=seconds, microseconds=micro)).astimezone(ZoneInfo(zone))


SINGLE_RANGE_STEP = re.compile(r"^(\d+)-\1/\d+$")


def for_cronsim(expr: str) -> str:
    """The expression with each ``a-a/n`` field written ``a``, which cronsim reads as cron."""
    return " ".join(
        m.group(1) if (m := SINGLE_RANGE_STEP.match(part)) else part for part in expr.split()
    )


def wall_matches(schedule: CronSchedule, moment: datetime) -> bool:
    """An independent check that an existing local moment matches the expression's fields."""
    local = moment.astimezone(schedule.tz)
    following = schedule.next_after(local - timedelta(seconds=1))
    return following is not None and following.astimezone(UTC) == local.astimezone(UTC)


def elapsed_time_next(schedule: CronSchedule, after: datetime, limit: datetime) -> datetime | None:
    """Brute force for elapsed-time jobs: the first whole second after `after` whose wall
    time matches the fields, scanning real time second by second (minute by minute when
    the seconds field is 0)."""
    sec_step = 1 if schedule.has_seconds else 60
    moment = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    if sec_step == 60 and moment.second:
        moment += timedelta(seconds=60 - moment.second)
    tz = schedule.tz
    spec = schedule
    while moment <= limit:
        local = moment.astimezone(tz)
        if (
            local.second in spec.seconds
            and local.minute in spec.minutes
            and local.hour in spec.hours
            and local.month in spec.months
            and local.day in spec._days(local.year, local.month)
        ):
            return local
        moment += timedelta(seconds=sec_step)
    return None


def cronsim_is_known_to_differ(schedule: CronSchedule, zone: str) -> bool:
    odd_zone = zone in ("Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago")
    six_field_fixed = schedule.has_seconds and schedule.fixed_time and zone not in ("UTC",)
    return (odd_zone and not schedule.fixed_time) or six_field_fixed


@settings(
    max_examples=700,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data(), expr=expressions(), zone=st.sampled_from(ZONES))
def test_same_fire_times_as_cronsim(data: st.DataObject, expr: str, zone: str) -> None:
    tz = ZoneInfo(zone)
    try:
        schedule = CronSchedule(expr, tz)
    except ScheduleError as error:
        # Beyond cronsim's own checks, cronwork rejects only expressions that never fire.
        if "can never fire" not in str(error):
            with pytest.raises(CronSimError):
                CronSim(for_cronsim(expr), datetime(2024, 1, 1, tzinfo=tz))
        return
    check_against_cronsim(schedule, expr, data.draw(starts(zone)))


def first_after(reference: CronSim, moment: datetime) -> datetime | None:
    """cronsim's next fire strictly after ``moment``; None if it keeps repeating itself.

    cronsim may return a fixed-time fire inside a repeated hour that is not after the start;
    cronwork is strictly after, so such values are dropped. In a zone whose transitions are
    not whole hours cronsim can also return one instant again and again (Chatham's 03:00
    +13:45 on its fall-back day): past MAX_REPEATS values it counts as a disagreement.
    """
    for _ in range(MAX_REPEATS):
        theirs: datetime = next(reference)
        if theirs.astimezone(UTC) > moment.astimezone(UTC):
            return theirs
    return None


def check_against_cronsim(schedule: CronSchedule, expr: str, start: datetime) -> None:
    """Up to STEPS fire times from ``start`` agree, or differ only where cronsim is known to."""
    tz = schedule.tz
    zone = str(tz)
    reference = CronSim(for_cronsim(expr), start)
    moment = start
    for _ in range(STEPS):
        ours = schedule.next_after(moment)
        assert ours is not None
        theirs = first_after(reference, moment)
        if theirs is None or ours.astimezone(UTC) != theirs.astimezone(UTC):
            assert cronsim_is_known_to_differ(schedule, zone), (
                f"{expr!r} in {zone} after {moment.isoformat()}: cronwork {ours.isoformat()}, "
                f"cronsim {'repeats itself' if theirs is None else theirs.isoformat()}"
            )
            if not schedule.fixed_time:
                limit = ours.astimezone(UTC)
                assert elapsed_time_next(schedule, moment, limit) == ours
            return
        # Same instant; cronsim may spell it as a wall time that a spring-forward skipped
        # (Santiago's 00:00 on a change day, -04:00), cronwork as the real one (01:00 -03:00).
        assert ours.utcoffset() == theirs.astimezone(UTC).astimezone(tz).utcoffset()
        assert ours.astimezone(UTC).astimezone(tz) == ours
        assert ours.tzinfo is tz
        moment = ours


def test_where_cronsim_repeats_one_instant_cronwork_is_checked_by_brute_force() -> None:
    # From this start cronsim returns 2026-04-05 03:00 +13:45 forever; the comparison used to
    # spin on it. It counts as one of cronsim's known differences in odd zones, so cronwork's
    # next fire time is checked against the elapsed-time brute force instead.
    chatham = ZoneInfo("Pacific/Chatham")
    expr = "*/46 */3 31 * 0,6,1,4"
    start = datetime(2026, 4, 4, 17, 58, 47, 219727, tzinfo=chatham)
    reference = CronSim(expr, start)
    stuck = datetime(2026, 4, 5, 3, 0, tzinfo=chatham)
    assert first_after(reference, stuck) is None
    check_against_cronsim(CronSchedule(expr, chatham), expr, start)


def test_a_skipped_midnight_is_spelled_as_the_wall_time_that_exists() -> None:
    # Santiago skipped 2016-08-14 00:00-01:00; the first Sunday minute is 01:00 -03:00, the
    # same instant cronsim spells as the nonexistent 00:00 -04:00.
    tz = ZoneInfo("America/Santiago")
    schedule = CronSchedule("* * * * 0", tz)
    ours = schedule.next_after(datetime(2016, 8, 13, 23, 59, 58, tzinfo=tz))
    assert ours is not None
    assert ours.astimezone(UTC) == datetime(2016, 8, 14, 4, 0, tzinfo=UTC)
    assert (ours.hour, ours.minute, ours.utcoffset()) == (1, 0, timedelta(hours=-3))
