"""A few end-to-end runs on the real clock."""

from __future__ import annotations

import threading
import time

import psutil
import pytest

from cronwork import Command, RunStatus, Scheduler

pytestmark = pytest.mark.slow


def test_a_command_killed_at_its_timeout_leaves_no_process_behind() -> None:
    script = "sleep 30 & sleep 30 & wait"  # children of the shell die with the group
    with Scheduler(kill_grace=0.5) as scheduler:
        scheduler.add_job("hang", Command(script, shell=True), "every 1s", timeout=0.5)
        deadline = time.monotonic() + 10
        while not scheduler.runs("hang", status="timed_out") and time.monotonic() < deadline:
            time.sleep(0.05)
        scheduler.pause_job("hang")
    [run, *_] = scheduler.runs("hang", status="timed_out")
    assert run.status is RunStatus.TIMED_OUT
    assert psutil.Process().children(recursive=True) == []


def test_a_thread_overrunning_its_timeout_is_marked_and_told_to_stop() -> None:
    stopped = threading.Event()

    def overrun(ctx: object) -> None:
        ctx.wait_cancelled(5)  # type: ignore[attr-defined]
        stopped.set()

    with Scheduler() as scheduler:
        scheduler.add_job("overrun", overrun, "every 1s", timeout=0.3)
        deadline = time.monotonic() + 10
        while not scheduler.runs("overrun", status="timed_out") and time.monotonic() < deadline:
            time.sleep(0.05)
        scheduler.pause_job("overrun")
    assert stopped.is_set()
    [run, *_] = scheduler.runs("overrun", status="timed_out")
    assert 0.25 < run.duration < 1.5  # type: ignore[operator]
    assert [t for t in threading.enumerate() if t.name.startswith("cronwork")] == []


def test_jobs_start_on_time_in_real_time() -> None:
    with Scheduler() as scheduler:
        scheduler.add_job("tick", lambda: None, "every 1s")
        time.sleep(3.2)
    runs = scheduler.runs("tick", status="succeeded")
    assert len(runs) >= 2
    assert all(r.lateness is not None and r.lateness < 0.1 for r in runs)


def _fail() -> None:
    raise RuntimeError("flaky failure")


def test_a_run_whose_deadline_overflows_does_not_stop_the_dispatch_timer() -> None:
    from datetime import timedelta

    from cronwork.stores import MemoryStore

    store = MemoryStore()
    with Scheduler(store) as scheduler:
        for job_id in ("ok", "poison"):
            scheduler.add_job(job_id, lambda: None, "every 1s", paused=True)
        scheduler.add_job("flaky", _fail, "every 1s", retries=1, retry_backoff="0.2s", paused=True)
        # Beyond what validation allows: written to the store directly.
        store.update_job(store.get_job("poison").replace(timeout=timedelta(days=999_999_999)))
        for job_id in ("ok", "poison", "flaky"):
            scheduler.resume_job(job_id)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
            len(scheduler.runs("ok", status="succeeded")) < 3
            or len(scheduler.runs("poison", status="failed")) < 3
            or not any(r.attempt == 2 for r in scheduler.runs("flaky"))
        ):
            time.sleep(0.05)
        for job_id in ("ok", "poison", "flaky"):
            scheduler.pause_job(job_id)
    assert len(scheduler.runs("ok", status="succeeded")) >= 3
    poisoned = scheduler.runs("poison")
    assert len(poisoned) >= 3
    assert {r.status for r in poisoned} == {RunStatus.FAILED}
    assert all("OverflowError" in (r.error or "") for r in poisoned)
    assert any(r.attempt == 2 for r in scheduler.runs("flaky", status="failed"))
