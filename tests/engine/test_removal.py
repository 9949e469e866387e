"""Removing a job while its runs are in the engine's hands: every run keeps its record."""

from __future__ import annotations

import threading
from datetime import timedelta

from enginekit import START

from cronwork import RunStatus, Scheduler
from cronwork.events import Event
from cronwork.stores import Store
from cronwork.testing import FakeClock

# Module-level, so that the SQLite store can keep the targets by import path.
RELEASE = threading.Event()


def hold() -> None:
    RELEASE.wait(30)


def fail() -> None:
    raise RuntimeError("boom")


REMOVED = "cancelled: its job was removed"


def statuses(scheduler: Scheduler, job_id: str) -> list[tuple[int, RunStatus]]:
    """(second of the slot, status) of each run of the job, in slot order.

    Runs the engine had claimed ahead when the job was removed (how far ahead depends on the
    store's look-ahead) are left out once checked to be recorded cancelled for the removal.
    """
    runs = sorted(scheduler.runs(job_id), key=lambda r: r.scheduled_for)
    assert scheduler.runs(status="scheduled") == []
    assert scheduler.runs(status="running") == []
    return [
        (int((r.scheduled_for - START).total_seconds()), r.status)
        for r in runs
        if r.error != REMOVED or r.status is not RunStatus.CANCELLED
    ]


def test_a_run_skipped_as_its_job_is_removed_keeps_its_record(store: Store) -> None:
    clock = FakeClock(START)
    RELEASE.clear()
    with Scheduler(store, clock=clock, timezone="UTC") as scheduler:
        scheduler.add_job("t", hold, "every 1s")
        # Removed the moment the engine skips the second slot, before that is written.
        scheduler.on("run_skipped", lambda event: scheduler.remove_job("t"))
        clock.run_for_sync(timedelta(seconds=2), wait_for_runs=False)
        RELEASE.set()
        scheduler.idle()
        clock.run_for_sync(timedelta(seconds=5))
        assert statuses(scheduler, "t") == [(1, RunStatus.SUCCEEDED), (2, RunStatus.SKIPPED)]
        assert scheduler.jobs() == []


def test_a_run_started_as_its_job_is_removed_finishes_and_keeps_its_record(
    store: Store,
) -> None:
    clock = FakeClock(START)
    with Scheduler(store, clock=clock, timezone="UTC") as scheduler:
        scheduler.add_job("t", "builtins:print", "every 1s", args=["hello"])
        scheduler.on("run_started", lambda event: scheduler.remove_job("t"))
        clock.run_for_sync(timedelta(seconds=5))
        assert statuses(scheduler, "t") == [(1, RunStatus.SUCCEEDED)]


def test_a_claimed_run_of_a_removed_job_is_recorded_cancelled(store: Store) -> None:
    clock = FakeClock(START)
    cancelled: list[Event] = []
    # A long look-ahead: the slots of the next 10 seconds are claimed before they are due.
    with Scheduler(store, clock=clock, timezone="UTC", horizon="10s") as scheduler:
        scheduler.add_job("t", "builtins:print", "every 5s", args=["hello"])
        scheduler.on("run_cancelled", cancelled.append)
        clock.run_for_sync(timedelta(seconds=1))
        scheduler.remove_job("t")
        clock.run_for_sync(timedelta(seconds=20))
        runs = sorted(scheduler.runs("t"), key=lambda r: r.scheduled_for)
        assert [r.scheduled_for for r in runs] == [START + timedelta(seconds=s) for s in (5, 10)]
        assert [r.status for r in runs] == [RunStatus.CANCELLED] * 2
        assert {r.error for r in scheduler.runs("t")} == {REMOVED}
        assert [e.run.status for e in cancelled if e.run] == [RunStatus.CANCELLED] * 2
        assert scheduler.runs(status="scheduled") == []


def test_a_failed_run_of_a_removed_job_is_not_retried(store: Store) -> None:
    clock = FakeClock(START)
    with Scheduler(store, clock=clock, timezone="UTC") as scheduler:
        scheduler.add_job("t", fail, START + timedelta(seconds=1), retries=3)
        scheduler.on("run_started", lambda event: scheduler.remove_job("t"))
        clock.run_for_sync(timedelta(minutes=5))
        assert statuses(scheduler, "t") == [(1, RunStatus.FAILED)]
