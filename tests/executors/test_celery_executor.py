"""CeleryExecutor: one run is one Celery task on a real prefork worker, via Redis and RabbitMQ.

The servers are ``$CRONWORK_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379``; the database
is picked per xdist worker) and ``$CRONWORK_TEST_AMQP_URL`` (default
``amqp://guest:guest@127.0.0.1:5672//``); results always go to Redis. Without a server the tests
skip, and under CI=true they fail. Every worker consumes a queue of its own, so parallel test
processes never take each other's tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import redis

pytest.importorskip("celery", reason="the Celery executor's tests need cronwork[celery]")

from cronwork.executors import Invocation, Outcome, RunContext
from cronwork.executors.celery import CeleryExecutor, CeleryTask
from cronwork.runs import RunStatus

HERE = Path(__file__).parent
SRC = HERE.parent.parent / "src"
sys.path.insert(0, str(HERE))
from celery_tasks import make_app  # noqa: E402

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("CRONWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379")
AMQP_URL = os.environ.get("CRONWORK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
WORKER_READY_WITHIN = 30.0


def redis_db_url() -> str:
    """The Redis URL with a database of this xdist worker's own (gw0 -> 2, gw1 -> 3, ...)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw-1")
    db = int(worker.removeprefix("gw")) + 2
    return urlsplit(REDIS_URL)._replace(path=f"/{db}").geturl()


def require_server(url: str, what: str) -> None:
    """Skip the test when ``url`` cannot be reached; under CI=true fail instead."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 2):
            return
    except OSError as exc:
        message = f"{what} at {parts.hostname}:{parts.port} is unreachable ({exc})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(f"{message}; set CRONWORK_TEST_{what.upper()}_URL to test the Celery executor")


def broker_url(kind: str) -> str:
    """The broker URL of ``kind`` ("redis" or "amqp"), checked reachable (or skipped)."""
    backend = redis_db_url()
    require_server(backend, "redis")
    if kind == "amqp":
        require_server(AMQP_URL, "amqp")
        return AMQP_URL
    return backend


@dataclass
class Worker:
    """A real `celery worker` process (prefork, two children) consuming one queue."""

    proc: subprocess.Popen[bytes]
    log: Path
    hostname: str

    @classmethod
    def start(cls, broker: str, backend: str, queue: str, log: Path) -> Worker:
        """Start a worker and return once it says it is ready (or fail within 30 s)."""
        hostname = f"cw-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        env = dict(os.environ)
        env.update(
            CRONWORK_CELERY_BROKER=broker,
            CRONWORK_CELERY_BACKEND=backend,
            PYTHONPATH=os.pathsep.join([str(HERE), str(SRC)]),
        )
        argv = [
            sys.executable, "-m", "celery", "-A", "celery_tasks:app", "worker",
            "--pool", "prefork", "--concurrency", "2", "--queues", queue,
            "--hostname", hostname, "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel", "INFO",
        ]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        worker = cls(proc, log, hostname)
        give_up = time.monotonic() + WORKER_READY_WITHIN
        while b" ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > give_up:
                worker.kill()
                pytest.fail(f"the Celery worker did not get ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        return worker

    def children(self) -> list[int]:
        """The pids of the pool's children."""
        return [child.pid for child in psutil.Process(self.proc.pid).children()]

    def kill(self) -> None:
        """SIGKILL the worker and its children (they share its process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@dataclass
class Fleet:
    """One broker, a result backend, one queue and the worker consuming it."""

    kind: str
    broker: str
    backend: str
    queue: str
    worker: Worker
    app: Any

    def task(self, name: str) -> CeleryTask:
        return CeleryTask(f"cronwork_tests.{name}", app=self.app, queue=self.queue)

    def stop(self) -> None:
        """Kill the worker and delete the queues the tests made, so the brokers keep none."""
        self.worker.kill()
        with self.app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in (self.queue, f"{self.queue}-nobody"):
                with contextlib.suppress(Exception):
                    channel.queue_delete(queue)
                with contextlib.suppress(Exception):
                    channel.exchange_delete(queue)
        # The Redis transport keeps bindings (and unconsumed messages) under keys of its own.
        backend = redis.Redis.from_url(self.backend)
        for key in backend.scan_iter(f"*{self.queue}*"):
            backend.delete(key)


def start_fleet(kind: str, log_dir: Path) -> Fleet:
    broker = broker_url(kind)
    backend = redis_db_url()
    queue = f"cronwork-test-{uuid.uuid4().hex[:10]}"
    worker = Worker.start(broker, backend, queue, log_dir / f"worker-{queue}.log")
    return Fleet(kind, broker, backend, queue, worker, make_app(broker, backend))


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


def read_pid(path: Path) -> int:
    give_up = time.monotonic() + 10
    while not path.exists() or not path.read_text():
        assert time.monotonic() < give_up, "the task never wrote its pid"
        time.sleep(0.05)
    return int(path.read_text())


def assert_gone(pid: int, within: float = 10.0) -> None:
    give_up = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        assert time.monotonic() < give_up, f"the worker child {pid} still runs"
        time.sleep(0.05)


def test_a_task_succeeds_with_its_result_recorded_as_json(fleet: Fleet) -> None:
    inv = invocation(fleet.task("add"), 2, 3)
    outcome = run(inv)
    assert outcome.status is RunStatus.SUCCEEDED, outcome.error
    assert outcome.output is not None and outcome.output.startswith('{"sum": 5, "pid": ')
    # The Celery task id is the run id.
    assert fleet.app.AsyncResult(inv.context.run_id).state == "SUCCESS"


def test_sending_a_run_the_backend_knows_again_follows_it_instead_of_a_second_task(
    fleet: Fleet,
) -> None:
    first = invocation(fleet.task("add"), 4, 5)
    assert run(first).status is RunStatus.SUCCEEDED
    # A scheduler restarted after a crash starts the same run again.
    again = run(first)
    assert again.status is RunStatus.SUCCEEDED
    assert again.output is not None and again.output.startswith('{"sum": 9, ')
    received = fleet.worker.log.read_text().count(f"[{first.context.run_id}] received")
    assert received == 1


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
