"""Daylight-saving time, as a table of spec cases per zone.

Fixed-time jobs (minute and hour, and seconds if given, do not begin with "*"): a wall time
skipped by spring-forward fires once, right after the jump; a wall time repeated by
fall-back fires once, on its first pass. Every other job follows elapsed time: a skipped
wall time does not fire, and a repeated one fires on both passes.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cronwork.timing.cron import CronSchedule


def local_fires(expr: str, zone: str, after: str, count: int) -> list[str]:
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(after).replace(tzinfo=tz)
    return [moment.isoformat() for moment in CronSchedule(expr, tz).upcoming(count, start)]


CASES = [
    # --- Europe/Berlin: 2024-03-31 02:00 -> 03:00, 2024-10-27 03:00 -> 02:00
    (
        "Berlin: a fixed 02:30 skipped by spring-forward fires at 03:00",
        "30 2 * * *",
        "Europe/Berlin",
        "2024-03-30T12:00",
        ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"],
    ),
    (
        "Berlin: two fixed slots in the gap fire once",
        "0,30 2 * * *",
        "Europe/Berlin",
        "2024-03-31T01:00",
        ["2024-03-31T03:00:00+02:00", "2024-04-01T02:00:00+02:00"],
    ),
    (
        "Berlin: a fixed 02:30 repeated by fall-back fires on the first pass only",
        "30 2 * * *",
        "Europe/Berlin",
        "2024-10-26T12:00",
        ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"],
    ),
    (
        "Berlin: every 30 minutes skips the missing hour",
        "*/30 * * * *",
        "Europe/Berlin",
        "2024-03-31T01:00",
        ["2024-03-31T01:30:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T03:30:00+02:00"],
    ),
    (
        "Berlin: every 30 minutes fires on both passes of the repeated hour",
        "*/30 * * * *",
        "Europe/Berlin",
        "2024-10-27T01:45",
        [
            "2024-10-27T02:00:00+02:00",
            "2024-10-27T02:30:00+02:00",
            "2024-10-27T02:00:00+01:00",
            "2024-10-27T02:30:00+01:00",
            "2024-10-27T03:00:00+01:00",
        ],
    ),
    (
        "Berlin: */15 in hour 2 starts with '*', so it follows elapsed time",
        "*/15 2 * * *",
        "Europe/Berlin",
        "2024-03-30T23:00",
        ["2024-04-01T02:00:00+02:00"],
    ),
    (
        "Berlin: a six-field fixed time is fixed too",
        "15 30 2 * * *",
        "Europe/Berlin",
        "2024-03-30T12:00",
        ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:15+02:00"],
    ),
    # --- America/New_York: 2024-03-10 02:00 -> 03:00, 2024-11-03 02:00 -> 01:00
    (
        "New York: fixed 02:15 on spring-forward day runs at 03:00",
        "15 2 * * *",
        "America/New_York",
        "2024-03-09T12:00",
        ["2024-03-10T03:00:00-04:00", "2024-03-11T02:15:00-04:00"],
    ),
    (
        "New York: fixed 01:30 on fall-back day runs once, in daylight time",
        "30 1 * * *",
        "America/New_York",
        "2024-11-02T12:00",
        ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"],
    ),
    (
        "New York: hourly fires twice at 01:00",
        "0 * * * *",
        "America/New_York",
        "2024-11-03T00:30",
        ["2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"],
    ),
    # --- Australia/Lord_Howe: 30-minute DST. 2024-10-06 02:00 -> 02:30, 2024-04-07 02:00 -> 01:30
    (
        "Lord Howe: fixed 02:10 skipped by the half-hour jump runs at 02:30",
        "10 2 * * *",
        "Australia/Lord_Howe",
        "2024-10-05T12:00",
        ["2024-10-06T02:30:00+11:00", "2024-10-07T02:10:00+11:00"],
    ),
    (
        "Lord Howe: every 20 minutes only at wall times that exist",
        "*/20 * * * *",
        "Australia/Lord_Howe",
        "2024-10-06T01:30",
        ["2024-10-06T01:40:00+10:30", "2024-10-06T02:40:00+11:00", "2024-10-06T03:00:00+11:00"],
    ),
    (
        "Lord Howe: 01:45 is repeated; a fixed job fires on the first pass",
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2024-04-06T12:00",
        ["2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30"],
    ),
    (
        "Lord Howe: */20 in the repeated half hour fires on both passes",
        "*/20 1 * * *",
        "Australia/Lord_Howe",
        "2024-04-07T01:30",
        ["2024-04-07T01:40:00+11:00", "2024-04-07T01:40:00+10:30", "2024-04-08T01:00:00+10:30"],
    ),
    # --- Europe/Dublin, where winter is the "negative DST":
    #     2024-03-31 01:00 -> 02:00, 2024-10-27 02:00 -> 01:00
    (
        "Dublin: fixed 01:30 skipped in spring runs at 02:00",
        "30 1 * * *",
        "Europe/Dublin",
        "2024-03-30T12:00",
        ["2024-03-31T02:00:00+01:00", "2024-04-01T01:30:00+01:00"],
    ),
    (
        "Dublin: fixed 01:30 repeated in autumn runs once",
        "30 1 * * *",
        "Europe/Dublin",
        "2024-10-26T12:00",
        ["2024-10-27T01:30:00+01:00", "2024-10-28T01:30:00+00:00"],
    ),
    # --- Pacific/Chatham: 2024-09-29 02:45 -> 03:45, 2024-04-07 03:45 -> 02:45
    (
        "Chatham: fixed 03:00 skipped by the 02:45 jump runs at 03:45",
        "0 3 * * *",
        "Pacific/Chatham",
        "2024-09-28T12:00",
        ["2024-09-29T03:45:00+13:45", "2024-09-30T03:00:00+13:45"],
    ),
    (
        "Chatham: every 11 minutes in hour 3 still fires at 03:55, which exists",
        "*/11 3 * * *",
        "Pacific/Chatham",
        "2024-09-29T00:00",
        ["2024-09-29T03:55:00+13:45", "2024-09-30T03:00:00+13:45"],
    ),
    (
        "Chatham: fixed 03:00 in the repeated hour fires once",
        "0 3 * * *",
        "Pacific/Chatham",
        "2024-04-06T12:00",
        ["2024-04-07T03:00:00+13:45", "2024-04-08T03:00:00+12:45"],
    ),
]


@pytest.mark.parametrize(
    ("expr", "zone", "after", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_dst(expr: str, zone: str, after: str, expected: list[str]) -> None:
    assert local_fires(expr, zone, after, len(expected)) == expected


def test_starting_inside_the_second_pass_of_a_repeated_hour() -> None:
    tz = ZoneInfo("Europe/Berlin")
    second_pass = datetime(2024, 10, 27, 2, 10, tzinfo=tz, fold=1)
    # The fixed 02:15 already ran on the first pass, an hour earlier: next is tomorrow.
    fixed = CronSchedule("15 2 * * *", tz).next_after(second_pass)
    assert fixed is not None and fixed.isoformat() == "2024-10-28T02:15:00+01:00"
    # An elapsed-time job fires at 02:15 of the second pass.
    elapsed = CronSchedule("15 * * * *", tz).next_after(second_pass)
    assert elapsed is not None and elapsed.isoformat() == "2024-10-27T02:15:00+01:00"
