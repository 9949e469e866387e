"""Helpers the store tests share: fixed instants and quick job and run builders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwork.jobs import Job, make_job
from cronwork.runs import Run
from cronwork.stores import Store
from cronwork.targets import make_target

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)

StoreFactory = Callable[[], Store]


def job(job_id: str = "job", schedule: str = "every 10s", **fields: Any) -> Job:
    """A valid job due at T0 unless ``next_run_at`` is given; fields override make_job's."""
    state = {k: fields.pop(k) for k in ("next_run_at", "broken", "created_at") if k in fields}
    target = fields.pop("target", "os.path:join")
    built = make_job(job_id, make_target(target), schedule, tz=fields.pop("tz", "UTC"), **fields)
    return built.replace(
        next_run_at=state.get("next_run_at", T0),
        broken=state.get("broken"),
        created_at=state.get("created_at", T0),
    )


def run(job_id: str = "job", slot: datetime = T0, **fields: Any) -> Run:
    """An unowned scheduled run of ``job_id`` at ``slot``, not yet stored."""
    return Run(id="", job_id=job_id, scheduled_for=slot, created_at=T0, **fields)


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)
