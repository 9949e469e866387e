"""The Celery fleet the tests start: a real `celery worker` (prefork) per broker, Redis and
RabbitMQ addresses from the environment, and helpers to watch the worker's children.

The servers are ``$CRONWORK_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379``; the database
is picked per xdist worker) and ``$CRONWORK_TEST_AMQP_URL`` (default
``amqp://guest:guest@127.0.0.1:5672//``); results always go to Redis. Without a server the tests
skip, and under CI=true they fail. Every worker consumes a queue of its own, so parallel test
processes never take each other's tasks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest
import redis

from cronwork.executors.celery import CeleryTask

HERE = Path(__file__).parent
SRC = HERE.parent.parent / "src"
sys.path.insert(0, str(HERE))
from celery_tasks import make_app  # noqa: E402

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
