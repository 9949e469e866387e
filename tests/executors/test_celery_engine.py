"""Celery jobs run by the engine on a real prefork worker, via Redis and RabbitMQ: records,
retries, stops, and the places remote runs take (max_running, overlap).

The fleet (servers, worker, queue) is celerykit's; the app is the tests' own (celery_tasks).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cronwork import CeleryTask, Run, RunStatus, Scheduler
from cronwork.executors import RunContext
from cronwork.executors.celeryapp import task_id_of

pytest.importorskip("celery", reason="Celery jobs need cronwork[celery]")

sys.path.insert(0, str(Path(__file__).parent))
from celerykit import Fleet, assert_gone, read_pid, start_fleet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["redis", "amqp"])
def fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """A worker (two children) shared by the module's tests, per broker."""
    started = start_fleet(request.param, tmp_path_factory.mktemp("celery"))
    yield started
    started.stop()


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """The first true value of ``check()``, polled until ``timeout`` seconds have passed."""
    give_up = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < give_up, "timed out waiting"
        time.sleep(0.05)


def finished(scheduler: Scheduler, job_id: str, count: int) -> list[Run]:
    """The job's first ``count`` finished runs, oldest first, once there are that many."""

    def check() -> list[Run]:
        runs = [r for r in scheduler.runs(job_id, limit=100) if r.status.finished]
        return (
            sorted(runs, key=lambda r: (r.scheduled_for, r.attempt)) if len(runs) >= count else []
        )

    return wait_for(check)[:count]


def context_of(run: Run) -> RunContext:
    return RunContext(run.job_id, run.id, run.scheduled_for, run.attempt, None)


def task(fleet: Fleet, name: str) -> CeleryTask:
    return CeleryTask(f"cronwork_tests.{name}", queue=fleet.queue)


def test_scheduled_runs_of_a_stored_job_succeed_with_the_result_recorded(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stored job names its app by import path, as a job file or `cronwork add` does.
    module = f"fleet_{fleet.queue.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(
        f"from celery_tasks import make_app\napp = make_app({fleet.broker!r}, {fleet.backend!r})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Scheduler(url, celery_app=f"{module}:app") as scheduler:
        scheduler.add_job("add", task(fleet, "add"), "every 1s", args=[2, 3], timeout=30)
        runs = finished(scheduler, "add", 2)
        scheduler.pause_job("add")
    for run in runs:
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert run.output is not None and run.output.startswith('{"sum": 5, "pid": ')
        # The Celery task id names the run.
        assert fleet.app.AsyncResult(task_id_of(context_of(run))).state == "SUCCESS"


def test_runs_of_another_store_with_the_same_ids_are_other_tasks(fleet: Fleet) -> None:
    # Run ids count from 1 in every store: the task id must tell such runs apart.
    outputs = []
    for a in (1, 10):
        with Scheduler(celery_app=fleet.app) as scheduler:
            scheduler.add_job("sum", task(fleet, "add"), "every 1h", args=[a, 1])
            run = scheduler.trigger("sum")
            [done] = finished(scheduler, "sum", 1)
        assert done.id == run.id == "1"
        outputs.append(done.output)
    assert outputs[0] is not None and outputs[0].startswith('{"sum": 2, ')
    assert outputs[1] is not None and outputs[1].startswith('{"sum": 11, ')


def test_a_raising_task_fails_with_the_remote_error_and_is_retried(fleet: Fleet) -> None:
    with Scheduler(celery_app=fleet.app) as scheduler:
        scheduler.add_job(
            "fail", task(fleet, "fail"), "every 1h", args=["disk full"], retries=1, retry_backoff=0
        )
        scheduler.trigger("fail")
        first, second = finished(scheduler, "fail", 2)
    assert [first.attempt, second.attempt] == [1, 2]
    for run in (first, second):
        assert run.status is RunStatus.FAILED
        assert run.error is not None
        assert run.error.startswith("ValueError: disk full\nTraceback (most recent call last):")


def test_a_run_no_worker_took_is_scheduled_on_its_node_and_ends_without_a_start(
    fleet: Fleet,
) -> None:
    nobody = CeleryTask("cronwork_tests.add", queue=f"{fleet.queue}-nobody")
    with Scheduler(celery_app=fleet.app) as scheduler:
        scheduler.add_job("unserved", nobody, "every 1h", args=[1, 2], timeout=3)
        run = scheduler.trigger("unserved")
        sent = wait_for(lambda: (r := scheduler.get_run(run.id)).queued_at and r)
        [ended] = finished(scheduler, "unserved", 1)
    # Handed to the fleet, waiting for a worker: on its node, not running.
    assert (sent.status, sent.node, sent.started_at) == (RunStatus.SCHEDULED, scheduler.node, None)
    assert ended.status is RunStatus.TIMED_OUT
    assert ended.started_at is None
    assert ended.error is not None and "no worker started the task" in ended.error


def test_a_run_is_running_from_when_a_worker_started_it(fleet: Fleet) -> None:
    with Scheduler(celery_app=fleet.app) as scheduler:
        scheduler.add_job("slow", task(fleet, "span"), "every 1h", args=[1.0], timeout=30)
        run = scheduler.trigger("slow")
        running = wait_for(
            lambda: (r := scheduler.get_run(run.id)).status is RunStatus.RUNNING and r
        )
        [done] = finished(scheduler, "slow", 1)
    span = json.loads(done.output or "null")
    assert running.started_at is not None and running.queued_at is not None
    assert done.started_at == running.started_at >= running.queued_at
    # The record's start is the last moment the backend still said the task had not started:
    # not after the worker's own start, and within a poll or so (0.25 s) before it.
    assert span["start"] - 2.0 <= running.started_at.timestamp() <= span["start"] + 0.05


def test_max_running_counts_runs_on_the_fleet_until_their_result_arrives(fleet: Fleet) -> None:
    # The worker has two children: only the engine's one place keeps the tasks apart.
    with Scheduler(celery_app=fleet.app, max_running=1) as scheduler:
        for job_id in ("one", "two"):
            scheduler.add_job(job_id, task(fleet, "span"), "every 1h", args=[1.5], timeout=30)
        scheduler.trigger("one")
        scheduler.trigger("two")
        [one] = finished(scheduler, "one", 1)
        [two] = finished(scheduler, "two", 1)
    assert one.status is two.status is RunStatus.SUCCEEDED
    spans = sorted(
        (json.loads(run.output or "null") for run in (one, two)), key=lambda s: s["start"]
    )
    assert spans[1]["start"] >= spans[0]["end"]
    earlier, later = sorted((one, two), key=lambda r: r.started_at)  # type: ignore[arg-type,return-value]
    assert later.started_at is not None and earlier.finished_at is not None
    assert later.started_at >= earlier.finished_at


def test_a_run_on_the_fleet_holds_its_jobs_overlap_until_it_ends(fleet: Fleet) -> None:
    with Scheduler(celery_app=fleet.app) as scheduler:
        scheduler.add_job("slow", task(fleet, "span"), "every 1h", args=[2.0], timeout=30)
        first = scheduler.trigger("slow")
        wait_for(lambda: scheduler.get_run(first.id).status is RunStatus.RUNNING)
        second = scheduler.trigger("slow")
        skipped = wait_for(
            lambda: (run := scheduler.get_run(second.id)).status.finished and run, timeout=10
        )
        assert scheduler.get_run(first.id).status is RunStatus.RUNNING
        [done] = [r for r in finished(scheduler, "slow", 2) if r.id == first.id]
    assert skipped.status is RunStatus.SKIPPED
    assert skipped.error == f"skipped: run {first.id} is still running (overlap=skip)"
    assert done.status is RunStatus.SUCCEEDED


def test_stopping_a_job_stops_its_task_on_the_worker(fleet: Fleet, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with Scheduler(celery_app=fleet.app, kill_grace=1.0) as scheduler:
        scheduler.add_job("hang", task(fleet, "hang"), "every 1h", args=[str(pid_file), 60])
        run = scheduler.trigger("hang")
        pid = read_pid(pid_file)
        wait_for(lambda: scheduler.get_run(run.id).status is RunStatus.RUNNING)
        scheduler.stop("hang")
        [stopped] = finished(scheduler, "hang", 1)
    assert stopped.status is RunStatus.CANCELLED
    assert_gone(pid)
    assert fleet.worker.proc.poll() is None
