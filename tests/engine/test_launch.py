"""The launcher, read as a spec: it resolves a job's target once, picks the executor the job
names (or the default for its kind of target), hands it the run, records and logs how the
run ended, and inserts the retry the job's policy asks for.

The engine is never started (see unitkit) and the executors are `Recorder`s that keep what
they are given; a test ends a run by calling its execution's done callbacks. One test runs a
real thread executor, built from the registry, on an event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from enginekit import START, eventually
from unitkit import Harness

from cronwork import Command
from cronwork.engine import launch
from cronwork.events import EventType
from cronwork.executors import Invocation, Outcome, ThreadExecutor
from cronwork.executors.registry import EXECUTOR_NAMES
from cronwork.jobs import Job, make_job
from cronwork.runs import Run, RunStatus
from cronwork.targets import Target


def work() -> str:
    return "done"


async def awork() -> None:
    pass


class Execution:
    """A started run that ends when the test says so."""

    def __init__(self, on_overdue: Callable[[], None] | None) -> None:
        self.on_overdue = on_overdue
        self.callbacks: list[Callable[[Outcome], None]] = []
        self.cancelled: str | None = None

    def add_done_callback(self, callback: Callable[[Outcome], None]) -> None:
        self.callbacks.append(callback)

    def cancel(self, reason: str = "cancelled") -> None:
        self.cancelled = reason

    def end(self, outcome: Outcome) -> None:
        for callback in self.callbacks:
            callback(outcome)


class Recorder:
    """An executor that keeps the invocations it is given."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.invocations: list[Invocation] = []
        self.executions: list[Execution] = []
        self.shut_down: bool | None = None  # the ``wait`` it was shut down with

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> Execution:
        self.invocations.append(invocation)
        execution = Execution(on_overdue)
        self.executions.append(execution)
        return execution

    async def shutdown(self, wait: bool = True) -> None:
        self.shut_down = wait


class Launch(Harness):
    """A harness with a `Recorder` for every registered executor name."""

    def __init__(self, **settings: Any) -> None:
        self.recorders = {name: Recorder(name) for name in EXECUTOR_NAMES}
        super().__init__(executors=dict(self.recorders), **settings)  # type: ignore[arg-type]
        self.launcher = self.engine.launcher

    def start(self, job: Job, **fields: Any) -> Run:
        """Store ``job`` and start a run of it now."""
        if job.id not in self.engine.jobs:
            self.add(job)
        run = self.new_run(job, **fields)
        self.launcher.start(run, self.engine.jobs[job.id])
        return run

    def end(self, run: Run, outcome: Outcome, executor: str = "thread") -> None:
        """End the run's execution with ``outcome``."""
        [execution] = [
            execution
            for invocation, execution in zip(
                self.recorders[executor].invocations,
                self.recorders[executor].executions,
                strict=True,
            )
            if invocation.context.run_id == run.id
        ]
        execution.end(outcome)


@pytest.fixture
def harness() -> Launch:
    return Launch()


def job(target: object = "os:getcwd", **settings: Any) -> Job:
    return make_job("j", target, "* * * * *", **settings)


@pytest.mark.parametrize(
    ("target", "executor", "resolved"),
    [
        ("os:getcwd", "thread", os.getcwd),
        (work, "thread", work),
        (f"{__name__}:awork", "async", awork),
        (Command("true"), "command", None),
    ],
    ids=["import-path", "function", "coroutine-function", "command"],
)
def test_a_job_that_names_no_executor_runs_on_the_default_for_its_target(
    harness: Launch, target: object, executor: str, resolved: object
) -> None:
    run = harness.start(job(target))
    [invocation] = harness.recorders[executor].invocations
    assert invocation.context.run_id == run.id
    if resolved is not None:
        assert invocation.target is resolved
    else:
        assert isinstance(invocation.target, Command)


def test_a_job_runs_on_the_executor_it_names(harness: Launch) -> None:
    harness.start(job(f"{__name__}:work", executor="process"))
    assert len(harness.recorders["process"].invocations) == 1
    assert harness.recorders["thread"].invocations == []


def test_the_invocation_carries_the_run_its_deadline_and_the_timeout_policy(
    harness: Launch,
) -> None:
    harness.clock.set(START + timedelta(seconds=3))
    run = harness.start(
        job(timeout="30s", on_timeout="warn", args=[1], kwargs={"k": 2}),
        scheduled_for=START,
        attempt=2,
    )
    [invocation] = harness.recorders["thread"].invocations
    context = invocation.context
    assert (context.job_id, context.run_id, context.scheduled_for, context.attempt) == (
        "j",
        run.id,
        START,
        2,
    )
    assert context.deadline == START + timedelta(seconds=33)  # from the start, not the slot
    assert (invocation.timeout, invocation.on_timeout) == (30.0, "warn")
    assert (invocation.args, dict(invocation.kwargs)) == ((1,), {"k": 2})
    started = harness.outcome(run.id)
    assert (started.status, started.started_at, started.node) == (
        RunStatus.RUNNING,
        START + timedelta(seconds=3),
        "n",
    )
    assert [event.type for event in harness.events] == [EventType.RUN_STARTED]
    assert run.id in harness.engine.admission.active


def test_a_target_is_resolved_once_per_job_until_the_job_changes_it(
    harness: Launch, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved: list[str] = []
    real = launch.resolve_target

    def counting(target: Target, tasks: Any) -> Any:
        resolved.append(target.ref)
        return real(target, tasks)

    monkeypatch.setattr(launch, "resolve_target", counting)
    first = harness.add(job("os:getcwd"))
    for attempt in range(1, 4):
        harness.launcher.start(harness.new_run(first, attempt=attempt), first)
    assert resolved == ["os:getcwd"]
    changed = make_job("j", "os:getpid", "* * * * *")
    harness.engine.jobs["j"] = changed
    harness.launcher.start(harness.new_run(changed, attempt=9), changed)
    assert resolved == ["os:getcwd", "os:getpid"]
    assert harness.recorders["thread"].invocations[-1].target is os.getpid
    moved = dataclasses.replace(changed, executor="process")  # the same target object
    harness.engine.jobs["j"] = moved
    harness.launcher.start(harness.new_run(moved, attempt=10), moved)
    assert [i.target for i in harness.recorders["process"].invocations] == [os.getpid]


def test_jobs_of_one_function_share_one_resolution(
    harness: Launch, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved: list[str] = []
    real = launch.resolve_target
    monkeypatch.setattr(
        launch,
        "resolve_target",
        lambda target, tasks: resolved.append(target.ref) or real(target, tasks),
    )

    def local() -> None:  # not importable: the job keeps the function itself
        pass

    for job_id in ("a", "b", "c"):
        harness.start(make_job(job_id, local, "* * * * *"))
    assert len(resolved) == 1
    assert [i.target for i in harness.recorders["thread"].invocations] == [local] * 3


def test_a_run_whose_target_does_not_resolve_fails_without_starting(harness: Launch) -> None:
    run = harness.start(job(Target("task", "missing")))
    failed = harness.outcome(run.id)
    assert failed.status is RunStatus.FAILED
    assert (failed.error or "").startswith("cannot start: ")
    assert "missing" in (failed.error or "")
    assert run.id not in harness.engine.admission.active


def test_a_run_of_an_unknown_executor_fails_naming_it(harness: Launch) -> None:
    run = harness.start(dataclasses.replace(job(), executor="fast"))
    assert harness.outcome(run.id).error == "cannot start: unknown executor 'fast'"


def test_an_executor_the_faces_did_not_pass_is_built_from_the_registry_on_first_use() -> None:
    harness = Harness(max_running=3, record_saves=False)

    async def scenario() -> None:
        harness.engine.loop = harness.engine.writer.loop = asyncio.get_running_loop()
        harness.add(job(work))
        run = harness.new_run(harness.engine.jobs["j"])
        harness.engine.launcher.start(run, harness.engine.jobs["j"])
        executor = harness.engine.launcher.executors["thread"]
        assert isinstance(executor, ThreadExecutor)
        assert executor.max_workers == 4  # max_running, and one for an overrunning thread
        await eventually(lambda: harness.store.get_run(run.id).status.finished, timeout=30)
        assert harness.store.get_run(run.id).status is RunStatus.SUCCEEDED
        await harness.engine.launcher.shutdown(hurry=False, abandoned=False)

    asyncio.run(scenario())


def test_a_finished_run_frees_its_place_and_is_recorded_with_its_outcome(
    harness: Launch,
) -> None:
    run = harness.start(job())
    harness.clock.set(START + timedelta(seconds=5))
    harness.end(run, Outcome(RunStatus.SUCCEEDED, output="hello"))
    done = harness.outcome(run.id)
    assert (done.status, done.output, done.finished_at) == (
        RunStatus.SUCCEEDED,
        "hello",
        START + timedelta(seconds=5),
    )
    assert harness.engine.admission.active == {}
    assert [e.type for e in harness.events] == [EventType.RUN_STARTED, EventType.RUN_SUCCEEDED]
    assert harness.spawned == []


@pytest.mark.parametrize(
    ("status", "level"),
    [
        (RunStatus.FAILED, logging.WARNING),
        (RunStatus.TIMED_OUT, logging.WARNING),
        (RunStatus.CANCELLED, logging.INFO),
    ],
)
def test_a_run_that_did_not_succeed_is_logged_with_the_first_line_of_its_error(
    harness: Launch, caplog: pytest.LogCaptureFixture, status: RunStatus, level: int
) -> None:
    run = harness.start(job())
    with caplog.at_level(logging.INFO, logger="cronwork.scheduler"):
        harness.end(run, Outcome(status, error="boom\nTraceback ..."))
    [record] = caplog.records
    assert record.levelno == level
    assert record.getMessage() == f"run {run.id} of job j {status.value}: boom"
    assert (record.job_id, record.run_id) == ("j", run.id)  # type: ignore[attr-defined]


def test_a_success_is_logged_only_at_debug(
    harness: Launch, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = harness.start(job())
    with caplog.at_level(logging.INFO, logger="cronwork.scheduler"):
        harness.end(quiet, Outcome(RunStatus.SUCCEEDED))
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger="cronwork.scheduler"):
        harness.engine.debug = True
        loud = harness.start(job(), scheduled_for=START + timedelta(minutes=1))
        harness.end(loud, Outcome(RunStatus.SUCCEEDED))
    assert f"run {loud.id} of job j succeeded" in [r.getMessage() for r in caplog.records]


def test_a_failed_run_with_retries_left_gets_its_next_attempt_after_the_backoff(
    harness: Launch, caplog: pytest.LogCaptureFixture
) -> None:
    run = harness.start(job(retries=2, retry_backoff="10s"))
    harness.clock.set(START + timedelta(seconds=4))
    harness.end(run, Outcome(RunStatus.FAILED, error="boom"))
    assert harness.spawned_names() == ["Launcher.retry"]
    with caplog.at_level(logging.INFO, logger="cronwork.scheduler"):
        harness.run_spawned()
    retry = [r for r in harness.store.runs("j") if r.attempt == 2]
    assert len(retry) == 1
    assert (retry[0].scheduled_for, retry[0].trigger) == (run.scheduled_for, "retry")
    ended = START + timedelta(seconds=4)
    assert retry[0].due_at is not None
    assert ended + timedelta(seconds=10) <= retry[0].due_at <= ended + timedelta(seconds=12.5)
    assert harness.events[-1].type is EventType.RUN_RETRIED
    assert f"job j will retry slot {run.scheduled_for.isoformat()} (attempt 2)" in caplog.text


@pytest.mark.parametrize(
    ("status", "retries", "removed"),
    [
        (RunStatus.SUCCEEDED, 2, False),
        (RunStatus.CANCELLED, 2, False),
        (RunStatus.FAILED, 0, False),
        (RunStatus.FAILED, 2, True),
    ],
    ids=["succeeded", "cancelled", "no-retries", "job-removed"],
)
def test_no_retry_is_inserted(
    harness: Launch, status: RunStatus, retries: int, removed: bool
) -> None:
    run = harness.start(job(retries=retries))
    if removed:
        del harness.engine.jobs["j"]
    harness.end(run, Outcome(status))
    assert harness.spawned == []


def test_the_last_attempt_is_not_retried_again(harness: Launch) -> None:
    run = harness.start(job(retries=1), attempt=2)
    harness.end(run, Outcome(RunStatus.TIMED_OUT))
    assert harness.spawned == []


def test_a_run_past_its_expected_duration_is_announced_overdue(
    harness: Launch, caplog: pytest.LogCaptureFixture
) -> None:
    untimed = harness.start(job())
    assert harness.recorders["thread"].executions[0].on_overdue is None
    harness.end(untimed, Outcome(RunStatus.SUCCEEDED))
    timed = make_job("timed", "os:getcwd", "* * * * *", timeout="1m", on_timeout="warn")
    run = harness.start(timed)
    overdue = harness.recorders["thread"].executions[1].on_overdue
    assert overdue is not None
    overdue()
    assert "is still running after its expected duration of 0:01:00" in caplog.text
    assert harness.events[-1].type is EventType.RUN_OVERDUE
    assert harness.events[-1].run is not None and harness.events[-1].run.id == run.id


def test_at_shutdown_the_thread_executor_is_not_waited_for_when_threads_were_abandoned(
    harness: Launch,
) -> None:
    asyncio.run(harness.launcher.shutdown(hurry=False, abandoned=True))
    assert "thread" in harness.recorders and len(harness.recorders) > 1
    # Every executor is waited for, but the one whose threads were left running.
    assert {name: r.shut_down for name, r in harness.recorders.items()} == {
        name: name != "thread" for name in harness.recorders
    }
    asyncio.run(harness.launcher.shutdown(hurry=True, abandoned=False))
    assert not any(r.shut_down for r in harness.recorders.values())
