"""One job table checked alone (what POST /api/v1/jobs sends): a job file's checks, with the
problem's key as the error's field."""

from __future__ import annotations

from typing import Any

import pytest

from cronwork.errors import JobError
from cronwork.jobfile import check_job_table


def refused(raw: Any) -> JobError:
    with pytest.raises(JobError) as caught:
        check_job_table(raw, tz="UTC")
    return caught.value


def test_a_valid_table_becomes_the_job_a_job_file_would_define() -> None:
    job = check_job_table(
        {"id": "report", "schedule": "every 1h", "call": "os:getcwd", "retries": 2, "tz": "UTC"}
    )
    assert (job.id, job.target.ref, job.retries, job.timezone) == ("report", "os:getcwd", 2, "UTC")


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"id": "a", "call": "m:f"}, "schedule", 'missing key "schedule"'),
        ({"id": "a", "schedule": "every 1m"}, "target", "needs a target"),
        ({"id": "a", "schedule": "soon", "call": "m:f"}, "schedule", '"soon" is not understood'),
        ({"id": "a", "schedule": "every 1m", "call": "m:f", "timeout": "x"}, "timeout", "timeout"),
        ({"id": "a", "schedule": "every 1m", "call": "m:f", "retriez": 1}, "retriez", "retries"),
        ({"id": "a", "schedule": "every 1m", "call": "m:f", "tz": "Mars/Base"}, "tz", "Mars"),
        ({"id": "a b", "schedule": "every 1m", "call": "m:f"}, "id", "invalid"),
        (
            {"id": "a", "schedule": "every 1m", "call": "m:f", "notify": ["ftp://x"]},
            "notify",
            "http",
        ),
    ],
)
def test_each_problem_names_its_key(raw: dict[str, Any], field: str, words: str) -> None:
    error = refused(raw)
    assert error.field == field
    assert words in str(error)


def test_a_disabled_job_is_refused_since_it_schedules_nothing() -> None:
    raw = {"id": "a", "schedule": "every 1m", "call": "m:f", "enabled": False}
    assert refused(raw).field == "enabled"


def test_a_table_that_is_not_one_is_refused_without_a_field() -> None:
    assert refused(["id", "a"]).field is None
