"""Several processes claiming from one SQLite file: every slot is taken exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storekit import T0, executed_log, job, start_worker, write_worker

import cronwork
from cronwork.jobs import make_job
from cronwork.runs import RunStatus
from cronwork.stores import SqliteStore
from cronwork.targets import make_target

JOBS = 30
WINDOW = 60  # seconds of simulated time each process walks through

# Each process walks the same window of simulated time, running 20 times faster than the wall
# clock and started together, so the three compete for the same slots at the same moments. It
# prints what it took as JSON lines.
CLAIMER = textwrap.dedent(
    """
    import json, random, sys, time
    from datetime import datetime, timedelta
    from cronwork.stores import SqliteStore

    path, node, start, window, began = sys.argv[1:6]
    store = SqliteStore(path, busy_timeout=30)
    store.open()
    began = float(began)
    time.sleep(max(0.0, began - time.time()))
    start = datetime.fromisoformat(start)
    rng = random.Random(node)
    while True:
        now = start + timedelta(seconds=(time.time() - began) * 20)
        if now > start + timedelta(seconds=float(window)):
            break
        taken = store.claim(now, timedelta(seconds=rng.uniform(0, 2)), node, timedelta(60))
        for run in taken.runs + taken.missed:
            print(json.dumps([run.job_id, run.scheduled_for.isoformat(), run.status.value]))
        time.sleep(rng.uniform(0, 0.02))
    store.close()
    """
)


def _env() -> dict[str, str]:
    source = str(Path(cronwork.__file__).parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow
def test_three_processes_claim_each_slot_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    store = SqliteStore(path)
    for i in range(JOBS):
        schedule = "every 1s" if i % 3 else "*/2 * * * * *"
        store.add_job(job(f"j{i:02}", schedule, misfire="all", next_run_at=T0))
    store.close()
    script = tmp_path / "claimer.py"
    script.write_text(CLAIMER)
    began = time.time() + 2  # every process starts the same simulated clock at once
    procs = [
        subprocess.Popen(
            [sys.executable, script, path, f"node{n}", T0.isoformat(), str(WINDOW), str(began)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for n in range(3)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    taken = [tuple(json.loads(line)[:2]) for out, _ in outputs for line in out.splitlines()]
    per_node = [len(out.splitlines()) for out, _ in outputs]
    assert len(taken) == len(set(taken)), "a (job, slot) was claimed twice"
    assert all(per_node), f"the processes did not interleave: {per_node}"

    store = SqliteStore(path)
    expected = set()
    for stored in store.jobs():
        upto = stored.next_run_at
        assert upto is not None and upto > T0 + timedelta(seconds=WINDOW)
        slot: datetime | None = T0
        while slot is not None and slot < upto:
            expected.add((stored.id, slot.isoformat()))
            slot = stored.schedule.next_after(slot)
    assert set(taken) == expected
    rows = store.runs(limit=100_000)
    assert sorted((r.job_id, r.scheduled_for.isoformat()) for r in rows) == sorted(expected)
    store.close()


@pytest.mark.slow
def test_three_scheduler_processes_run_each_slot_exactly_once(tmp_path: Path) -> None:
    write_worker(tmp_path)
    path = tmp_path / "shared.db"
    store = SqliteStore(path)
    now = datetime.now(UTC)
    for i in range(40):
        # Spread over the second, so the nodes race for many small batches of slots rather
        # than for one batch of all 40 a second, which one node can win every time.
        anchor = (T0 + timedelta(milliseconds=25 * i)).isoformat()
        every = f"every 1s from {anchor}"
        added = make_job(f"job{i:02}", make_target("crashwork:work"), every, tz="UTC")
        store.add_job(added.replace(next_run_at=added.schedule.next_after(now), created_at=now))
    first = {j.id: j.next_run_at for j in store.jobs()}
    store.close()
    procs = [start_worker(tmp_path, path, f"node{n}", 5.0, "4") for n in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err

    store = SqliteStore(path)
    runs = store.runs(limit=100_000)
    expected = set()
    for stored in store.jobs():
        slot = first[stored.id]
        assert slot is not None and stored.next_run_at is not None
        while slot < stored.next_run_at:
            expected.add((stored.id, slot))
            slot = stored.schedule.next_after(slot)  # type: ignore[assignment]
    assert sorted((r.job_id, r.scheduled_for) for r in runs) == sorted(expected)
    nodes = Counter(r.node for r in runs if r.status is RunStatus.SUCCEEDED)
    assert len(nodes) >= 2, f"one node did all the work: {nodes}"
    executed = Counter(executed_log(tmp_path))
    assert executed and max(executed.values()) == 1
    succeeded = {
        (r.job_id, r.scheduled_for.isoformat(), "1") for r in runs if r.status.value == "succeeded"
    }
    assert succeeded <= set(executed)
    store.close()
