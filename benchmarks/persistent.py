"""Persistent dispatch: cronwork on SQLite vs APScheduler 3.11 with SQLAlchemyJobStore on SQLite.

N no-op jobs fire every second, spread evenly over the second (job i's slots are i/N past each
whole second), so N jobs make a steady N runs/s. Each (peer, N) runs in a fresh subprocess on
a fresh database file. Lateness is "start minus slot": the moment the engine hands the run to
its thread pool minus the slot (cronwork: Run.started_at - scheduled_for, read back from the
database; APScheduler: the EVENT_JOB_SUBMITTED time minus scheduled_run_time). "recorded" is
the number of run rows in the database for the measured window (APScheduler keeps none).
Startup: time for ``Scheduler(store=url).start()`` on a file holding 100k jobs.

Usage: python benchmarks/persistent.py [--rates 100,1000,5000] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchkit import SubmitRecorder, lateness_summary, spawn

WARMUP = 2.0
TARGET = "persistent:noop"  # this file, imported by path in the child


def noop() -> None:
    """The job."""


def summarize(lateness: list[float], runs: int, recorded: int, seconds: float) -> dict[str, float]:
    return {**lateness_summary(lateness, runs, seconds), "recorded": recorded}


def _spread(n: int, i: int) -> str:
    anchor = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i / n)
    return f"every 1s from {anchor.isoformat()}"


def run_cronwork(n: int, seconds: float, folder: Path) -> dict[str, float]:
    from cronwork import Scheduler
    from cronwork.stores import SqliteStore

    url = f"sqlite:///{folder / 'cronwork.db'}"
    scheduler = Scheduler(store=url, timezone="UTC", max_running=50, freeze_gc=True)
    for i in range(n):
        scheduler.add_job(f"job{i}", TARGET, _spread(n, i))
    scheduler.start()
    time.sleep(WARMUP)
    begin = datetime.now(UTC)
    time.sleep(seconds)
    end = datetime.now(UTC)
    scheduler.close()
    store = SqliteStore(folder / "cronwork.db")
    lateness = []
    recorded = 0
    for run in store.runs(limit=10**9):
        if not begin <= run.scheduled_for < end:
            continue
        recorded += 1
        if run.started_at is not None:
            lateness.append((run.started_at - run.scheduled_for).total_seconds())
    store.close()
    return summarize(lateness, len(lateness), recorded, seconds)


def run_apscheduler(n: int, seconds: float, folder: Path) -> dict[str, float]:
    from apscheduler.events import EVENT_JOB_SUBMITTED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    submitted = SubmitRecorder()
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{folder / 'aps.db'}")},
        executors={"default": ThreadPoolExecutor(50)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone="UTC",
    )
    scheduler.add_listener(submitted, EVENT_JOB_SUBMITTED)
    # Anchored at a fixed instant like cronwork's intervals, so each job's first slot is the
    # next one after it is added, however long adding 5k jobs one commit at a time takes.
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        scheduler.add_job(
            TARGET, "interval", seconds=1, start_date=base + timedelta(seconds=i / n), id=f"job{i}"
        )
    scheduler.start()
    time.sleep(WARMUP)
    begin = datetime.now(UTC)
    time.sleep(seconds)
    end = datetime.now(UTC)
    scheduler.shutdown(wait=True)
    lateness = submitted.lateness(begin, end)
    return summarize(lateness, len(lateness), 0, seconds)


def startup(n: int, folder: Path) -> dict[str, float]:
    from cronwork import Scheduler
    from cronwork.jobs import make_job
    from cronwork.stores import SqliteStore
    from cronwork.stores.rows import job_to_row
    from cronwork.stores.sqlite import Q
    from cronwork.targets import make_target

    path = folder / "startup.db"
    store = SqliteStore(path)
    now = datetime.now(UTC)
    texts = [f"{m} * * * *" for m in range(0, 60, 3)] + ["every 1h", "every 15m", "@daily"]
    rows = []
    for i in range(n):
        job = make_job(f"job{i:06}", make_target(TARGET), texts[i % len(texts)], tz="UTC")
        # Far from due, so the measured start is loading and checking, not running.
        rows.append(job_to_row(job.replace(next_run_at=now + timedelta(days=1), created_at=now)))
    conn = store._connection()
    conn.execute("BEGIN")
    conn.executemany(Q["job_insert"], rows)
    conn.execute("COMMIT")
    store.close()
    started = time.perf_counter()
    scheduler = Scheduler(store=f"sqlite:///{path}", timezone="UTC", freeze_gc=True)
    scheduler.start()
    elapsed = time.perf_counter() - started
    jobs = len(scheduler.jobs())
    scheduler.close()
    return {"startup_s": elapsed, "jobs": jobs}


def child(kind: str, n: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if kind == "cronwork":
            return run_cronwork(n, seconds, folder)
        if kind == "apscheduler":
            return run_apscheduler(n, seconds, folder)
        if kind == "startup":
            return startup(n, folder)
    raise SystemExit(f"unknown kind {kind}")


def _ratio(a: float, b: float) -> str:
    if not (a == a and b == b) or b == 0:  # NaN or zero
        return "-"
    return f"{a / b:.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default="100,1000,5000")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--peers", default="cronwork,apscheduler")
    parser.add_argument("--startup-jobs", type=int, default=100_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, n, seconds = args.child
        print(json.dumps(child(kind, int(n), float(seconds))))
        return
    print(
        f"N no-op jobs every second on SQLite, {args.seconds:g}s measured after "
        f"{WARMUP:g}s warm-up; lateness = handed to the pool minus slot"
    )
    header = ("peer", "target/s", "runs/s", "p50 ms", "p99 ms", "max ms", "recorded")
    print("{:<12} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}".format(*header))
    results: dict[tuple[str, int], dict[str, float]] = {}
    for n in [int(r) for r in args.rates.split(",")]:
        for peer in args.peers.split(","):
            r = spawn(__file__, peer, n, args.seconds)
            results[peer, n] = r
            if not r:
                print(f"{peer:<12} {n:>8} failed")
                continue
            print(
                f"{peer:<12} {n:>8} {r['runs_per_s']:>8.0f} {r['p50_ms']:>8.1f} "
                f"{r['p99_ms']:>8.1f} {r['max_ms']:>9.1f} {r['recorded']:>9.0f}",
                flush=True,
            )
        cw, aps = results.get(("cronwork", n)), results.get(("apscheduler", n))
        if cw and aps:
            print(
                f"{'  ratio':<12} {n:>8} {_ratio(cw['runs_per_s'], aps['runs_per_s']):>8} "
                f"{_ratio(aps['p50_ms'], cw['p50_ms']):>8} {_ratio(aps['p99_ms'], cw['p99_ms']):>8}"
                "   (runs/s cronwork/APS; lateness APS/cronwork)"
            )
    if args.startup_jobs:
        s = spawn(__file__, "startup", args.startup_jobs, 0)
        if s:
            print(
                f"cronwork: Scheduler(store=sqlite).start() with {s['jobs']:.0f} stored jobs: "
                f"{s['startup_s']:.2f} s"
            )


if __name__ == "__main__":
    main()
