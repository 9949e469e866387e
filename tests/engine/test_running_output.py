"""A running command's output reaches its run record about once a second, before it ends.

So a page or an API client in another process can follow it live. Driven on the fake clock:
the command is a real process, and the test advances the engine's clock a second at a time.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from enginekit import START

from cronwork import Command, RunStatus, Scheduler
from cronwork.stores import Store
from cronwork.testing import FakeClock

SECOND = timedelta(seconds=1)


def stored_output(store: Store, run_id: str) -> str | None:
    return store.get_run(run_id).output


def test_a_running_command_output_is_recorded_every_second_and_the_end_wins(
    clock: FakeClock, store: Store, tmp_path: Path
) -> None:
    go_on = tmp_path / "go-on"
    script = f"echo first; while [ ! -e {go_on} ]; do sleep 0.05; done; echo second"
    scheduler = Scheduler(store=store, clock=clock, timezone="UTC")
    scheduler.add_job("talker", Command(script, shell=True), START + SECOND, timeout="1h")
    scheduler.start()
    try:
        clock.run_for_sync(SECOND, wait_for_runs=False)
        deadline = time.monotonic() + 20
        run_id = None
        while time.monotonic() < deadline:
            running = scheduler.runs("talker", status=RunStatus.RUNNING)
            if running:
                run_id = running[0].id
                if stored_output(store, run_id) == "first\n":
                    break
            clock.run_for_sync(SECOND, wait_for_runs=False)
            time.sleep(0.05)
        assert run_id is not None, "the command did not start"
        assert store.get_run(run_id).status is RunStatus.RUNNING
        assert stored_output(store, run_id) == "first\n"

        go_on.touch()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not store.get_run(run_id).status.finished:
            clock.run_for_sync(SECOND, wait_for_runs=False)
            time.sleep(0.05)
        # More flush periods pass: the finished record is never overwritten by a running one.
        for _ in range(3):
            clock.run_for_sync(SECOND, wait_for_runs=False)
        done = store.get_run(run_id)
        assert done.status is RunStatus.SUCCEEDED
        assert done.output == "first\nsecond\n"
    finally:
        scheduler.shutdown(wait=False)


def test_output_is_not_rewritten_while_a_command_prints_nothing_new(
    clock: FakeClock, store: Store, tmp_path: Path
) -> None:
    go_on = tmp_path / "go-on"
    script = f"echo once; while [ ! -e {go_on} ]; do sleep 0.05; done"
    scheduler = Scheduler(store=store, clock=clock, timezone="UTC")
    scheduler.add_job("quiet", Command(script, shell=True), START + SECOND, timeout="1h")
    saved: list[str | None] = []
    original = store.save_runs

    def counting(runs):  # type: ignore[no-untyped-def]
        saved.extend(run.output for run in runs if run.job_id == "quiet")
        return original(runs)

    store.save_runs = counting  # type: ignore[method-assign]
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "once\n" not in saved:
            clock.run_for_sync(SECOND, wait_for_runs=False)
            time.sleep(0.05)
        assert "once\n" in saved
        before = len(saved)
        for _ in range(5):
            clock.run_for_sync(SECOND, wait_for_runs=False)
            time.sleep(0.05)
        assert len(saved) == before  # nothing new printed: no new record
    finally:
        go_on.touch()
        scheduler.shutdown(wait=False)
        store.save_runs = original  # type: ignore[method-assign]
