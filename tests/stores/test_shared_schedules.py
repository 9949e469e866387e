"""Jobs on one schedule text share one parsed schedule, whether added or loaded from a store."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronwork import Scheduler
from cronwork.stores import SqliteStore


def noop() -> None:
    pass


@pytest.mark.parametrize("text", ["*/5 * * * *", "every 1h", "every day at 09:00"])
def test_a_thousand_jobs_on_one_text_loaded_from_sqlite_share_one_schedule(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "jobs.db"
    scheduler = Scheduler(f"sqlite:///{path}", timezone="UTC")
    added = [scheduler.add_job(f"job-{i}", f"{__name__}:noop", text) for i in range(1000)]
    scheduler.shutdown()
    store = SqliteStore(path)
    store.open()
    try:
        loaded = store.jobs()
    finally:
        store.close()
    assert len(loaded) == 1000
    assert len({id(job.schedule) for job in loaded}) == 1
    # The faces and the stores use the one cache: an added job's schedule is that object too.
    assert loaded[0].schedule is added[0].schedule


def test_jobs_whose_text_hashes_the_job_id_each_keep_their_own_schedule(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    scheduler = Scheduler(f"sqlite:///{path}", timezone="UTC")
    for i in range(20):
        scheduler.add_job(f"job-{i}", f"{__name__}:noop", "H * * * *")
    scheduler.shutdown()
    store = SqliteStore(path)
    store.open()
    try:
        loaded = store.jobs()
    finally:
        store.close()
    assert len({id(job.schedule) for job in loaded}) == 20
    assert len({job.schedule.next_after(job.created_at) for job in loaded if job.created_at}) > 1


def test_jobs_with_bounds_are_not_shared_with_unbounded_ones(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    scheduler = Scheduler(f"sqlite:///{path}", timezone="UTC")
    scheduler.add_job("plain", f"{__name__}:noop", "*/5 * * * *")
    scheduler.add_job("bounded", f"{__name__}:noop", "*/5 * * * *", end_at="2999-01-01T00:00Z")
    scheduler.shutdown()
    store = SqliteStore(path)
    store.open()
    try:
        plain, bounded = store.get_job("plain"), store.get_job("bounded")
    finally:
        store.close()
    assert plain.schedule is not bounded.schedule
    assert bounded.end_at is not None and plain.end_at is None
