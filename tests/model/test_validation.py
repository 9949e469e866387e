"""The one validator: every field of a job has a type and a range, checked the same way by
make_job, validate_job, Scheduler.add_job and modify_job, with errors naming job and field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cronwork import Command, JobError, ScheduleError, Scheduler, TargetError
from cronwork.jobs import MAX_DURATION, MAX_INSTANCES, MAX_RETRIES, make_job, validate_job
from cronwork.targets import Target
from cronwork.testing import FakeClock
from cronwork.timing import parse_duration, parse_schedule

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = Target("call", f"{__name__}:work")


def work() -> None:
    """A module-level sync function."""


async def awork() -> None:
    """A module-level coroutine function."""


def scheduler(tmp_path: Path | None = None) -> Scheduler:
    store = f"sqlite:///{tmp_path / 'jobs.db'}" if tmp_path is not None else None
    return Scheduler(store, timezone="UTC", clock=FakeClock(NOW))


def build(**settings: Any) -> Any:
    return make_job("j", TARGET, "every 1m", **settings)


# -- item 1: integers have documented ranges -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("retries", 10**30, MAX_RETRIES),
        ("retries", MAX_RETRIES + 1, MAX_RETRIES),
        ("max_instances", 10**30, MAX_INSTANCES),
        ("max_instances", MAX_INSTANCES + 1, MAX_INSTANCES),
    ],
)
def test_integers_above_their_limit_are_refused_naming_job_field_and_limit(
    field: str, value: int, limit: int
) -> None:
    with pytest.raises(JobError) as caught:
        build(**{field: value})
    message = str(caught.value)
    assert "job 'j'" in message
    assert field in message
    assert f"at most {limit}" in message
    assert (caught.value.job_id, caught.value.field, caught.value.value) == ("j", field, value)


def test_integers_at_their_limit_are_accepted() -> None:
    job = build(retries=MAX_RETRIES, max_instances=MAX_INSTANCES, overlap="allow")
    assert (job.retries, job.max_instances) == (MAX_RETRIES, MAX_INSTANCES)


def test_huge_retries_on_sqlite_is_a_job_error_and_stores_nothing(tmp_path: Path) -> None:
    sched = scheduler(tmp_path)
    with pytest.raises(JobError, match="retries"):
        sched.add_job("j", work, "every 1m", retries=10**30)
    assert sched.jobs() == []


def test_modify_job_applies_the_same_limits(tmp_path: Path) -> None:
    sched = scheduler(tmp_path)
    sched.add_job("j", work, "every 1m")
    with pytest.raises(JobError, match=f"at most {MAX_INSTANCES}"):
        sched.modify_job("j", max_instances=10**30)
    assert sched.get_job("j").max_instances == 1


# -- item 2: durations have documented maxima ------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"timeout": "999999999d"},
        {"retry_backoff": "99999999d", "retry_backoff_max": "99999999d"},
        {"retry_backoff_max": "99999999d"},
        {"misfire_grace": "99999999d"},
        {"dependency_timeout": "99999999d"},
        {"misfire_grace": MAX_DURATION + timedelta(microseconds=1)},
    ],
)
def test_durations_above_the_maximum_are_refused_naming_field_and_limit(
    settings: dict[str, Any],
) -> None:
    field = next(reversed(settings)) if "retry_backoff" not in settings else "retry_backoff"
    with pytest.raises(JobError) as caught:
        build(**settings)
    assert f"{field} " in str(caught.value)
    assert "at most 366d" in str(caught.value)
    assert "job 'j'" in str(caught.value)
    assert caught.value.field == field


def test_jitter_above_the_maximum_is_refused_for_cron_schedules() -> None:
    with pytest.raises(JobError, match=r"jitter .*at most 366d"):
        make_job("j", TARGET, "0 3 * * *", jitter="99999999d")


def test_durations_at_the_maximum_are_accepted() -> None:
    job = build(timeout="366d", retry_backoff="366d", retry_backoff_max="366d")
    assert job.timeout == job.retry_backoff == MAX_DURATION


def test_validate_job_checks_limits_of_a_job_built_directly() -> None:
    job = build()
    with pytest.raises(JobError, match="timeout"):
        validate_job(dataclasses.replace(job, timeout=timedelta(days=10**6)))


@pytest.mark.parametrize("schedule", ["every 999999999d", "every 367d", timedelta(days=400)])
def test_intervals_above_the_maximum_are_refused(schedule: object) -> None:
    with pytest.raises(ScheduleError, match="at most 366d"):
        parse_schedule(schedule, tz="UTC")


def test_interval_at_the_maximum_is_accepted() -> None:
    assert parse_schedule("every 366d", tz="UTC").next_after(NOW) is not None


@pytest.mark.parametrize("field", ["start_at", "end_at"])
def test_bounds_after_year_9000_are_refused(field: str) -> None:
    with pytest.raises(JobError, match=f"{field} .*before 9000-01-01"):
        build(**{field: datetime(9999, 1, 1, tzinfo=UTC)})


def test_a_one_shot_after_year_9000_is_refused() -> None:
    with pytest.raises(ScheduleError, match="before 9000-01-01"):
        make_job("j", TARGET, "at 9999-12-31 23:00")


# -- item 5: the executor must be able to run the target --------------------------------------


@pytest.mark.parametrize(
    ("target", "executor", "match"),
    [
        (work, "async", "plain function"),
        (work, "command", "runs Command targets"),
        (awork, "thread", "coroutine function"),
        (awork, "command", "runs Command targets"),
        (Command("true"), "thread", "Command"),
        (Command("true"), "process", "Command"),
        (Command("true"), "async", "Command"),
        (lambda: None, "process", "module-level function"),
        (f"{__name__}:work", "async", "plain function"),
        (f"{__name__}:awork", "thread", "coroutine function"),
    ],
)
def test_an_executor_that_cannot_run_the_target_is_refused(
    target: object, executor: str, match: str
) -> None:
    sched = scheduler()
    with pytest.raises(JobError, match=match) as caught:
        sched.add_job("j", target, "every 1m", executor=executor)
    assert "job 'j'" in str(caught.value)
    assert caught.value.field == "executor"
    assert sched.jobs() == []


@pytest.mark.parametrize(
    ("target", "executor"),
    [
        (work, "thread"),
        (work, "process"),
        (awork, "async"),
        (awork, "process"),
        (Command("true"), "command"),
        (lambda: None, "thread"),
    ],
)
def test_an_executor_that_can_run_the_target_is_accepted(target: object, executor: str) -> None:
    assert scheduler().add_job("j", target, "every 1m", executor=executor).executor == executor


def test_a_registered_task_is_checked_against_its_executor() -> None:
    sched = scheduler()
    sched.tasks.register("t", work)
    with pytest.raises(JobError, match="plain function"):
        sched.add_job("j", "t", "every 1m", executor="async")


def test_modify_job_checks_the_executor_against_the_current_target() -> None:
    sched = scheduler()
    sched.add_job("j", work, "every 1m")
    with pytest.raises(JobError, match="plain function"):
        sched.modify_job("j", executor="async")
    assert sched.get_job("j").executor is None


def test_a_command_target_with_a_function_executor_is_refused_by_make_job() -> None:
    command = Command("true")
    target = Target("command", command.line, command=command)
    with pytest.raises(JobError, match="Command"):
        make_job("j", target, "every 1m", executor="thread")


def test_an_unknown_executor_is_refused() -> None:
    with pytest.raises(JobError, match="executor 'fast' is not one of"):
        build(executor="fast")
    with pytest.raises(JobError, match="executor must be text"):
        build(executor=1)


# -- item 10: strict types ---------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["j\n", "j\r\n", " j", "j\t"])
def test_an_id_with_surrounding_whitespace_is_refused(job_id: str) -> None:
    with pytest.raises(JobError, match="job id"):
        make_job(job_id, TARGET, "every 1m")
    with pytest.raises(JobError, match="job id"):
        validate_job(dataclasses.replace(build(), id=job_id))


@pytest.mark.parametrize(
    ("settings", "field", "match"),
    [
        ({"args": "abc"}, "args", "args must be a list"),
        ({"args": {"a": 1}}, "args", "args must be a list"),
        ({"args": b"ab"}, "args", "args must be a list"),
        ({"tags": "abc"}, "tags", "tags must be a list"),
        ({"tags": ["ok", 3]}, "tags", "tags must be non-empty strings"),
        ({"tags": [""]}, "tags", "tags must be non-empty strings"),
        ({"paused": "no"}, "paused", "paused must be True or False"),
        ({"paused": 0}, "paused", "paused must be True or False"),
        ({"max_instances": True}, "max_instances", "whole number"),
        ({"retries": True}, "retries", "whole number"),
        ({"retries": 1.0}, "retries", "whole number"),
        ({"retries": "3"}, "retries", "whole number"),
        ({"kwargs": {1: 2}}, "kwargs", "keys must be strings"),
        ({"kwargs": {"a": {1: 2}}}, "kwargs", "keys must be strings"),
        ({"kwargs": [("a", 1)]}, "kwargs", "kwargs must be a mapping"),
        ({"kwargs": {"x": float("nan")}}, "kwargs", "JSON"),
        ({"kwargs": {"x": float("inf")}}, "kwargs", "JSON"),
        ({"args": [float("-inf")]}, "args", "JSON"),
        ({"args": [object()]}, "args", "JSON"),
        ({"depends_on": ["a\n"]}, "depends_on", "not a valid job id"),
        ({"depends_on": [3]}, "depends_on", "not a valid job id"),
        ({"origin": 3}, "origin", "origin must be text"),
    ],
)
def test_every_field_has_a_strict_type(settings: dict[str, Any], field: str, match: str) -> None:
    with pytest.raises(JobError, match=match) as caught:
        build(**settings)
    assert "job 'j'" in str(caught.value)
    assert caught.value.field == field


def test_validate_job_checks_types_of_a_job_built_directly() -> None:
    job = build()
    for change in (
        {"paused": "no"},
        {"args": "abc"},
        {"tags": "abc"},
        {"kwargs": {1: 2}},
        {"retries": True},
        {"timeout": 30},
        {"overlap": "skip"},
        {"target": "pkg:func"},
    ):
        with pytest.raises(JobError):
            validate_job(dataclasses.replace(job, **change))


def test_modify_job_refuses_a_non_bool_paused(tmp_path: Path) -> None:
    sched = scheduler(tmp_path)
    sched.add_job("j", work, "every 1m")
    with pytest.raises(JobError, match="paused must be True or False"):
        sched.modify_job("j", paused="no")
    assert sched.get_job("j").paused is False


def test_add_job_refuses_a_non_bool_paused_on_sqlite(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="paused"):
        scheduler(tmp_path).add_job("j", work, "every 1m", paused="no")


def test_valid_values_keep_their_types() -> None:
    job = build(args=[1, "a", [2]], kwargs={"k": {"n": None}}, tags=("x", "y"), paused=True)
    assert job.args == (1, "a", [2])
    assert job.tags == ("x", "y")
    assert job.paused is True


# -- item 11: schedules that can never fire --------------------------------------------------


def test_add_job_refuses_a_one_shot_in_the_past_naming_it() -> None:
    sched = scheduler()
    with pytest.raises(ScheduleError) as caught:
        sched.add_job("j", work, "at 2025-06-01 10:00")
    message = str(caught.value)
    assert "job 'j'" in message
    assert "at 2025-06-01T10:00:00+00:00" in message
    assert "never fires" in message
    assert caught.value.field == "schedule"
    assert sched.jobs() == []


def test_add_job_refuses_an_end_at_in_the_past() -> None:
    sched = scheduler()
    with pytest.raises(ScheduleError, match=r"job 'j'.*never fires"):
        sched.add_job("j", work, "every 1h", end_at=NOW - timedelta(days=1))
    assert sched.jobs() == []


def test_add_job_accepts_a_one_shot_in_the_future_and_triggered_schedules() -> None:
    sched = scheduler()
    assert sched.add_job("once", work, "at 2026-06-01 10:00").next_run_at is not None
    assert sched.add_job("then", work, "after once").next_run_at is None


def test_modify_job_refuses_a_new_schedule_that_never_fires() -> None:
    sched = scheduler()
    sched.add_job("j", work, "every 1h")
    with pytest.raises(ScheduleError, match="never fires"):
        sched.modify_job("j", schedule="at 2020-01-01 00:00")
    assert sched.get_job("j").schedule.source == "every 1h"


def test_modify_job_of_an_exhausted_one_shot_keeps_working_for_other_settings() -> None:
    clock = FakeClock(NOW)
    sched = Scheduler(timezone="UTC", clock=clock)
    sched.add_job("j", work, "at 2026-01-02 00:00")
    clock.advance(timedelta(days=2))
    assert sched.modify_job("j", retries=2).retries == 2


# -- item 14: messages name schedule and job; only ASCII digits ------------------------------


@pytest.mark.parametrize(
    ("schedule", "shown"),
    [
        ("every 1ms", "every 1ms"),
        ("every 999999999d", "every 999999999d"),
        ("every 3 fortnights", "every 3 fortnights"),
        ("61 * * * *", "61 * * * *"),
        ("every day at 25:00", "every day at 25:00"),
        ("at 2026-13-01 10:00", "2026-13-01 10:00"),
        ("after bad\nid", "bad\nid"),
    ],
)
def test_schedule_errors_name_the_schedule_and_the_job(schedule: str, shown: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        make_job("j", TARGET, schedule)
    message = str(caught.value)
    assert message.startswith("job 'j': schedule")
    assert "schedule: schedule" not in message  # the field is named once
    assert shown in message or repr(shown)[1:-1] in message
    assert (caught.value.job_id, caught.value.field) == ("j", "schedule")


@pytest.mark.parametrize(
    "schedule",
    [
        "every ５m",
        "every 1h３０m",
        "５m",
        "every day at １０:30",
        "at ２026-12-01 10:00",
        "every 1h from ２026-01-01T00:30",
        "every month on the １st",
        "０ 3 * * *",
    ],
)
def test_non_ascii_digits_in_schedules_are_refused_everywhere(schedule: str) -> None:
    with pytest.raises(ScheduleError, match="non-ASCII digit"):
        parse_schedule(schedule, tz="UTC")


@pytest.mark.parametrize("text", ["５m", "1h３０m", "PT５M", "٣s"])
def test_non_ascii_digits_in_durations_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError, match="non-ASCII digit"):
        parse_duration(text)


def test_non_ascii_digits_in_a_job_duration_name_the_field() -> None:
    with pytest.raises(JobError, match=r"job 'j': timeout .*non-ASCII digit") as caught:
        build(timeout="５m")
    assert caught.value.field == "timeout"


# -- structured error data ------------------------------------------------------------------


def test_errors_carry_job_field_and_value_with_the_message_unchanged() -> None:
    error = JobError("job 'j': retries is bad", job_id="j", field="retries", value=-1)
    assert str(error) == "job 'j': retries is bad"
    assert (error.job_id, error.field, error.value) == ("j", "retries", -1)
    plain = ScheduleError("plain")
    assert (plain.job_id, plain.field, plain.value) == (None, None, None)
    assert isinstance(TargetError("x", field="target"), JobError)


# -- job files reach the same validator ------------------------------------------------------


def job_file_problems(body: str, **options: Any) -> list[str]:
    from cronwork.jobfile import JobFileError, parse_job_file

    text = f"jobs:\n  - id: x\n    schedule: every 1h\n{body}"
    with pytest.raises(JobFileError) as caught:
        parse_job_file(text, name="jobs.yaml", **options)
    return caught.value.problems


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("    command: [echo]\n    retries: 99999999999999999999999\n", "at most 1000"),
        ("    command: [echo]\n    max_instances: 10001\n", "at most 10000"),
        ('    command: [echo]\n    timeout: "999999999d"\n', "at most 366d"),
        ("    command: [echo]\n    executor: thread\n", "runs functions, not the Command"),
        ("    call: json:dumps\n    executor: command\n", "runs Command targets"),
        ("    call: json:dumps\n    kwargs: {x: .nan}\n", "JSON"),
        ('    command: [echo]\n    timeout: "５m"\n', "non-ASCII digit"),
    ],
)
def test_job_files_are_checked_by_the_same_validator(body: str, found: str) -> None:
    (problem,) = job_file_problems(body)
    assert problem.startswith("jobs.yaml:"), problem
    assert 'job "x"' in problem and found in problem, problem


def test_a_job_file_call_target_is_checked_against_its_executor_once_imported() -> None:
    (problem,) = job_file_problems(
        f"    call: {__name__}:work\n    executor: async\n", check_imports=True
    )
    assert "plain function" in problem


@pytest.mark.parametrize("schedule", ["every 1ms", "every ５m", "61 * * * *", "whenever"])
def test_add_job_schedule_errors_name_the_job_and_the_schedule(schedule: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        scheduler().add_job("j", work, schedule)
    assert str(caught.value).startswith("job 'j': schedule"), caught.value
    assert schedule in str(caught.value)
    assert (caught.value.job_id, caught.value.field, caught.value.value) == (
        "j",
        "schedule",
        schedule,
    )
