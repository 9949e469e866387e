"""A scheduler that starts on the machine where a previous one died recovers its runs at once.

The previous scheduler's node id names a process that has ended: its runs are lost before the
first claim, without waiting for their lease, and whatever is left of their processes is killed
first, so a retry never runs beside the run it retries. The clock never moves: "at once" means
at start, not after the 30 s lease.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psutil
from enginekit import START, run_async

from cronwork import AsyncScheduler
from cronwork.engine import make_node_id
from cronwork.jobs import make_job
from cronwork.runs import Run, RunStatus
from cronwork.stores.sqlite import SqliteStore
from cronwork.targets import make_target
from cronwork.testing import FakeClock

LEASE = timedelta(seconds=30)


def node_of_an_ended_process() -> str:
    """The node id a scheduler process had, once that process has exited."""
    code = "from cronwork.engine import make_node_id; print(make_node_id())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout.strip()


def store_with_runs_of(tmp_path: Path, *nodes: str) -> tuple[SqliteStore, list[Run]]:
    """A store in which each of ``nodes`` claimed and started a run of its own job."""
    store = SqliteStore(tmp_path / "cronwork.db")
    runs = []
    for index, node in enumerate(nodes):
        job = make_job(f"j{index}", make_target("os.path:join"), "every 1h", retries=1)
        store.add_job(job.replace(next_run_at=START))
        [run] = store.claim(START, timedelta(0), node, LEASE).runs
        running = run.replace(status=RunStatus.RUNNING, started_at=START)
        store.save_runs([running])
        runs.append(running)
    return store, runs


def tagged_sleeper(tag: str) -> psutil.Popen:
    """A process in a session of its own carrying ``tag``, as a command of that run would."""
    env = {**os.environ, "CRONWORK_RUN_TAG": tag}
    return psutil.Popen(["sleep", "300"], env=env, start_new_session=True)


@run_async
async def test_runs_of_an_ended_node_are_lost_at_start_and_retried(tmp_path: Path) -> None:
    dead = node_of_an_ended_process()
    store, [run] = store_with_runs_of(tmp_path, dead)
    scheduler = AsyncScheduler(store, clock=FakeClock(START))
    await scheduler.start()
    try:
        lost = store.get_run(run.id)
        assert lost.status is RunStatus.LOST
        assert lost.error == f"lost: node {dead!r} ended while the run was unfinished"
        retry, _first = store.runs(run.job_id)
        assert (retry.attempt, retry.trigger) == (2, "retry")
    finally:
        await scheduler.shutdown()


@run_async
async def test_runs_of_live_or_unknown_nodes_wait_for_their_lease(tmp_path: Path) -> None:
    # Another live scheduler of this machine; a node id from elsewhere; one without a stamp.
    alive = make_node_id()
    store, runs = store_with_runs_of(
        tmp_path, alive, "elsewhere:1:abcdef:00000000-1", f"{os.uname().nodename}:1:abcdef"
    )
    scheduler = AsyncScheduler(store, clock=FakeClock(START))
    await scheduler.start()
    try:
        assert [store.get_run(r.id).status for r in runs] == [RunStatus.RUNNING] * 3
    finally:
        await scheduler.shutdown()


@run_async
async def test_the_processes_of_an_ended_nodes_runs_are_killed_before_the_retry(
    tmp_path: Path,
) -> None:
    dead = node_of_an_ended_process()
    store, [run] = store_with_runs_of(tmp_path, dead)
    leftover = tagged_sleeper(f"{dead}/{run.id}/1a2b3c4d")
    # Left alone: a background child of a run of the dead node that had finished, and a
    # process of a run with the same id in another database (another node).
    finished = store.add_run(Run(id="", job_id=run.job_id, scheduled_for=START - timedelta(1)))
    assert finished is not None
    store.save_runs([finished.replace(status=RunStatus.SUCCEEDED, node=dead, finished_at=START)])
    bystanders = [
        tagged_sleeper(f"{dead}/{finished.id}/5e6f7a8b"),
        tagged_sleeper(f"other:1:abcdef/{run.id}/9c0d1e2f"),
    ]
    try:
        scheduler = AsyncScheduler(store, clock=FakeClock(START))
        await scheduler.start()
        await scheduler.shutdown()
        assert leftover.wait(timeout=5) == -9
        assert all(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in bystanders)
        assert store.get_run(run.id).status is RunStatus.LOST
    finally:
        for proc in [leftover, *bystanders]:
            if proc.is_running():
                proc.kill()
            proc.wait()
