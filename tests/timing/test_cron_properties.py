"""Properties every cron schedule has, checked on random expressions and start instants."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronwork.errors import ScheduleError
from cronwork.timing.cron import CronSchedule

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def field(lo: int, hi: int) -> st.SearchStrategy[str]:
    number = st.integers(lo, hi)
    return st.one_of(
        st.just("*"),
        st.integers(1, hi - lo + 1).map(lambda n: f"*/{n}"),
        number.map(str),
        st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.lists(number, min_size=2, max_size=3).map(lambda xs: ",".join(map(str, xs))),
    )


day_fields = st.one_of(
    st.just("* *"),
    field(1, 31).map(lambda dom: f"{dom} *"),
    field(0, 7).map(lambda dow: f"* {dow}"),
    st.tuples(field(1, 31), field(0, 7)).map(" ".join),
    st.sampled_from(["L *", "L-2 *", "15W *", "LW *", "? 5L", "? 1#3", "1 2#5", "? FRI"]),
)


@st.composite
def minute_expressions(draw: st.DrawFn) -> str:
    """Expressions that fire often enough to brute-force minute by minute."""
    minute = draw(field(0, 59))
    hour = draw(field(0, 23))
    return f"{minute} {hour} {draw(day_fields).split()[0]} * {draw(day_fields).split()[1]}"


def parse(expr: str, tz: ZoneInfo) -> CronSchedule | None:
    try:
        return CronSchedule(expr, tz)
    except ScheduleError:
        return None  # can never fire


def matches(expr: str, local: datetime) -> bool:
    """An independent matcher for 5-field expressions, written from the spec, not the engine."""
    minute, hour, dom, month, dow = expr.split()
    last = calendar.monthrange(local.year, local.month)[1]
    cron_dow = (local.weekday() + 1) % 7

    def plain(text: str, value: int, lo: int, hi: int, wrap_seven: bool = False) -> bool:
        for item in text.split(","):
            base, _, step_text = item.partition("/")
            step = int(step_text) if step_text else 1
            if base in ("*", "?"):
                start, end = lo, hi
            elif "-" in base:
                start, end = map(int, base.split("-"))
            else:
                start = int(base)
                end = hi if step_text else start
            for candidate in range(start, end + 1, step):
                if candidate == value or (wrap_seven and candidate % 7 == value):
                    return True
        return False

    def dom_ok() -> bool:
        for item in dom.split(","):
            if item == "L" and local.day == last:
                return True
            if item.startswith("L-") and local.day == last - int(item[2:]):
                return True
            if item == "LW" or item.endswith("W"):
                target = last if item == "LW" else int(item[:-1])
                if target > last:
                    continue
                weekday = calendar.weekday(local.year, local.month, target)
                if weekday == 5:
                    target = target - 1 if target > 1 else target + 2
                elif weekday == 6:
                    target = target + 1 if target < last else target - 2
                if local.day == target:
                    return True
            elif not item.startswith("L") and plain(item, local.day, 1, 31):
                return True
        return False

    def dow_ok() -> bool:
        for item in dow.split(","):
            names = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
            item = item.upper()
            for index, name in enumerate(names):
                item = item.replace(name, str(index))
            if "#" in item:
                day, nth = map(int, item.split("#"))
                if day % 7 == cron_dow and (local.day + 6) // 7 == nth:
                    return True
            elif item.endswith("L"):
                if int(item[:-1]) % 7 == cron_dow and local.day + 7 > last:
                    return True
            elif plain(item, cron_dow, 0, 7, wrap_seven=True):
                return True
        return False

    if not plain(minute, local.minute, 0, 59) or not plain(hour, local.hour, 0, 23):
        return False
    if not plain(month, local.month, 1, 12):
        return False
    either = not (dom.startswith(("*", "?")) or dow.startswith(("*", "?")))
    return (dom_ok() or dow_ok()) if either else (dom_ok() and dow_ok())


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@SETTINGS
@given(expr=minute_expressions(), zone=st.sampled_from(ZONES), start=instants)
def test_results_strictly_increase_and_match(expr: str, zone: str, start: datetime) -> None:
    tz = ZoneInfo(zone)
    schedule = parse(expr, tz)
    if schedule is None:
        return
    moment = start
    for _ in range(10):
        result = schedule.next_after(moment)
        assert result is not None
        assert result.astimezone(UTC) > moment.astimezone(UTC)
        assert result.second == 0 and result.microsecond == 0
        assert matches(expr, result) or (
            schedule.fixed_time and _skipped_by_spring_forward(result)
        ), result
        moment = result


def _skipped_by_spring_forward(result: datetime) -> bool:
    """True when `result` is right after a jump, where fixed-time jobs move to."""
    before = result - timedelta(seconds=1)
    return bool(before.astimezone(result.tzinfo).utcoffset() != result.utcoffset())


@SETTINGS
@given(
    expr=minute_expressions(),
    zone=st.sampled_from(["UTC", "Europe/Berlin"]),
    start=st.sampled_from(
        [
            datetime(2024, 3, 30, 22, tzinfo=UTC),  # Berlin spring-forward ahead
            datetime(2024, 10, 26, 22, tzinfo=UTC),  # Berlin fall-back ahead
            datetime(2024, 2, 28, 12, tzinfo=UTC),  # leap day ahead
            datetime(2023, 12, 31, 12, tzinfo=UTC),  # year end ahead
        ]
    ),
)
def test_no_fire_is_skipped(expr: str, zone: str, start: datetime) -> None:
    """Walk real time minute by minute for 36 hours and compare with the schedule."""
    tz = ZoneInfo(zone)
    schedule = parse(expr, tz)
    # Fixed-time jobs move across DST on purpose; test_cron_dst.py pins that down.
    if schedule is None or (schedule.fixed_time and zone != "UTC"):
        return
    end = start + timedelta(hours=36)
    expected = []
    moment = start + timedelta(minutes=1)
    while moment <= end:
        if matches(expr, moment.astimezone(tz)):
            expected.append(moment)
        moment += timedelta(minutes=1)
    actual = [
        fire.astimezone(UTC)
        for fire in schedule.upcoming(len(expected) + 1, start)
        if fire.astimezone(UTC) <= end
    ]
    assert actual == expected


TOKENS = [
    "*",
    "?",
    "/",
    "-",
    ",",
    "#",
    "L",
    "W",
    "LW",
    "H",
    "H(",
    ")",
    "0",
    "1",
    "5",
    "7",
    "31",
    "60",
    "99",
    "2199",
    "9999999999999",
    "MON",
    "jan",
    "SUN",
    "FOO",
    "@daily",
    "@",
    " ",
    "  ",
    "\t",
    "L-",
    "(1-5)",
    "--",
    "//",
    "##",
    "\u0661",
    "²",
    "\x00",
]


@settings(max_examples=1500, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.lists(st.sampled_from(TOKENS), max_size=16).map("".join),
        st.lists(st.lists(st.sampled_from(TOKENS), max_size=4).map("".join), max_size=8).map(
            " ".join
        ),
    ),
    job_id=st.one_of(st.none(), st.text(max_size=5)),
)
def test_garbage_raises_only_schedule_error(text: str, job_id: str | None) -> None:
    try:
        schedule = CronSchedule(text, ZoneInfo("Europe/Berlin"), job_id)
    except ScheduleError:
        return
    result = schedule.next_after(datetime(2024, 3, 31, 0, 30, tzinfo=UTC))
    assert result is None or result.tzinfo is schedule.tz
    schedule.describe()
