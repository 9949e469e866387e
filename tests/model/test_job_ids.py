"""One job-id rule and one message wherever an id is given: code, a job file, a trigger."""

from __future__ import annotations

import json

import pytest

from cronwork import JobError, ScheduleError
from cronwork.jobfile import JobFileError, parse_job_file
from cronwork.jobs import make_job
from cronwork.targets import Command
from cronwork.timing.triggers import after

RULE = (
    "not a valid job id (1-200 letters, digits and _ . : @ / -, starting with a letter, digit or _)"
)
BAD_IDS = ["x y", "backup\n", "", "-lead", ".hidden", "a" * 201, "café!"]
GOOD_IDS = ["backup", "0", "_x", "etl.load:daily@eu/v2-b", "a" * 200]


def job_file(job_id: str, depends_on: str | None = None) -> str:
    """A TOML job file with one job ``job_id``, or two when ``depends_on`` is given."""
    upstream = f"\ndepends_on = {json.dumps(depends_on)}" if depends_on is not None else ""
    return (
        f'[[jobs]]\nid = {json.dumps(job_id)}\nschedule = "every 1h"\ncommand = ["true"]'
        f"{upstream}\n"
    )


def problem_of(text: str) -> str:
    with pytest.raises(JobFileError) as caught:
        parse_job_file(text, name="jobs.toml")
    return str(caught.value)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_every_face_refuses_a_bad_id_with_the_same_rule(bad: str) -> None:
    with pytest.raises(JobError) as own:
        make_job(bad, Command("true"), "every 1h")
    with pytest.raises(JobError) as upstream:
        make_job("j", Command("true"), "every 1h", depends_on=[bad])
    with pytest.raises(ScheduleError) as trigger:
        after(bad)
    messages = {
        "own id": str(own.value),
        "depends_on": str(upstream.value),
        "file id": problem_of(job_file(bad)),
        "file depends_on": problem_of(job_file("j", depends_on=bad)),
        "trigger": str(trigger.value),
    }
    for face, message in messages.items():
        assert f"{bad!r} is invalid: {RULE}" in message, face
    assert str(own.value).startswith(f"job id {bad!r} is invalid")
    assert str(upstream.value).startswith(f"job 'j': depends_on {bad!r} is invalid")
    assert (own.value.field, upstream.value.field) == ("id", "depends_on")


@pytest.mark.parametrize("good", GOOD_IDS)
def test_every_face_accepts_the_same_ids(good: str) -> None:
    assert make_job(good, Command("true"), "every 1h").id == good
    assert make_job("j", Command("true"), "every 1h", depends_on=[good]).depends_on == (good,)
    assert after(good).upstream == (good,)
    assert [job.id for job in parse_job_file(job_file(good), name="jobs.toml").jobs] == [good]
