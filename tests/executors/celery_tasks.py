"""Tasks the Celery executor's tests send to a real worker (the worker imports this module).

The worker finds its broker and result backend in CRONWORK_CELERY_BROKER and
CRONWORK_CELERY_BACKEND; the tests build their own app with the same settings through
`make_app`, as a scheduler beside a fleet would.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded


def make_app(broker: str, backend: str) -> Celery:
    """An app configured as the fleet's: started tasks reported, one task per child at a time."""
    app = Celery("cronwork_tests", broker=broker, backend=backend)
    app.conf.update(
        task_track_started=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=600,
    )
    return app


app = make_app(
    os.environ.get("CRONWORK_CELERY_BROKER", "redis://127.0.0.1:6379/15"),
    os.environ.get("CRONWORK_CELERY_BACKEND", "redis://127.0.0.1:6379/15"),
)


@app.task(name="cronwork_tests.add", shared=False)
def add(a: int, b: int) -> dict[str, Any]:
    """Return the sum with the pid of the child that computed it."""
    return {"sum": a + b, "pid": os.getpid()}


@app.task(name="cronwork_tests.fail", shared=False)
def fail(message: str) -> None:
    """Raise ValueError(message) on the worker."""
    raise ValueError(message)


@app.task(name="cronwork_tests.hang", shared=False)
def hang(pid_file: str, seconds: float, ignore_soft_limit: bool = True) -> str:
    """Write the child's pid to ``pid_file``, then sleep, shrugging off the soft time limit."""
    Path(pid_file).write_text(str(os.getpid()))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except SoftTimeLimitExceeded:
            if not ignore_soft_limit:
                raise
    return "woke up"


@app.task(name="cronwork_tests.die", shared=False)
def die() -> None:
    """Kill the worker child running this task, as the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)


@app.task(name="cronwork_tests.span", shared=False)
def span(seconds: float) -> dict[str, float]:
    """Sleep ``seconds`` and return when the task started and ended on the worker (epoch s)."""
    start = time.time()
    time.sleep(seconds)
    return {"start": start, "end": time.time()}
