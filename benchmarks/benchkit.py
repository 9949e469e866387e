"""What the benchmark scripts share: lateness percentiles and one fresh process per case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lateness_summary(lateness: list[float], runs: int, seconds: float) -> dict[str, float]:
    """Runs per second and min/p50/p99/max lateness in milliseconds (``lateness`` in
    seconds)."""
    lateness.sort()
    n = len(lateness)

    def pct(p: float) -> float:
        return lateness[min(n - 1, int(p * n))] * 1000 if n else float("nan")

    return {
        "runs_per_s": runs / seconds,
        "min_ms": lateness[0] * 1000 if n else float("nan"),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": lateness[-1] * 1000 if n else float("nan"),
    }


def child_env() -> dict[str, str]:
    """The environment of a child: cronwork's source and the benchmarks importable."""
    env = dict(os.environ)
    parts = [str(ROOT / "src"), str(ROOT / "benchmarks"), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, parts))
    return env


def spawn(script: str, kind: str, n: int, seconds: float) -> dict[str, float]:
    """Run ``script --child kind n seconds`` in a fresh process; its last line is JSON."""
    out = subprocess.run(
        [sys.executable, script, "--child", kind, str(n), str(seconds)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=300,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-3000:])
        return {}
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


class SubmitRecorder:
    """An APScheduler listener for EVENT_JOB_SUBMITTED: when each slot was handed over."""

    def __init__(self) -> None:
        self.records: list[tuple[float, datetime]] = []

    def __call__(self, event: object) -> None:
        now = time.time()
        for slot in event.scheduled_run_times:  # type: ignore[attr-defined]
            self.records.append((now, slot))

    def lateness(self, begin: datetime, end: datetime) -> list[float]:
        """Seconds from slot to hand-over, for slots in ``[begin, end)``."""
        return [t - slot.timestamp() for t, slot in self.records if begin <= slot < end]


# How the finished runs of the web benchmarks' stores ended: mostly well, a few not.
OUTCOMES = ["succeeded"] * 94 + ["failed"] * 3 + ["timed_out", "missed", "lost"]


def fill_sqlite(
    path: Path, job_rows: list[dict[str, object]], runs_per_job: int, seed: int
) -> None:
    """Write ``job_rows`` (stores.rows.job_to_row) to a new SQLite store at ``path``, each job
    with ``runs_per_job`` finished runs an hour apart before now, straight through SQL: adding
    a million runs through the store's API would take minutes."""
    import random
    from datetime import UTC, timedelta

    from cronwork.stores import SqliteStore
    from cronwork.stores.rows import to_micros
    from cronwork.stores.sqlite import Q

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    store = SqliteStore(path)
    conn = store._connection()
    conn.execute("BEGIN")
    conn.executemany(Q["job_insert"], job_rows)
    conn.execute("COMMIT")
    insert = (
        "INSERT INTO runs (job_id, scheduled_for, attempt, status, node, created_at, "
        "started_at, finished_at, exit_code, output, trigger) "
        "VALUES (?, ?, 1, ?, 'bench', ?, ?, ?, ?, 'ok\n', 'schedule')"
    )
    conn.execute("BEGIN")
    for i, row in enumerate(job_rows):
        batch = []
        for k in range(runs_per_job):
            slot = to_micros(now - timedelta(hours=k + 1, minutes=i % 60))
            assert slot is not None
            status = rng.choice(OUTCOMES)
            start = slot + rng.randint(1000, 400_000)
            end = None if status == "missed" else start + rng.randint(10_000, 5_000_000)
            code = {"succeeded": 0, "failed": 1}.get(status)
            batch.append((row["id"], slot, status, start, start, end, code))
        conn.executemany(insert, batch)
    conn.execute("COMMIT")
    store.close()
