"""uses_hash: which schedule texts depend on the job id (cron H), and so cannot be shared."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwork.errors import ScheduleError
from cronwork.timing import parse_schedule, uses_hash

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def needs_a_job_id(text: str) -> bool:
    """The ground truth: parsing ``text`` without a job id fails for want of one."""
    try:
        parse_schedule(text, tz="UTC")
    except ScheduleError as exc:
        return "needs a job id" in str(exc)
    return False


@pytest.mark.parametrize(
    "text",
    [
        "H * * * *",
        "h 3 * * *",
        "0 H(0-5) * * *",
        "H/15 * * * * *",
        "0 0 1,H * *",
        "0 0 * H *",
        "0 0 * * H",
        "0 0 0 1 1 * H",
        "  H 3 * * *  ",
    ],
)
def test_cron_text_with_an_h_field_uses_the_hash(text: str) -> None:
    assert uses_hash(text)
    assert needs_a_job_id(text)


@pytest.mark.parametrize(
    "text",
    [
        # Each holds an H or "hour" that is no cron H field.
        "every thursday at 10:00",
        "every 1h",
        "every 2 hours",
        "every hour at :15",
        "hourly",
        "@hourly",
        "0 9 * * THU",
        "PT1H",
        "1h",
        "every month",
        "after hello",
        "on_finish H",
        "at 2026-12-01 10:00",
    ],
)
def test_other_texts_give_the_same_schedule_to_every_job(text: str) -> None:
    assert not uses_hash(text)
    assert not needs_a_job_id(text)
    times = {tuple(parse_schedule(text, tz="UTC", job_id=job).upcoming(3, NOW)) for job in "abc"}
    assert len(times) == 1


def test_empty_text_uses_no_hash() -> None:
    assert not uses_hash("")
    assert not uses_hash("   ")


FIELDS = (
    ["*", "0", "*/5", "H", "h/10", "1,H", "H(10-20)"],  # minute
    ["*", "3", "H", "H(0-5)", "1-3"],  # hour
    ["*", "1", "H", "1,15", "L"],  # day of month
    ["*", "1", "H", "JAN", "*/3"],  # month
    ["*", "MON", "H", "THU", "1-5"],  # day of week
)


@given(st.tuples(*(st.sampled_from(choices) for choices in FIELDS)))
def test_uses_hash_agrees_with_the_parser(fields: tuple[str, ...]) -> None:
    text = " ".join(fields)
    assert uses_hash(text) == needs_a_job_id(text)
