"""The REST API under load: `cronwork serve` on SQLite with 10,000 jobs and 1,000,000 runs.

Builds a fresh SQLite store through the store's row format: ``--jobs`` jobs (``--hot`` of them
no-op jobs every second, spread over the second, the rest cron expressions and intervals) and
``--runs-per-job`` finished runs each. Starts ``cronwork serve`` on it in a subprocess (the
scheduler on, ``--max-running 50``), lets the hot jobs run for ``--seconds`` with no requests,
then points a load generator, a second process, at each endpoint in turn for ``--seconds``:
``wrk`` (``--connections`` connections, one thread) when it is installed, else a pool of
httpx clients, one thread each. Requests/s and the p50/p99 latency are the load generator's
own figures. The scheduler's lateness (a run's ``started_at`` minus its slot, read back from the
database after the server stopped) is given for the quiet window and for each loaded one.

Usage: python benchmarks/api.py [--jobs 10000] [--runs-per-job 100] [--hot 1000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchkit import child_env, fill_sqlite, lateness_summary
from serverkit import load_average

TARGET = "api:noop"
SCHEDULES = [f"{m} * * * *" for m in range(0, 60, 3)] + ["every 1h", "every 15m", "@daily"]
WARMUP = 3.0


def noop() -> None:
    """The job."""


def build(path: Path, jobs: int, runs_per_job: int, hot: int) -> None:
    """A SQLite store with the jobs and their finished runs; the hot jobs due in an hour."""
    from cronwork.jobs import make_job
    from cronwork.stores.rows import job_to_row
    from cronwork.targets import make_target

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    target = make_target(TARGET)
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    later = now + timedelta(hours=1)
    rows = []
    for i in range(jobs):
        if i < hot:
            spread = (anchor + timedelta(seconds=i / hot)).isoformat()
            job = make_job(f"job{i:06}", target, f"every 1s from {spread}", tz="UTC")
            slot = later
        else:
            job = make_job(f"job{i:06}", target, SCHEDULES[i % len(SCHEDULES)], tz="UTC")
            slot = job.schedule.next_after(now) or now
        rows.append(job_to_row(job.replace(next_run_at=slot, created_at=now, tags=(f"t{i % 7}",))))
    fill_sqlite(path, rows, runs_per_job, seed=15)


# -- load generators --------------------------------------------------------------------


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def load_wrk(url: str, seconds: float, connections: int) -> dict[str, float]:
    """wrk's figures for ``url``: requests/s, p50 and p99 in ms, and non-2xx responses."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _wrk_ms(pct["50"]),
        "p99_ms": _wrk_ms(pct["99"]),
        "errors": float(bad.group(1)) if bad else 0.0,
    }


def load_httpx(url: str, seconds: float, connections: int) -> dict[str, float]:
    """The same figures from ``connections`` threads, each with an httpx client."""
    import httpx

    latencies: list[float] = []
    errors = [0]
    stop = time.perf_counter() + seconds

    def client() -> None:
        mine = []
        with httpx.Client(timeout=10) as http:
            while (began := time.perf_counter()) < stop:
                response = http.get(url)
                mine.append(time.perf_counter() - began)
                if response.status_code >= 300:
                    errors[0] += 1
        latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = lateness_summary(latencies, len(latencies), seconds)
    return {
        "rps": summary["runs_per_s"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "errors": float(errors[0]),
    }


def load(loader: str, url: str, seconds: float, connections: int) -> dict[str, float]:
    """Run the load generator in a process of its own; its figures."""
    if loader == "wrk":
        return load_wrk(url, seconds, connections)
    params = json.dumps({"url": url, "seconds": seconds, "connections": connections})
    out = subprocess.run(
        [sys.executable, __file__, "--child", params],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=seconds + 60,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the server -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(db: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``cronwork serve`` on ``db`` and a free loopback port; the process and its URL."""
    import httpx

    url = f"http://127.0.0.1:{_free_port()}"
    argv = [sys.executable, "-m", "cronwork", "serve", "--store", f"sqlite:///{db}"]
    argv += ["--port", url.rsplit(":", 1)[1], "--max-running", "50", "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=child_env())
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        try:
            httpx.get(url + "/healthz", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("cronwork serve did not answer:\n" + log.read_text()[-3000:])


def scheduler_lateness(db: Path, begin: float, end: float, hot: int) -> dict[str, float]:
    """The hot jobs' lateness (started_at minus slot) for slots in [begin, end)."""
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT started_at - scheduled_for FROM runs WHERE scheduled_for >= ? AND "
        "scheduled_for < ? AND job_id < ? AND started_at IS NOT NULL",
        (int(begin * 1e6), int(end * 1e6), f"job{hot:06}"),
    ).fetchall()
    conn.close()
    lateness = [row[0] / 1e6 for row in rows]
    return lateness_summary(lateness, len(lateness), end - begin)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs-per-job", type=int, default=100)
    parser.add_argument("--hot", type=int, default=1000, help="jobs firing every second")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--loader", choices=["wrk", "httpx"], default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(load_httpx(**json.loads(args.child))))
        return
    loader = args.loader or ("wrk" if shutil.which("wrk") else "httpx")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "api.db"
        began = time.perf_counter()
        build(db, args.jobs, args.runs_per_job, args.hot)
        built = time.perf_counter() - began
        print(
            f"`cronwork serve` on SQLite: {args.jobs:,} jobs ({args.hot:,} firing every second), "
            f"{args.jobs * args.runs_per_job:,} runs (built in {built:.0f} s); load: {loader}, "
            f"{args.connections} connections, {args.seconds:g} s an endpoint; "
            f"load average {load_average()}",
            flush=True,
        )
        first = _retime_hot(db, args.hot)
        proc, url = start_server(db, Path(tmp) / "serve.log")
        windows: list[tuple[str, float, float, dict[str, float] | None]] = []
        try:
            time.sleep(max(0.0, first + WARMUP - time.time()))
            begin = time.time()
            time.sleep(args.seconds)
            windows.append(("no requests", begin, time.time(), None))
            cold = f"job{args.jobs - 1:06}"
            for name, path in [
                ("GET /api/v1/jobs", "/api/v1/jobs"),
                ("GET /api/v1/runs?job_id", f"/api/v1/runs?job_id={cold}"),
                ("GET /metrics", "/metrics"),
            ]:
                begin = time.time()
                figures = load(loader, url + path, args.seconds, args.connections)
                windows.append((name, begin, time.time(), figures))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        header = ("load", "req/s", "p50 ms", "p99 ms", "errors", "runs/s", "late p50", "late p99")
        print("{:<24} {:>8} {:>8} {:>8} {:>7} {:>8} {:>9} {:>9}".format(*header))
        for name, begin, end, r in windows:
            late = scheduler_lateness(db, begin, end, args.hot)
            api = (
                f"{r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>7.0f}"
                if r
                else f"{'-':>8} {'-':>8} {'-':>8} {'-':>7}"
            )
            print(
                f"{name:<24} {api} {late['runs_per_s']:>8.0f} {late['p50_ms']:>9.1f} "
                f"{late['p99_ms']:>9.1f}",
                flush=True,
            )
    print(
        "late p50/p99: the scheduler's own start lateness (ms) in the same window; "
        f"load average at the end: {load_average()}"
    )


def _retime_hot(db: Path, hot: int) -> float:
    """Move the hot jobs' next slots to just after the server will have started."""
    first = float(int(time.time() + 4))
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "UPDATE jobs SET next_run_at = ? WHERE id = ?",
            [(int((first + i / hot) * 1e6), f"job{i:06}") for i in range(hot)],
        )
    conn.close()
    return first


if __name__ == "__main__":
    main()
