"""Cron syntax: what parses to what, what is rejected and how the error reads."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from cronwork.errors import ScheduleError
from cronwork.timing.cron import CronSchedule

TZ = ZoneInfo("UTC")
START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def fires(
    expr: str, count: int = 3, job_id: str | None = None, after: datetime = START
) -> list[str]:
    schedule = CronSchedule(expr, TZ, job_id)
    return [moment.strftime("%Y-%m-%d %H:%M:%S") for moment in schedule.upcoming(count, after)]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # five fields: minute hour day-of-month month day-of-week
        ("*/5 * * * *", ["2024-01-01 00:05:00", "2024-01-01 00:10:00", "2024-01-01 00:15:00"]),
        ("0 9 * * MON-FRI", ["2024-01-01 09:00:00", "2024-01-02 09:00:00", "2024-01-03 09:00:00"]),
        ("0 9 * * sat,Sun", ["2024-01-06 09:00:00", "2024-01-07 09:00:00", "2024-01-13 09:00:00"]),
        ("0 0 1 jan-Mar *", ["2024-02-01 00:00:00", "2024-03-01 00:00:00", "2025-01-01 00:00:00"]),
        ("10-20/5 3 * * *", ["2024-01-01 03:10:00", "2024-01-01 03:15:00", "2024-01-01 03:20:00"]),
        ("50/5 1 * * *", ["2024-01-01 01:50:00", "2024-01-01 01:55:00", "2024-01-02 01:50:00"]),
        ("0 0 * * 7", ["2024-01-07 00:00:00", "2024-01-14 00:00:00", "2024-01-21 00:00:00"]),
        ("0 0 * * 0", ["2024-01-07 00:00:00", "2024-01-14 00:00:00", "2024-01-21 00:00:00"]),
        ("0 0 * * 5-7", ["2024-01-05 00:00:00", "2024-01-06 00:00:00", "2024-01-07 00:00:00"]),
        ("0 0 29 2 *", ["2024-02-29 00:00:00", "2028-02-29 00:00:00", "2032-02-29 00:00:00"]),
        # six fields: seconds first; seven: year last
        ("*/20 * * * * *", ["2024-01-01 00:00:20", "2024-01-01 00:00:40", "2024-01-01 00:01:00"]),
        ("0 0 12 1 1 * 2025,2027", ["2025-01-01 12:00:00", "2027-01-01 12:00:00"]),
        # day specials
        ("0 0 L * *", ["2024-01-31 00:00:00", "2024-02-29 00:00:00", "2024-03-31 00:00:00"]),
        ("0 0 L-2 * *", ["2024-01-29 00:00:00", "2024-02-27 00:00:00", "2024-03-29 00:00:00"]),
        ("0 0 LW * *", ["2024-01-31 00:00:00", "2024-02-29 00:00:00", "2024-03-29 00:00:00"]),
        # 2024-06-01 is a Saturday: 1W is Monday the 3rd, never May 31st.
        ("0 0 1W 6 *", ["2024-06-03 00:00:00", "2025-06-02 00:00:00", "2026-06-01 00:00:00"]),
        # 2024-06-30 is a Sunday: 30W is Friday the 28th, never July 1st.
        ("0 0 30W 6 *", ["2024-06-28 00:00:00", "2025-06-30 00:00:00", "2026-06-30 00:00:00"]),
        ("0 0 ? * 5L", ["2024-01-26 00:00:00", "2024-02-23 00:00:00", "2024-03-29 00:00:00"]),
        ("15 3 ? * 5#2", ["2024-01-12 03:15:00", "2024-02-09 03:15:00", "2024-03-08 03:15:00"]),
        ("15 3 * * FRI#2", ["2024-01-12 03:15:00", "2024-02-09 03:15:00", "2024-03-08 03:15:00"]),
        # Both day fields restricted: either may match (the 13th, or any Friday).
        ("0 0 13 * FRI", ["2024-01-05 00:00:00", "2024-01-12 00:00:00", "2024-01-13 00:00:00"]),
        # A day field beginning with "*" counts as unrestricted: then both must match.
        ("0 0 */2 * MON", ["2024-01-15 00:00:00", "2024-01-29 00:00:00", "2024-02-05 00:00:00"]),
        ("0 0 13 * */1", ["2024-01-13 00:00:00", "2024-02-13 00:00:00", "2024-03-13 00:00:00"]),
        # aliases
        ("@hourly", ["2024-01-01 01:00:00", "2024-01-01 02:00:00", "2024-01-01 03:00:00"]),
        ("@DAILY", ["2024-01-02 00:00:00", "2024-01-03 00:00:00", "2024-01-04 00:00:00"]),
        ("@midnight", ["2024-01-02 00:00:00", "2024-01-03 00:00:00", "2024-01-04 00:00:00"]),
        ("@weekly", ["2024-01-07 00:00:00", "2024-01-14 00:00:00", "2024-01-21 00:00:00"]),
        ("@monthly", ["2024-02-01 00:00:00", "2024-03-01 00:00:00", "2024-04-01 00:00:00"]),
        ("@yearly", ["2025-01-01 00:00:00", "2026-01-01 00:00:00", "2027-01-01 00:00:00"]),
        ("@annually", ["2025-01-01 00:00:00", "2026-01-01 00:00:00", "2027-01-01 00:00:00"]),
        # steps larger than the range are accepted, as in cronsim
        ("*/90 */30 * * *", ["2024-01-02 00:00:00", "2024-01-03 00:00:00", "2024-01-04 00:00:00"]),
    ],
)
def test_expression_fires_at(expr: str, expected: list[str]) -> None:
    assert fires(expr) == expected


def test_next_after_is_strictly_after_and_ignores_microseconds() -> None:
    schedule = CronSchedule("0 * * * *", TZ)
    assert schedule.next_after(datetime(2024, 1, 1, 5, 0, tzinfo=UTC)) == datetime(
        2024, 1, 1, 6, 0, tzinfo=TZ
    )
    assert schedule.next_after(datetime(2024, 1, 1, 4, 59, 59, 999999, tzinfo=UTC)) == datetime(
        2024, 1, 1, 5, 0, tzinfo=TZ
    )


def test_result_is_aware_in_the_schedule_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    result = CronSchedule("0 9 * * *", berlin).next_after(START)
    assert result == datetime(2024, 1, 1, 9, 0, tzinfo=berlin)
    assert result is not None and result.tzinfo is berlin


def test_year_field_runs_out() -> None:
    schedule = CronSchedule("0 0 0 1 1 * 2030", TZ)
    assert schedule.next_after(datetime(2030, 1, 1, tzinfo=UTC)) is None


def test_source_is_the_stripped_expression() -> None:
    schedule = CronSchedule("  0 9 * * MON-FRI \n", TZ)
    assert schedule.source == "0 9 * * MON-FRI"
    assert schedule.tz is TZ
    assert schedule == CronSchedule("0 9 * * MON-FRI", TZ)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("60 * * * *", 'minute 60 out of range 0-59 (column 1 of "60 * * * *")'),
        ("0 24 * * *", 'hour 24 out of range 0-23 (column 3 of "0 24 * * *")'),
        ("0 1,99 * * *", 'hour 99 out of range 0-23 (column 5 of "0 1,99 * * *")'),
        ("  0 0 0 * *", 'day-of-month 0 out of range 1-31 (column 7 of "  0 0 0 * *")'),
        ("0 0 * 13 *", 'month 13 out of range 1-12 (column 7 of "0 0 * 13 *")'),
        ("0 0 * * 8", 'day-of-week 8 out of range 0-7 (column 9 of "0 0 * * 8")'),
        ("60 0 0 * * *", 'second 60 out of range 0-59 (column 1 of "60 0 0 * * *")'),
        ("0 0 0 * * * 1969", 'year 1969 out of range 1970-2199 (column 13 of "0 0 0 * * * 1969")'),
        ("0 5-1 * * *", "hour 5-1 is a reversed range (allowed 0-23) (column 3"),
        ("*/0 * * * *", "minute 0 is a zero step (allowed 0-59) (column 3"),
        ("0 0 * * 1#6", "day-of-week 1#6 needs #1 to #5 after the day (column 11"),
        ("0 0 * * 1#0", "day-of-week 1#0 needs #1 to #5 after the day (column 11"),
        ("0 0 * FOO *", "month FOO is not a number or name (JAN-DEC or 1-12) (column 7"),
        ("0 0 * * FUN", "day-of-week FUN is not a number or name (SUN-SAT or 0-7) (column 9"),
        ("0 0 * * MON-FOO", "day-of-week FOO is not a number or name (SUN-SAT or 0-7) (column 13"),
        ("x * * * *", "minute X is not a number (allowed 0-59) (column 1"),
        ("? * * * *", "minute ? is only allowed in the day fields (column 1"),
        ("1,,2 * * * *", "minute  is not a number (allowed 0-59) (column 3"),
        ("0 0 L-31 * *", "day-of-month L-31 is not L-n with n 0-30 (column 5"),
        ("H * * * *", "minute H needs a job id to hash (H) (column 1"),
        ("* * * *", "expected 5, 6 or 7 fields, got 4"),
        ("* * * * * * * *", "expected 5, 6 or 7 fields, got 8"),
        ("", "empty cron expression"),
        ("   ", "empty cron expression"),
        ("@fortnightly", "unknown alias @fortnightly (column 1"),
        ("@daily *", "unknown alias @daily (column 1"),
        ("0 0 30 2 *", 'cron expression "0 0 30 2 *" can never fire'),
        ("0 0 31 4,6 *", 'cron expression "0 0 31 4,6 *" can never fire'),
        ("0 0 0 29 2 * 2023", "can never fire"),
        ("0 0 LW * */7", "can never fire"),
    ],
)
def test_invalid_expression_error_names_field_token_and_column(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        CronSchedule(expr, TZ)
    assert message in str(caught.value)


def test_february_30th_is_fine_when_either_day_field_may_match() -> None:
    # Day-of-month OR day-of-week: Mondays in February still fire.
    assert fires("0 0 30 2 MON", 2) == ["2024-02-05 00:00:00", "2024-02-12 00:00:00"]


@pytest.mark.parametrize("bad", [None, 5, b"* * * * *"])
def test_non_string_expression_is_a_schedule_error(bad: object) -> None:
    with pytest.raises(ScheduleError):
        CronSchedule(bad, TZ)  # type: ignore[arg-type]


def test_naive_moment_is_a_schedule_error() -> None:
    with pytest.raises(ScheduleError, match="timezone-aware"):
        CronSchedule("* * * * *", TZ).next_after(datetime(2024, 1, 1))


# H: a stable hash of the job id, so many jobs spread out but each keeps its slot.
@pytest.mark.parametrize(
    ("expr", "job_id", "expected"),
    [
        ("H H * * *", "backup", "2024-01-01 15:02:00"),
        ("H H * * *", "report", "2024-01-01 16:43:00"),
        ("H(0-29)/10 H(9-17) * * *", "backup", "2024-01-01 15:02:00"),
        ("0 0 H * *", "backup", "2024-01-04 00:00:00"),
        ("0 0 * * H", "backup", "2024-01-02 00:00:00"),
    ],
)
def test_hash_is_stable_across_processes(expr: str, job_id: str, expected: str) -> None:
    assert fires(expr, 1, job_id=job_id) == [expected]


def test_hash_steps_keep_the_step() -> None:
    minutes = {moment[14:16] for moment in fires("H/15 * * * *", 8, job_id="sync")}
    values = sorted(int(minute) for minute in minutes)
    assert len(values) == 4
    assert [b - a for a, b in pairwise(values)] == [15, 15, 15]


def test_hash_in_a_range_stays_in_the_range() -> None:
    for job_id in ("a", "b", "c", "d", "e", "f"):
        (moment,) = fires("H(20-25) 0 * * *", 1, job_id=job_id)
        assert 20 <= int(moment[14:16]) <= 25


@pytest.mark.parametrize(
    ("expr", "description"),
    [
        ("0 9 * * MON-FRI", "At 09:00, Monday through Friday"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("* * * * *", "Every minute"),
        ("0 0 L * *", "At 00:00 on the last day of the month"),
        ("15 3 * * 5#2", "At 03:15 on the second Friday of the month"),
        ("0 12 * * 5L", "At 12:00 on the last Friday of the month"),
        ("0 0 LW * *", "At 00:00 on the last weekday of the month"),
        ("0 0 15W * *", "At 00:00 on the weekday nearest day 15 of the month"),
        ("0 0 L-3 * *", "At 00:00 on 3 days before the last day of the month"),
        ("@hourly", "At minute 0 of every hour"),
        ("0 */2 * * *", "At minute 0 past every 2nd hour"),
        ("30 8,17 * * *", "At 08:30 and 17:30"),
        ("0 0 1,15 * *", "At 00:00 on days 1 and 15 of the month"),
        ("0 0 13 * FRI", "At 00:00 on day 13 of the month or on Friday"),
        ("0 0 */2 * MON", "At 00:00 on every 2nd day of the month if it is Monday"),
        ("0 0 1 1 *", "At 00:00 on day 1 of the month in January"),
        ("0 6 * JUN-AUG SAT,SUN", "At 06:00, Sunday and Saturday in June through August"),
        ("*/10 * * * * *", "Every 10 seconds"),
        ("30 0 12 * * *", "At 12:00:30"),
        ("0 0 0 1 1 * 2030", "At 00:00 on day 1 of the month in January in 2030"),
    ],
)
def test_describe(expr: str, description: str) -> None:
    assert CronSchedule(expr, TZ).describe() == description
