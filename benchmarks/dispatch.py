"""Dispatch under load: cronwork vs APScheduler 3.11, N no-op jobs each firing every second.

Each (peer, N) runs in a fresh subprocess so its peak RSS is its own. Jobs are spread evenly
over the second (job i's slots are at i/N past each whole second) in both peers, so N jobs
make a steady N runs/s. Both peers use 10 worker threads and keep every slot (no coalescing,
no misfire grace that would drop late slots silently).

What is measured, for both peers, is lateness at hand-over to the thread pool, not the moment
a worker thread begins the call:

- cronwork: ``Run.started_at - Run.scheduled_for``. ``started_at`` is read from the clock
  immediately before the engine calls ``executor.start()``, which queues the call for a
  worker thread. Slots that were skipped (overlap) or missed never started and are not in
  the lateness figures; they are also not counted in runs/s.
- APScheduler: the wall-clock time at which our EVENT_JOB_SUBMITTED listener runs, minus
  ``scheduled_run_time``. APScheduler dispatches that event synchronously right after
  ``executor.submit_job()`` returns, i.e. just after the hand-over to its pool. Slots it
  refuses because the previous run is still going (max_instances=1) are never submitted,
  the counterpart of cronwork's overlap skips, and are not counted either.

CPU us/run is the process's CPU time (user and system, every thread) during the measured
window divided by the runs counted: what each run costs, whatever the machine's speed lets
through.

runs/s counts runs whose slot lies in the measured window and that started. The figures are
collected after the run (cronwork: from the store; APScheduler: a list the listener appends
to), so collecting them costs the scheduler under test nothing measurable.

Usage: python benchmarks/dispatch.py [--sizes 1000,5000,10000,20000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from benchkit import SubmitRecorder, child_env, lateness_summary, spawn

WARMUP = 2.0


def noop() -> None:
    """The job."""


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process so far, user and system, all threads."""
    times = os.times()
    return times.user + times.system


def first_slots() -> datetime:
    """When the first slots come: 2 s after the jobs begin to be added, for both peers.

    Not as soon as each job is added, so slow adding leaves no backlog of overdue slots.
    """
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)


def measure(start: datetime, seconds: float) -> tuple[datetime, datetime, float]:
    """Warm up from ``start``, then let the scheduler run ``seconds``.

    Returns the measured window's bounds and the CPU time spent in it.
    """
    time.sleep(WARMUP + max(0.0, (start - datetime.now(UTC)).total_seconds()))
    begin, cpu = datetime.now(UTC), cpu_seconds()
    time.sleep(seconds)
    return begin, datetime.now(UTC), cpu_seconds() - cpu


def summarize(lateness: list[float], runs: int, seconds: float, cpu: float) -> dict[str, float]:
    # CPU per run: what the process spent during the measured window, per run started in it.
    return {
        **lateness_summary(lateness, runs, seconds),
        "rss_mb": peak_rss_mb(),
        "cpu_us": cpu / max(runs, 1) * 1e6,
    }


def run_cronwork(n: int, seconds: float) -> dict[str, float]:
    from zoneinfo import ZoneInfo

    from cronwork import Scheduler
    from cronwork.timing.every import EverySchedule

    utc = ZoneInfo("UTC")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    start = first_slots()
    scheduler = Scheduler(timezone="UTC", max_running=10, freeze_gc=True)  # as `cronwork run`
    for i in range(n):
        schedule = EverySchedule(timedelta(seconds=1), utc, anchor=base + timedelta(seconds=i / n))
        scheduler.add_job(f"job{i}", noop, schedule, start_at=start)
    scheduler.start()
    begin, end, cpu = measure(start, seconds)
    scheduler.shutdown()
    lateness = []
    runs = 0
    for run in scheduler.runs(limit=10**9):
        if run.started_at is None or not (begin <= run.scheduled_for < end):
            continue
        runs += 1
        lateness.append((run.started_at - run.scheduled_for).total_seconds())
    return summarize(lateness, runs, seconds, cpu)


def run_apscheduler(n: int, seconds: float) -> dict[str, float]:
    from apscheduler.events import EVENT_JOB_SUBMITTED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    submitted = SubmitRecorder()
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(10)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone="UTC",
    )
    scheduler.add_listener(submitted, EVENT_JOB_SUBMITTED)
    start = first_slots()
    for i in range(n):
        scheduler.add_job(
            noop,
            "interval",
            seconds=1,
            start_date=start + timedelta(seconds=i / n),
            id=f"job{i}",
        )
    scheduler.start()
    begin, end, cpu = measure(start, seconds)
    scheduler.shutdown(wait=True)
    lateness = submitted.lateness(begin, end)
    return summarize(lateness, len(lateness), seconds, cpu)


def registered_rss(n: int) -> dict[str, float]:
    from cronwork import Scheduler

    scheduler = Scheduler(timezone="UTC", freeze_gc=True)
    for i in range(n):
        scheduler.add_job(f"job{i}", noop, "*/5 * * * *")
    return {"rss_mb": peak_rss_mb(), "jobs": len(scheduler.jobs())}


def import_time() -> dict[str, float]:
    best = float("inf")
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t=time.perf_counter(); import cronwork; print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=child_env(),
        )
        best = min(best, float(out.stdout))
    return {"import_ms": best * 1000}


def child(kind: str, n: int, seconds: float) -> dict[str, float]:
    if kind == "cronwork":
        return run_cronwork(n, seconds)
    if kind == "apscheduler":
        return run_apscheduler(n, seconds)
    if kind == "registered":
        return registered_rss(n)
    raise SystemExit(f"unknown kind {kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000,20000")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--peers", default="cronwork,apscheduler")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, n, seconds = args.child
        print(json.dumps(child(kind, int(n), float(seconds))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"N no-op jobs firing every second, {args.seconds:g}s measured after {WARMUP:g}s warm-up")
    header = ("peer", "N", "runs/s", "p50 ms", "p99 ms", "max ms", "RSS MB", "CPU us/run")
    print("{:<12} {:>6} {:>9} {:>8} {:>8} {:>8} {:>7} {:>11}".format(*header))
    for n in sizes:
        for peer in args.peers.split(","):
            r = spawn(__file__, peer, n, args.seconds)
            if not r:
                print(f"{peer:<12} {n:>6} failed")
                continue
            print(
                f"{peer:<12} {n:>6} {r['runs_per_s']:>9.0f} {r['p50_ms']:>8.1f} "
                f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {r['rss_mb']:>7.0f} "
                f"{r['cpu_us']:>11.1f}",
                flush=True,
            )
    reg = spawn(__file__, "registered", 100_000, 0)
    if reg:
        print(f"cronwork: {reg['jobs']:.0f} registered jobs, peak RSS {reg['rss_mb']:.0f} MB")
    print(f"cronwork: import cronwork {import_time()['import_ms']:.1f} ms (best of 5)")


if __name__ == "__main__":
    main()
