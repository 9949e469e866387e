"""CeleryExecutor: one run is one Celery task on a real prefork worker, via Redis and RabbitMQ.

The fleet (servers, worker, queue) is celerykit's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("celery", reason="the Celery executor's tests need cronwork[celery]")

sys.path.insert(0, str(Path(__file__).parent))
from celerykit import (
    Fleet,
    assert_gone,
    make_app,
    read_pid,
    redis_db_url,
    require_server,
    start_fleet,
)

from cronwork.executors import Invocation, Outcome, RunContext
from cronwork.executors.celery import CeleryExecutor, CeleryTask
from cronwork.executors.celeryapp import task_id_of
from cronwork.runs import RunStatus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["redis", "amqp"])
def fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """A worker shared by the module's tests, per broker."""
    started = start_fleet(request.param, tmp_path_factory.mktemp("celery"))
    yield started
    started.stop()


def invocation(
    target: CeleryTask, *args: Any, timeout: float | None = None, **kwargs: Any
) -> Invocation:
    ctx = RunContext("job-celery", f"run-{uuid.uuid4().hex}", datetime.now(UTC), 1, None)
    return Invocation(target, args, kwargs, context=ctx, timeout=timeout, kill_grace=1.0)


def run(inv: Invocation, **options: Any) -> Outcome:
    async def main() -> Outcome:
        executor = CeleryExecutor(poll_interval=0.05, **options)
        outcome = await executor.start(inv).wait()
        await executor.shutdown()
        return outcome

    return asyncio.run(main())


def test_a_task_succeeds_with_its_result_recorded_as_json(fleet: Fleet) -> None:
    inv = invocation(fleet.task("add"), 2, 3)
    outcome = run(inv)
    assert outcome.status is RunStatus.SUCCEEDED, outcome.error
    assert outcome.output is not None and outcome.output.startswith('{"sum": 5, "pid": ')
    # The Celery task id names the run.
    assert fleet.app.AsyncResult(task_id_of(inv.context)).state == "SUCCESS"


def test_sending_a_run_the_backend_knows_again_follows_it_instead_of_a_second_task(
    fleet: Fleet,
) -> None:
    first = invocation(fleet.task("add"), 4, 5)
    assert run(first).status is RunStatus.SUCCEEDED
    # A scheduler restarted after a crash starts the same run again.
    again = run(first)
    assert again.status is RunStatus.SUCCEEDED
    assert again.output is not None and again.output.startswith('{"sum": 9, ')
    received = fleet.worker.log.read_text().count(f"[{task_id_of(first.context)}] received")
    assert received == 1


def test_a_run_handed_over_ahead_is_sent_at_once_and_started_by_the_worker_at_its_moment(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery import Celery

    sent: list[tuple[float, Any]] = []
    send_task = Celery.send_task

    def noting(app: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append((time.monotonic(), kwargs.get("eta")))
        return send_task(app, *args, **kwargs)

    monkeypatch.setattr(Celery, "send_task", noting)
    inv = dataclasses.replace(invocation(fleet.task("add"), 2, 2), start_in=1.0)

    async def main() -> tuple[float, datetime, Outcome]:
        executor = CeleryExecutor(poll_interval=0.05)
        handed, moment = time.monotonic(), datetime.now(UTC) + timedelta(seconds=1)
        outcome = await executor.start(inv).wait()
        await executor.shutdown()
        return handed, moment, outcome

    handed, moment, outcome = asyncio.run(main())
    assert outcome.status is RunStatus.SUCCEEDED, outcome.error
    [(at, eta)] = sent
    assert at < handed + 0.5, "the task was not sent ahead"
    assert abs((eta - moment).total_seconds()) < 0.05
    done = fleet.app.AsyncResult(task_id_of(inv.context)).date_done
    assert done is not None and done.replace(tzinfo=UTC) >= eta


def test_a_run_stopped_before_its_moment_never_runs_on_the_worker(fleet: Fleet) -> None:
    inv = dataclasses.replace(invocation(fleet.task("add"), 3, 3), start_in=1.5)
    task_id = task_id_of(inv.context)

    async def main() -> Outcome:
        executor = CeleryExecutor(poll_interval=0.05)
        execution = executor.start(inv)
        await asyncio.sleep(0.3)
        execution.cancel("stopped by an operator")
        outcome = await asyncio.wait_for(execution.wait(), 10)
        # Past the moment the task was due at: the worker has dropped it, not run it.
        await asyncio.sleep(2.5)
        await executor.shutdown()
        return outcome

    outcome = asyncio.run(main())
    assert outcome.status is RunStatus.CANCELLED
    assert outcome.error is not None and outcome.error.startswith("stopped by an operator")
    assert fleet.app.AsyncResult(task_id).state in ("PENDING", "REVOKED")
    assert f"[{task_id}] succeeded" not in fleet.worker.log.read_text()


def test_a_raising_task_fails_with_the_remote_error_and_traceback(fleet: Fleet) -> None:
    outcome = run(invocation(fleet.task("fail"), "disk full"))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith("ValueError: disk full\nTraceback (most recent call last):")
    assert "celery_tasks.py" in outcome.error


def test_an_overrunning_task_times_out_its_child_dies_and_the_worker_goes_on(
    fleet: Fleet, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    outcome = run(invocation(fleet.task("hang"), str(pid_file), 60, timeout=2.0))
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error is not None and "timed out after 2s" in outcome.error
    assert_gone(read_pid(pid_file))
    assert fleet.worker.proc.poll() is None
    after = run(invocation(fleet.task("add"), 1, 1))
    assert after.status is RunStatus.SUCCEEDED, after.error


def test_cancel_stops_the_running_task_on_the_worker(fleet: Fleet, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    async def main() -> Outcome:
        executor = CeleryExecutor(poll_interval=0.05)
        execution = executor.start(invocation(fleet.task("hang"), str(pid_file), 60))
        while not execution.started:
            await asyncio.sleep(0.05)
        execution.cancel("stopped by an operator")
        outcome = await execution.wait()
        await executor.shutdown()
        return outcome

    outcome = asyncio.run(asyncio.wait_for(main(), 30))
    assert outcome.status is RunStatus.CANCELLED
    assert outcome.error == "stopped by an operator"
    assert_gone(read_pid(pid_file))
    assert fleet.worker.proc.poll() is None


def test_a_worker_child_dying_mid_task_fails_the_run_and_the_worker_goes_on(fleet: Fleet) -> None:
    outcome = run(invocation(fleet.task("die")))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith("the worker child running the task died: WorkerLostError:")
    after = run(invocation(fleet.task("add"), 1, 1))
    assert after.status is RunStatus.SUCCEEDED, after.error


def test_a_task_no_worker_consumes_times_out_at_the_job_timeout(fleet: Fleet) -> None:
    nobody = CeleryTask("cronwork_tests.add", app=fleet.app, queue=f"{fleet.queue}-nobody")
    outcome = run(invocation(nobody, 1, 2, timeout=1.0))
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error is not None
    assert "no worker started the task" in outcome.error
    assert f"{fleet.queue}-nobody" in outcome.error


@pytest.mark.parametrize("kind", ["redis", "amqp"])
def test_a_worker_killed_mid_task_ends_the_run_lost(kind: str, tmp_path: Path) -> None:
    fleet = start_fleet(kind, tmp_path)
    pid_file = tmp_path / "pid"
    try:

        async def main() -> Outcome:
            executor = CeleryExecutor(poll_interval=0.05, liveness_interval=0.5)
            execution = executor.start(invocation(fleet.task("hang"), str(pid_file), 60))
            while not execution.started:
                await asyncio.sleep(0.05)
            fleet.worker.kill()
            outcome = await execution.wait()
            await executor.shutdown()
            return outcome

        outcome = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        fleet.stop()
    assert outcome.status is RunStatus.LOST
    assert outcome.error is not None
    assert f"worker {fleet.worker.hostname} stopped answering" in outcome.error
    assert_gone(read_pid(pid_file))


@pytest.mark.parametrize(
    "broker", ["redis://:s3cret@127.0.0.1:1/0", "amqp://guest:s3cret@127.0.0.1:1//"]
)
def test_a_broker_down_at_send_time_fails_naming_it_without_the_password(broker: str) -> None:
    backend = redis_db_url()
    require_server(backend, "redis")
    app = make_app(broker, backend)
    outcome = run(invocation(CeleryTask("cronwork_tests.add", app=app), 1, 2, timeout=30))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert "cannot send Celery task 'cronwork_tests.add' to the broker" in outcome.error
    assert "127.0.0.1:1" in outcome.error
    assert "s3cret" not in outcome.error
