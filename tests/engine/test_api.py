"""add_job and friends: clear errors that change nothing, targets of every kind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from enginekit import START, run_async

from cronwork import (
    AsyncScheduler,
    Command,
    DuplicateJob,
    JobError,
    JobNotFound,
    RunStatus,
    ScheduleError,
    Scheduler,
    TargetError,
)
from cronwork.stores import Store
from cronwork.testing import FakeClock


def noop() -> None:
    """A module-level function: importable by path."""


def test_duplicate_id_raises_unless_replace(store: Store) -> None:
    scheduler = Scheduler(store, timezone="UTC")
    scheduler.add_job("j", noop, "every 1m")
    with pytest.raises(DuplicateJob, match="'j' exists already"):
        scheduler.add_job("j", noop, "every 5m")
    assert scheduler.get_job("j").schedule.source == "every 1m"
    replaced = scheduler.add_job("j", noop, "every 5m", replace=True)
    assert replaced.schedule.source == "every 5m"
    assert [j.id for j in scheduler.jobs()] == ["j"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"overlap": "sometimes"}, JobError, "overlap 'sometimes' is not one of"),
        ({"misfire": "never"}, JobError, "misfire 'never'"),
        ({"on_timeout": "explode"}, JobError, "on_timeout"),
        ({"timeout": "-5s"}, JobError, "timeout"),
        ({"timeout": 0}, JobError, "timeout"),
        ({"retries": -1}, JobError, "retries"),
        ({"max_instances": 0}, JobError, "max_instances"),
        ({"executor": "gpu"}, JobError, "executor 'gpu'"),
        ({"args": (object(),)}, JobError, "JSON"),
        ({"schedule": "61 * * * *"}, ScheduleError, "minute 61 out of range"),
        ({"schedule": "whenever"}, ScheduleError, "whenever"),
        ({"target": 42}, TargetError, "target must be a callable"),
        ({"target": "no such thing"}, TargetError, "neither a registered task"),
        ({"target": "nosuchmodule_xyz:func"}, TargetError, "cannot import module"),
        ({"job_id": "bad id!"}, JobError, "job id 'bad id!' is invalid"),
        ({"executor": "process", "target": lambda: None}, TargetError, "module-level"),
    ],
)
def test_bad_arguments_raise_and_change_nothing(
    kwargs: dict[str, object], error: type[Exception], match: str, store: Store
) -> None:
    scheduler = Scheduler(store, timezone="UTC")
    call = {"job_id": "j", "target": noop, "schedule": "every 1m", **kwargs}
    with pytest.raises(error, match=match):
        scheduler.add_job(call.pop("job_id"), call.pop("target"), call.pop("schedule"), **call)  # type: ignore[arg-type]
    assert scheduler.jobs() == []
    assert scheduler.runs() == []


def test_unknown_job_raises_job_not_found(store: Store) -> None:
    scheduler = Scheduler(store)
    for method in (scheduler.get_job, scheduler.pause_job, scheduler.trigger, scheduler.stop):
        with pytest.raises(JobNotFound):
            method("ghost")
    with pytest.raises(JobNotFound):
        scheduler.remove_job("ghost")


def test_modify_rejects_unknown_settings_and_changes_nothing(store: Store) -> None:
    scheduler = Scheduler(store, timezone="UTC")
    before = scheduler.add_job("j", noop, "every 1m")
    with pytest.raises(JobError, match="cannot modify colour"):
        scheduler.modify_job("j", colour="red")
    with pytest.raises(JobError, match="overlap"):
        scheduler.modify_job("j", overlap="maybe")
    assert scheduler.get_job("j") == before


def test_management_works_without_starting(store: Store) -> None:
    scheduler = Scheduler(store, timezone="UTC")
    job = scheduler.add_job("j", noop, "every 1m", tags=["a"])
    assert scheduler.get_job("j") == job
    scheduler.pause_job("j")
    assert scheduler.get_job("j").paused
    run = scheduler.trigger("j")
    assert scheduler.runs("j") == [run]
    assert run.status is RunStatus.SCHEDULED


def test_targets_import_path_and_registered_task(store: Store) -> None:
    scheduler = Scheduler(store, timezone="UTC")

    @scheduler.task()
    def cleanup() -> None:
        pass

    by_path = scheduler.add_job("path", "test_api:noop", "every 1m")
    by_task = scheduler.add_job("task", "cleanup", "every 1m")
    by_func = scheduler.add_job("func", noop, "every 1m")
    assert (by_path.target.kind, by_path.target.ref) == ("call", "test_api:noop")
    assert (by_task.target.kind, by_task.target.ref) == ("task", "cleanup")
    assert by_func.target.kind == "call"
    assert scheduler.tasks.names() == ["cleanup"]


# Memory store only: the decorator form adds the decorated closure itself, which no
# persistent store can keep (test_api's module-level cases cover targets by import path).
@run_async
async def test_decorator_form(clock: FakeClock) -> None:
    scheduler = AsyncScheduler(clock=clock, timezone="UTC")
    fired = []

    @scheduler.job("*/5 * * * *", timeout="30s", retries=1)
    def every_five() -> None:
        fired.append(clock.now().minute)

    job = await scheduler.get_job("every_five")
    assert job.timeout == timedelta(seconds=30) and job.retries == 1
    async with scheduler:
        await clock.run_for(timedelta(minutes=12))
    assert fired == [5, 10]


@run_async
async def test_command_target_records_exit_code_and_output(clock: FakeClock, store: Store) -> None:
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job(
            "ok", Command(["sh", "-c", "echo hello"]), START + timedelta(seconds=1)
        )
        await scheduler.add_job(
            "bad", Command("echo oops >&2; exit 3", shell=True), START + timedelta(seconds=1)
        )
        await clock.run_for(timedelta(seconds=2))
        [ok] = await scheduler.runs("ok")
        [bad] = await scheduler.runs("bad")
    assert (ok.status, ok.exit_code) == (RunStatus.SUCCEEDED, 0)
    assert "hello" in (ok.output or "")
    assert (bad.status, bad.exit_code) == (RunStatus.FAILED, 3)
    assert "oops" in (bad.output or "") + (bad.error or "")


@run_async
async def test_process_executor_runs_an_importable_function(clock: FakeClock, store: Store) -> None:
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job("proc", noop, START + timedelta(seconds=1), executor="process")
        await clock.run_for(timedelta(seconds=2))
        [run] = await scheduler.runs("proc")
    assert run.status is RunStatus.SUCCEEDED, run.error


def test_runs_filters_by_status_and_rejects_unknown_status(store: Store) -> None:
    scheduler = Scheduler(store, timezone="UTC")
    scheduler.add_job("j", noop, "every 1m")
    scheduler.trigger("j")
    assert len(scheduler.runs(status="scheduled")) == 1
    assert scheduler.runs(status=RunStatus.FAILED) == []
    with pytest.raises(Exception, match="unknown run status 'weird'"):
        scheduler.runs(status="weird")
