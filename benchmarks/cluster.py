"""A cluster on PostgreSQL: cronwork on 1-3 nodes vs APScheduler 4.0.0a6 on 1 and 3 schedulers.

N no-op jobs fire every second, spread evenly over the second (job i's slots are i/N past each
whole second), so N jobs make a steady N runs/s. Each node is a process of its own; each case
gets a fresh database on the same server (``$CRONWORK_TEST_POSTGRES_URL``, default the local
one), dropped afterwards. cronwork: ``Scheduler(store="postgresql://...")``, 50 threads a node.
APScheduler 4.0.0a6: ``SQLAlchemyDataStore`` (asyncpg) and ``AsyncpgEventBroker``, its thread
pool of 100 a scheduler, ``misfire_grace_time=None`` so no late slot is dropped.

Every job appends ``job slot started-at`` to a log file of its node when its function begins,
so the figures come from what ran, the same way for both peers: lateness is the function's
start minus its slot; runs/s counts distinct (job, slot) pairs that began in the measured
window (so a peer that falls behind shows the rate it manages, and how late); duplicates
are (job, slot) pairs that ran more than once in the whole case; share is the smallest and
largest node's part of the runs. "recorded" is the run rows the store kept for the slots of
the window (APScheduler 4 keeps none). CPU is read from /proc over the measured window, in
percent of one core: all nodes together, and the server's processes for this database plus
its WAL writer, checkpointer and background writer; "machine" is the busy share of all cores,
other users' work included.

APScheduler 4 and cronwork's benchmark peers cannot share one environment (APScheduler 3.11 is
the other benchmarks' peer), so APScheduler 4 lives in a folder of its own, put first on the
path of its processes only: ``make bench-aps4`` installs it into ``.venv/aps4``
(``--aps4-path`` names another folder); without it, its rows are left out.

Usage: python benchmarks/cluster.py [--rates 1000,5000] [--nodes 1,2,3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchkit import child_env, lateness_summary
from serverkit import SERVER_URL, CpuSample, fresh_database, load_average, server_pids

WARMUP = 2.0
TAIL = 1.5  # seconds the nodes go on after the window, so its last slots run
TARGET = "cluster:work"
_fd: int | None = None


def _log(job_id: str, slot: float) -> None:
    now = time.time()
    global _fd
    if _fd is None:
        _fd = os.open(os.environ["CRONWORK_BENCH_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(_fd, f"{job_id} {slot:.6f} {now:.6f}\n".encode())


def _ready() -> None:
    """Say when this node is up: a file beside its log, holding the time."""
    Path(os.environ["CRONWORK_BENCH_LOG"] + ".ready").write_text(f"{time.time():.6f}")


def work(ctx: Any) -> None:
    """cronwork's job: note which slot began when."""
    _log(ctx.job_id, ctx.scheduled_for.timestamp())


def work_aps() -> None:
    """APScheduler 4's job: note which slot began when."""
    from apscheduler import current_job

    job = current_job.get()
    _log(str(job.schedule_id), job.scheduled_fire_time.timestamp())


# -- the processes ----------------------------------------------------------------------


def setup_cronwork(url: str, n: int, first: float) -> None:
    """The schema and N jobs, inserted in one transaction through the store's row format."""
    from cronwork.jobs import make_job
    from cronwork.stores.postgres import PostgresStore, Q
    from cronwork.stores.rows import job_to_row
    from cronwork.targets import make_target

    store = PostgresStore(url)
    store.open()
    store.close()
    now = datetime.now(UTC)
    rows = []
    target = make_target(TARGET)
    for i in range(n):
        anchor = datetime.fromtimestamp(first + i / n, UTC)
        job = make_job(f"job{i}", target, f"every 1s from {anchor.isoformat()}", tz="UTC")
        rows.append(job_to_row(job.replace(next_run_at=anchor, created_at=now)))
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.executemany(Q["job_insert"], rows)


def node_cronwork(url: str, until: float) -> None:
    """One cronwork node until ``until``."""
    from cronwork import Scheduler

    scheduler = Scheduler(store=url, timezone="UTC", max_running=50, freeze_gc=True)
    scheduler.start()
    _ready()
    time.sleep(max(0.0, until - time.time()))
    scheduler.close()


def _aps_store(url: str) -> tuple[Any, Any]:
    from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
    from apscheduler.eventbrokers.asyncpg import AsyncpgEventBroker

    dsn = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    return SQLAlchemyDataStore(dsn), AsyncpgEventBroker(url)


def _lead(nodes: int, n: int) -> float:
    """Seconds from the end of the set-up to the first slots: time for the nodes to start."""
    return 3.0 + 1.5 * nodes + n / 5000


def setup_aps(url: str, n: int, lead: float) -> float:
    """N interval schedules whose first slots begin ``lead`` s after adding them all would end.

    Returns that first instant. APScheduler 4 adds one schedule per call and transaction, so
    the first 20 are timed to see how long the rest will take.
    """
    from apscheduler import Scheduler
    from apscheduler.triggers.interval import IntervalTrigger

    from cluster import work_aps as job  # by its module's name, not __main__

    store, broker = _aps_store(url)
    with Scheduler(store, broker) as scheduler:
        scheduler.add_schedule(job, IntervalTrigger(days=1), id="probe")
        began = time.time()
        for i in range(20):
            scheduler.add_schedule(job, IntervalTrigger(days=1), id=f"probe{i}")
        per = (time.time() - began) / 20
        for i in range(-1, 20):
            scheduler.remove_schedule("probe" if i < 0 else f"probe{i}")
        first = float(int(time.time() + 2 * per * n + lead))
        for i in range(n):
            start = datetime.fromtimestamp(first + i / n, UTC)
            trigger = IntervalTrigger(seconds=1, start_time=start)
            scheduler.add_schedule(job, trigger, id=f"job{i}", misfire_grace_time=None)
    return first


def node_aps(url: str, until: float) -> None:
    """One APScheduler 4 scheduler (scheduling and running jobs) until ``until``."""
    from apscheduler import Scheduler

    store, broker = _aps_store(url)
    with Scheduler(store, broker) as scheduler:
        scheduler.start_in_background()
        _ready()
        time.sleep(max(0.0, until - time.time()))
        scheduler.stop()
        scheduler.wait_until_stopped()


def child(args: list[str]) -> None:
    """Run one process's part; ``args``: kind, then its JSON arguments."""
    kind, params = args[0], json.loads(args[1])
    if kind == "setup-cronwork":
        setup_cronwork(**params)
        print(json.dumps({}))
    elif kind == "setup-aps":
        print(json.dumps({"first": setup_aps(**params)}))
    elif kind == "node-cronwork":
        node_cronwork(**params)
    elif kind == "node-aps":
        node_aps(**params)
    else:
        raise SystemExit(f"unknown kind {kind}")


# -- the parent -------------------------------------------------------------------------


def _env(aps_path: str | None, log: Path | None = None) -> dict[str, str]:
    env = child_env()
    if aps_path:
        env["PYTHONPATH"] = os.pathsep.join([aps_path, env["PYTHONPATH"]])
    if log is not None:
        env["CRONWORK_BENCH_LOG"] = str(log)
    return env


def _popen(kind: str, params: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[str]:
    argv = [sys.executable, __file__, "--child", kind, json.dumps(params)]
    pipe = subprocess.PIPE
    return subprocess.Popen(argv, stdout=pipe, stderr=pipe, text=True, env=env)


def _finish(proc: subprocess.Popen[str], timeout: float) -> str:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"a process did not end in {timeout:g}s: {err[-2000:]}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"a process failed ({proc.returncode}): {err[-2000:]}")
    return out


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def run_case(peer: str, nodes: int, n: int, seconds: float, aps_path: str | None) -> dict[str, Any]:
    """One (peer, nodes, N) case on a fresh database; the figures of its window."""
    aps = peer == "apscheduler"
    with fresh_database(SERVER_URL) as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = _env(aps_path if aps else None)
        if aps:
            params = {"url": url, "n": n, "lead": _lead(nodes, n)}
            out = _finish(_popen("setup-aps", params, env), 600)
            first = float(json.loads(out.strip().splitlines()[-1])["first"])
        else:
            first = float(int(time.time() + _lead(nodes, n)))
            _finish(_popen("setup-cronwork", {"url": url, "n": n, "first": first}, env), 600)
        begin = first + WARMUP
        end = begin + seconds
        logs = [folder / f"node{k}.log" for k in range(nodes)]
        kind = "node-aps" if aps else "node-cronwork"
        procs = [
            _popen(kind, {"url": url, "until": end + TAIL}, _env(aps_path if aps else None, log))
            for log in logs
        ]
        try:
            _sleep_until(begin)
            sample = CpuSample({"nodes": [p.pid for p in procs], "server": server_pids(url)})
            _sleep_until(end)
            cpu = sample.stop(seconds, more={"server": server_pids(url)})
            for proc in procs:
                _finish(proc, 120 + n / 100)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
        recorded = None if aps else _recorded(url, begin, end)
        late = [log for log in logs if not _up_by(log, first)]
        return {
            **_from_logs(logs, begin, end, seconds),
            **cpu,
            "recorded": recorded,
            "late_nodes": len(late),
        }


def _up_by(log: Path, moment: float) -> bool:
    ready = Path(f"{log}.ready")
    return ready.exists() and float(ready.read_text()) <= moment


def _recorded(url: str, begin: float, end: float) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM runs WHERE scheduled_for >= %s AND scheduled_for < %s",
            (int(begin * 1e6), int(end * 1e6)),
        ).fetchone()
    return int(row[0]) if row else 0


def _from_logs(logs: list[Path], begin: float, end: float, seconds: float) -> dict[str, Any]:
    executions: Counter[tuple[str, str]] = Counter()
    lateness: list[float] = []
    per_node: list[int] = []
    for log in logs:
        mine = 0
        lines = log.read_text().splitlines() if log.exists() else []
        for line in lines:
            job_id, slot, started = line.split()
            executions[job_id, slot] += 1
            if begin <= float(started) < end and executions[job_id, slot] == 1:
                lateness.append(float(started) - float(slot))
                mine += 1
        per_node.append(mine)
    total = sum(per_node)
    shares = [100 * k / total for k in per_node] if total else [0.0]
    return {
        **lateness_summary(lateness, len(lateness), seconds),
        "duplicates": sum(count - 1 for count in executions.values() if count > 1),
        "share_min": min(shares),
        "share_max": max(shares),
    }


def _ratio(a: float, b: float) -> str:
    if not (a == a and b == b) or b == 0:  # NaN or zero
        return "-"
    return f"{a / b:.1f}x"


def _row(label: str, nodes: int, n: int, r: dict[str, Any]) -> str:
    recorded = "-" if r["recorded"] is None else f"{r['recorded']:.0f}"
    share = f"{r['share_min']:.0f}-{r['share_max']:.0f}%" if nodes > 1 else "100%"
    return (
        f"{label:<12} {nodes:>5} {n:>8} {r['runs_per_s']:>8.0f} {r['p50_ms']:>8.1f} "
        f"{r['p99_ms']:>8.1f} {r['max_ms']:>9.1f} {recorded:>9} {r['duplicates']:>5} "
        f"{share:>8} {r['nodes_cpu']:>6.0f}% {r['server_cpu']:>6.0f}% {r['machine_busy']:>6.0f}%"
        + (f"  ({r['late_nodes']} node(s) up after the first slot)" if r["late_nodes"] else "")
    )


def default_aps_path() -> str | None:
    """The folder holding APScheduler 4, beside this interpreter's packages, if it exists."""
    path = Path(sys.prefix) / "aps4"
    return str(path) if (path / "apscheduler").is_dir() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default="1000,5000")
    parser.add_argument("--nodes", default="1,2,3", help="cronwork's node counts")
    parser.add_argument("--aps-nodes", default="1,3", help="APScheduler 4's scheduler counts")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--aps4-path", default=default_aps_path())
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    cases = [("cronwork", int(k)) for k in args.nodes.split(",") if k]
    if args.aps4_path:
        cases += [("apscheduler", int(k)) for k in args.aps_nodes.split(",") if k]
    else:
        print("APScheduler 4 not found (see --aps4-path): its rows are left out")
    print(
        f"N no-op jobs every second on PostgreSQL ({SERVER_URL.rsplit('@', 1)[-1]}), each node "
        f"a process; {args.seconds:g}s measured after {WARMUP:g}s warm-up; lateness = job "
        f"function's start minus slot; CPU in % of one core; load average {load_average()}"
    )
    header = ("peer", "nodes", "target/s", "runs/s", "p50 ms", "p99 ms", "max ms", "recorded")
    more = ("dups", "share", "nodes", "server", "machine")
    print(
        "{:<12} {:>5} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} ".format(*header)
        + "{:>5} {:>8} {:>7} {:>7} {:>7}".format(*more)
    )
    for n in [int(r) for r in args.rates.split(",")]:
        results: dict[tuple[str, int], dict[str, Any]] = {}
        for peer, nodes in cases:
            label = "APScheduler4" if peer == "apscheduler" else peer
            try:
                r = run_case(peer, nodes, n, args.seconds, args.aps4_path)
            except RuntimeError as exc:
                print(f"{label:<12} {nodes:>5} {n:>8} failed: {exc}", flush=True)
                continue
            results[peer, nodes] = r
            print(_row(label, nodes, n, r), flush=True)
        for nodes in sorted({k for _, k in cases}):
            cw, aps = results.get(("cronwork", nodes)), results.get(("apscheduler", nodes))
            if cw and aps:
                print(
                    f"{'  ratio':<12} {nodes:>5} {n:>8} "
                    f"{_ratio(cw['runs_per_s'], aps['runs_per_s']):>8} "
                    f"{_ratio(aps['p50_ms'], cw['p50_ms']):>8} "
                    f"{_ratio(aps['p99_ms'], cw['p99_ms']):>8}"
                    "   (runs/s cronwork/APS; lateness APS/cronwork)"
                )
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
