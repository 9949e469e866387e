"""The jobs list encodes each job as ``job_shape`` does, whatever the job and its state.

``jobs_list_body`` keeps the encoded definition of each Job object it has seen; a job that
changed is another object, so a list never shows a definition or state it no longer has.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cronwork.jobs import Job, make_job
from cronwork.notify import parse_notify
from cronwork.runs import Run, RunStatus
from cronwork.targets import Command, make_target
from cronwork.web.shapes import job_shape, jobs_list_body

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def jobs() -> list[Job]:
    """Jobs of every kind of target, with secrets, settings and states."""
    plain = make_job("plain", make_target("os.path:join"), "*/5 * * * *", tz="Europe/Paris")
    command = make_job(
        "command",
        make_target(Command("echo hi", env={"TOKEN": "s3cret"})),
        "every 1h",
        tz="UTC",
        timeout="30s",
        retries=2,
        tags=("a", "b"),
        notify=parse_notify(["https://user:pw@example.com/hook?key=k"], "command"),
    )
    args = make_job(
        "args", make_target("os.path:join"), "@daily", tz="UTC", args=("x", 1), kwargs={"k": [1]}
    )
    return [
        plain.replace(next_run_at=T0),
        command.replace(paused=True, pause_note="deploy", next_run_at=None),
        args.replace(broken="cannot import os.path:nope", next_run_at=T0),
    ]


def newest(job_id: str) -> Run:
    return Run(
        id="7",
        job_id=job_id,
        scheduled_for=T0,
        status=RunStatus.FAILED,
        finished_at=T0,
    )


def decoded(picked: list[tuple[Job, Run | None]], after: str | None) -> Any:
    return json.loads(jobs_list_body(picked, after))


def test_each_job_is_listed_as_its_shape() -> None:
    picked = [(job, newest(job.id) if n % 2 else None) for n, job in enumerate(jobs())]
    expected = {"jobs": [job_shape(job, last) for job, last in picked], "next": "args"}
    assert decoded(picked, "args") == expected
    # Again, from what was kept: the same answer, keys in the same order.
    assert jobs_list_body(picked, "args") == jobs_list_body(picked, "args")
    assert list(decoded(picked, None)["jobs"][1]) == list(expected["jobs"][1])
    assert decoded(picked, None)["next"] is None


def test_secrets_stay_hidden() -> None:
    body = jobs_list_body([(job, None) for job in jobs()], None).decode()
    assert "s3cret" not in body and ":pw@" not in body


def test_a_changed_job_is_listed_as_it_is_now() -> None:
    job = jobs()[0]
    assert decoded([(job, None)], None)["jobs"][0]["retries"] == 0
    changed = job.replace(retries=5, paused=True)
    shown = decoded([(changed, newest(job.id))], None)["jobs"][0]
    assert shown == job_shape(changed, newest(job.id))
    assert (shown["retries"], shown["paused"]) == (5, True)
