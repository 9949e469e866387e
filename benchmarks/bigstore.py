"""A million stored jobs on PostgreSQL: a node's start, its memory, and what one claim costs.

For each size (1,000 and 1,000,000 jobs by default) a fresh database on the server
(``$CRONWORK_TEST_POSTGRES_URL``, default the local one) is filled with COPY, through the
store's own row format (``stores/rows.py``, ``job_to_row``), its secondary indexes built after
the copy as a restore would. The jobs mix cron expressions and intervals, none due for a day,
except 100 "every 1s" jobs due an hour from now.

- start: a fresh process runs ``Scheduler(store=url).start()`` and waits until the engine's
  first claim has returned (nothing is due then: the figure is opening, checking and the
  first look at the due index); RSS is the process's resident memory then, peak its highest.
- claim: in another fresh process, ``PostgresStore.claim`` called as if it were an hour later,
  one second apart: each takes the 100 "every 1s" jobs' slots (100 runs written, their jobs'
  next fire times moved); "empty" is a claim that finds nothing due. Median of ``--claims``.

Usage: python benchmarks/bigstore.py [--jobs 1000000] [--small 1000] [--claims 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchkit import child_env
from serverkit import SERVER_URL, fresh_database, load_average

TARGET = "bigstore:noop"
HOT = 100  # jobs firing every second, due an hour from the fill
SCHEDULES = [f"{m} * * * *" for m in range(0, 60, 3)] + ["every 1h", "every 15m", "@daily"]


def noop() -> None:
    """The job."""


def fill(url: str, jobs: int) -> dict[str, float]:
    """Create the schema and copy ``jobs`` jobs in; seconds it took."""
    import psycopg

    from cronwork.jobs import make_job
    from cronwork.stores.postgres import PostgresStore
    from cronwork.stores.rows import job_to_row
    from cronwork.targets import make_target

    began = time.perf_counter()
    store = PostgresStore(url)
    store.open()
    store.close()
    now = datetime.now(UTC)
    hot_at = now.replace(microsecond=0) + timedelta(hours=1)
    target = make_target(TARGET)
    templates = [
        job_to_row(make_job("t", target, text, tz="UTC").replace(created_at=now))
        for text in [*SCHEDULES, "every 1s"]
    ]
    columns = ["rev", *templates[0]]
    micros_day = int((now + timedelta(days=1)).timestamp() * 1e6)
    micros_hot = int(hot_at.timestamp() * 1e6)
    with psycopg.connect(url) as conn:
        defs = [
            row[0]
            for row in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'jobs' "
                "AND indexname <> 'jobs_pkey'"
            )
        ]
        for name in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'jobs' AND indexname <> 'jobs_pkey'"
        ).fetchall():
            conn.execute(f'DROP INDEX "{name[0]}"')
        with conn.cursor().copy(f"COPY jobs ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(jobs):
                hot = i < HOT
                row = dict(templates[-1] if hot else templates[i % len(SCHEDULES)])
                row["id"] = f"job{i:07}"
                row["next_run_at"] = micros_hot if hot else micros_day + i
                row["paused"] = bool(row["paused"])
                copy.write_row([i + 1, *row.values()])
        for definition in defs:
            conn.execute(definition)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs")
    return {"fill_s": time.perf_counter() - began, "hot_at": hot_at.timestamp()}


def _memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(url: str) -> dict[str, float]:
    """Seconds from ``Scheduler(...)`` to the end of the first claim, and memory then."""
    from cronwork import Scheduler
    from cronwork.stores.postgres import PostgresStore

    began = time.perf_counter()
    store = PostgresStore(url)
    claimed = threading.Event()
    claim = store.claim

    def first_claim(*args: Any, **kwargs: Any) -> Any:
        result = claim(*args, **kwargs)
        claimed.set()
        return result

    store.claim = first_claim  # type: ignore[method-assign]
    scheduler = Scheduler(store=store, timezone="UTC")
    scheduler.start()
    if not claimed.wait(120):
        raise SystemExit("no claim within 120 s")
    elapsed = time.perf_counter() - began
    rss = _memory_mb()
    scheduler.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"start_s": elapsed, "rss_mb": rss, "peak_mb": peak}


def claims(url: str, hot_at: float, count: int) -> dict[str, float]:
    """Median milliseconds of a claim taking the hot jobs' slots, and of an empty claim."""
    from cronwork.stores.postgres import PostgresStore

    store = PostgresStore(url)
    store.open()
    lease = timedelta(seconds=30)
    at = datetime.fromtimestamp(hot_at, UTC)
    empty, full, runs = [], [], 0
    for k in range(count):
        began = time.perf_counter()
        store.claim(at - timedelta(minutes=1), timedelta(0), "bench", lease)
        empty.append(time.perf_counter() - began)
        began = time.perf_counter()
        got = store.claim(at + timedelta(seconds=k), timedelta(0), "bench", lease)
        full.append(time.perf_counter() - began)
        runs += len(got.runs)
    store.close()
    return {
        "empty_ms": statistics.median(empty) * 1000,
        "claim_ms": statistics.median(full) * 1000,
        "runs_per_claim": runs / count,
    }


def _spawn(kind: str, params: dict[str, Any]) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", kind, json.dumps(params)]
    out = subprocess.run(argv, capture_output=True, text=True, env=child_env(), timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(jobs: int, count: int) -> dict[str, float]:
    """Fill a fresh database with ``jobs`` jobs, then time a start and the claims."""
    with fresh_database(SERVER_URL) as url:
        filled = _spawn("fill", {"url": url, "jobs": jobs})
        started = _spawn("start", {"url": url})
        claimed = _spawn("claims", {"url": url, "hot_at": filled["hot_at"], "count": count})
    return {**filled, **started, **claimed}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--claims", type=int, default=20)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, params = args.child[0], json.loads(args.child[1])
        work = {"fill": fill, "start": start, "claims": claims}[kind]
        print(json.dumps(work(**params)))
        return
    print(
        f"Stored jobs on PostgreSQL ({SERVER_URL.rsplit('@', 1)[-1]}): start = Scheduler(...)"
        f".start() until its first claim returned, in a fresh process; a claim takes {HOT} "
        f"due slots, median of {args.claims}; load average {load_average()}"
    )
    header = ("jobs", "fill s", "start s", "RSS MB", "peak MB", "empty ms", "claim ms", "runs")
    print("{:>10} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>6}".format(*header))
    results = []
    for jobs in (args.small, args.jobs):
        r = measure(jobs, args.claims)
        results.append(r)
        print(
            f"{jobs:>10,} {r['fill_s']:>8.1f} {r['start_s']:>8.2f} {r['rss_mb']:>8.0f} "
            f"{r['peak_mb']:>8.0f} {r['empty_ms']:>9.2f} {r['claim_ms']:>9.2f} "
            f"{r['runs_per_claim']:>6.0f}",
            flush=True,
        )
    small, big = results
    print(
        f"{'ratio':>10} {'':>8} {big['start_s'] / small['start_s']:>7.1f}x "
        f"{big['rss_mb'] / small['rss_mb']:>7.1f}x {'':>8} "
        f"{big['empty_ms'] / small['empty_ms']:>8.1f}x {big['claim_ms'] / small['claim_ms']:>8.1f}x"
        f"   ({args.jobs:,} jobs / {args.small:,})"
    )
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
