"""The example fleet's tasks, sent by name from cronwork's jobs (examples/celery/jobs.toml)."""

from __future__ import annotations

import time
from typing import Any

from proj.celery import app


@app.task(name="proj.tasks.report")
def report(month: str, *, full: bool = False) -> dict[str, Any]:
    """Pretend to build a monthly report; the returned dict is recorded as the run's output."""
    time.sleep(1)
    return {"month": month, "full": full, "rows": 42}


@app.task(name="proj.tasks.ping")
def ping() -> str:
    """Answer at once: a task to watch the scheduler's lateness by."""
    return "pong"
