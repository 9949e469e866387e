"""What the dashboard's in-process tests share: tokens, and stores filled with jobs and runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cronwork.jobs import make_job
from cronwork.runs import Run, RunStatus
from cronwork.stores import Store
from cronwork.targets import make_target

TOKEN = "dashboard-write-token"
READ_TOKEN = "dashboard-read-token"
BASE = "http://127.0.0.1:8080"
WRITE = {"Authorization": f"Bearer {TOKEN}"}
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
HOUR = timedelta(hours=1)


def add_job(store: Store, job_id: str, schedule: str = "0 * * * *", **keys: Any) -> None:
    """Store a job calling json:dumps, due at its schedule's next slot."""
    job = make_job(job_id, make_target("json:dumps"), schedule, tz="UTC", **keys)
    store.add_job(job.replace(next_run_at=job.schedule.next_after(datetime.now(UTC))))


def add_run(
    store: Store,
    job_id: str,
    status: RunStatus,
    hours_ago: float,
    seconds: float = 2.0,
    **keys: Any,
) -> Run:
    """Store a finished run of ``job_id`` whose slot was ``hours_ago`` hours ago."""
    slot = datetime.now(UTC).replace(microsecond=0) - hours_ago * HOUR
    run = Run(
        id="",
        job_id=job_id,
        scheduled_for=slot,
        status=status,
        started_at=slot + timedelta(seconds=1),
        finished_at=slot + timedelta(seconds=1 + seconds),
        trigger="schedule",
        **keys,
    )
    added = store.add_run(run)
    assert added is not None
    return added
