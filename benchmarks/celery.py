"""Celery dispatch: cronwork handing runs to a Celery worker vs Celery beat, same schedule.

N no-op tasks a second through Redis: N jobs (beat: N schedule entries) each fire every
second, spread evenly over the second (job i's slots are i/N past each whole second). Both
peers send to one prefork Celery worker started once for the whole run, on a queue of its own.
The task's first act on the worker is to note (job, slot, time) in a Redis list, so both
peers are measured the same way:

- start lateness: the task's start on the worker minus its slot (cronwork's slot is in the
  task id; beat's tasks are told the slot their entry was due at as they are sent);
- runs/s: tasks of the window's slots started on the worker, per second of the window;
- scheduler CPU: CPU time of the scheduler process (cronwork: the whole process, with its
  SQLite store and Celery client threads; beat: the `celery beat` process) over the window, as
  a share of one core;
- recorded: runs of the window whose outcome the scheduler recorded (beat records none).

cronwork runs on SQLite with max_running high enough for every run in flight, and its jobs
allow overlapping runs: a run holds its place, and its job's overlap, until its result arrives,
and beat, which learns of no result, sends every slot regardless.
Redis: $CRONWORK_BENCH_REDIS_URL, default
redis://127.0.0.1:6379/13; the results expire after a minute.

Rates past what the one worker starts per second measure the worker's queue, not the
schedulers: cronwork sends every slot (with max_running that high), so its lateness grows with
the queue, while beat falls behind and sends fewer. The load average printed first says how
busy the machine was.

Usage: python benchmarks/celery.py [--rates 20,50] [--seconds 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
import benchkit  # noqa: E402  (from this folder, before it leaves the path)

# This file's name would hide the celery package for the imports below: drop its folder.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

REDIS_URL = os.environ.get("CRONWORK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
WARMUP = 3.0
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)

# The fleet's code, written to a temporary folder that the worker, beat and the cronwork child
# import it from: the app, the task, and beat's schedule (N entries on the same grid as the
# cronwork jobs), read from the environment.
FLEET = textwrap.dedent(
    """
    import os
    import time
    from datetime import datetime, timedelta, timezone

    import redis
    from celery import Celery, beat
    from celery.schedules import schedule, schedstate

    URL = os.environ["CWBENCH_REDIS"]
    QUEUE = os.environ["CWBENCH_QUEUE"]
    app = Celery("cwbench", broker=URL, backend=URL)
    app.conf.update(
        task_track_started=True,
        worker_prefetch_multiplier=1,
        result_expires=60,
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
    )
    notes = redis.Redis.from_url(URL)


    @app.task(name="cwbench.tick", shared=False, bind=True)
    def tick(self, key, job, slot=None):
        started = time.time()
        if slot is None:
            # Sent by cronwork: the task id is <run>-<job>-<slot>-<attempt>.
            stamp = self.request.id.rsplit("-", 2)[1]
            slot = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ")
            slot = slot.replace(tzinfo=timezone.utc).timestamp()
        notes.rpush(key, f"{job} {slot!r} {started!r}")


    class SlotScheduler(beat.Scheduler):
        # Beat's entries carry fixed arguments: tell each task the slot it is sent for.
        def apply_async(self, entry, producer=None, advance=True, **kwargs):
            now, offset = time.time(), entry.schedule.offset
            entry.kwargs = {"slot": now - ((now - offset) % 1.0)}
            return super().apply_async(entry, producer, advance, **kwargs)


    class Grid(schedule):
        # Due at offset + k seconds, on the wall clock, like cronwork's "every 1s from ...".
        def __init__(self, offset):
            super().__init__(run_every=timedelta(seconds=1))
            self.offset = offset

        def is_due(self, last_run_at):
            now = time.time()
            last_slot = now - ((now - self.offset) % 1.0)
            wait = last_slot + 1.0 - now
            return schedstate(last_run_at.timestamp() < last_slot, wait)


    n = int(os.environ.get("CWBENCH_N", "0"))
    key = os.environ.get("CWBENCH_KEY", "")
    app.conf.beat_schedule = {
        f"job{i}": {"task": "cwbench.tick", "schedule": Grid(i / n), "args": (key, i)}
        for i in range(n)
    }
    """
)


def fleet_env(folder: Path, queue: str, **extra: str) -> dict[str, str]:
    """The environment of the worker, beat and the cronwork child: cronwork and the fleet's
    code importable, and not this folder (whose celery.py would hide the package)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(benchkit.ROOT / "src"), str(folder)])
    env.update(CWBENCH_REDIS=REDIS_URL, CWBENCH_QUEUE=queue, **extra)
    return env


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "--app", "cwbench:app", *args]


def start_worker(folder: Path, queue: str) -> subprocess.Popen[bytes]:
    log = folder / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            celery_command(
                "worker", "--pool", "prefork", "--concurrency", "4", "--queues", queue,
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel", "WARNING", "--hostname", f"cwbench-{queue}@%h",
            ),
            cwd=folder, env=fleet_env(folder, queue), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    give_up = time.monotonic() + 60
    while not ping_worker(folder, queue):
        if worker.poll() is not None or time.monotonic() > give_up:
            worker.kill()
            raise SystemExit(f"the Celery worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.5)
    return worker


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 10 s (a busy beat may not get to it)."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def ping_worker(folder: Path, queue: str) -> bool:
    done = subprocess.run(
        celery_command("inspect", "ping", "--destination", f"cwbench-{queue}@{os.uname()[1]}"),
        cwd=folder, env=fleet_env(folder, queue), capture_output=True, timeout=30,
    )  # fmt: skip
    return done.returncode == 0


def lateness_of(notes: list[bytes], begin: float, end: float) -> list[float]:
    """Seconds from slot to start on the worker, for the slots in ``[begin, end)``."""
    found = []
    for note in notes:
        _, slot, started = (float(part) for part in note.split())
        if begin <= slot < end:
            found.append(started - slot)
    return found


def run_cronwork(n: int, seconds: float, folder: Path) -> dict[str, float]:
    """The cronwork child: N Celery jobs on SQLite, measured over ``seconds``."""
    import redis

    from cronwork import CeleryTask, Scheduler

    key = f"cwbench:{uuid.uuid4().hex}"
    url = f"sqlite:///{folder / 'cronwork.db'}"
    scheduler = Scheduler(
        store=url, timezone="UTC", max_running=10_000, freeze_gc=True, celery_app="cwbench:app"
    )
    for i in range(n):
        anchor = (ANCHOR + timedelta(seconds=i / n)).isoformat()
        # Beat sends every slot whatever became of the last one: so does cronwork here.
        scheduler.add_job(
            f"job{i}",
            CeleryTask("cwbench.tick"),
            f"every 1s from {anchor}",
            args=[key, i],
            overlap="allow",
            max_instances=100,
        )
    sends = noting_sends()
    scheduler.start()
    time.sleep(WARMUP)
    begin, cpu = time.time(), time.process_time()
    time.sleep(seconds)
    end, cpu = time.time(), time.process_time() - cpu
    scheduler.close()
    notes = redis.Redis.from_url(REDIS_URL)
    lateness = lateness_of(notes.lrange(key, 0, -1), begin, end)
    notes.delete(key)
    first, last = datetime.fromtimestamp(begin, UTC), datetime.fromtimestamp(end, UTC)
    recorded = sum(
        1
        for run in Scheduler(url).runs(limit=10**9)
        if first <= run.scheduled_for < last and run.status.finished
    )
    own = [at - slot for slot, at in sends if begin <= slot < end]
    handover = benchkit.lateness_summary(own, len(own), seconds)
    return {
        **benchkit.lateness_summary(lateness, len(lateness), seconds),
        "cpu": cpu / seconds,
        "recorded": recorded,
        "handover_p50_ms": handover["p50_ms"],
        "handover_p99_ms": handover["p99_ms"],
    }


def noting_sends() -> list[tuple[float, float]]:
    """Note (slot, instant) of each task cronwork hands to the Celery client's send_task: the
    part of the lateness that is cronwork's own."""
    from celery import Celery

    sends: list[tuple[float, float]] = []
    send_task = Celery.send_task

    def noting(app: Any, *args: Any, **kwargs: Any) -> Any:
        at = time.time()
        stamp = str(kwargs.get("task_id", "")).rsplit("-", 2)
        if len(stamp) == 3:
            slot = datetime.strptime(stamp[1], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
            sends.append((slot.timestamp(), at))
        return send_task(app, *args, **kwargs)

    Celery.send_task = noting  # type: ignore[method-assign]
    return sends


def drained(notes: Any, key: str, within: float = 60.0) -> None:
    """Wait until the worker has started what was sent: the list stops growing for 2 s."""
    give_up = time.monotonic() + within
    length, still = -1, 0
    while still < 4 and time.monotonic() < give_up:
        now = notes.llen(key)
        length, still = now, (still + 1 if now == length else 0)
        time.sleep(0.5)


def run_beat(n: int, seconds: float, folder: Path, queue: str) -> dict[str, float]:
    """Celery beat sending the same N entries, measured over ``seconds``."""
    import psutil
    import redis

    key = f"cwbench:{uuid.uuid4().hex}"
    env = fleet_env(folder, queue, CWBENCH_N=str(n), CWBENCH_KEY=key)
    log = folder / "beat.log"
    with log.open("wb") as out:
        beat = subprocess.Popen(
            celery_command(
                "beat", "--scheduler", "cwbench:SlotScheduler", "--loglevel", "WARNING",
                "--max-interval", "1",
            ),
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        time.sleep(WARMUP)
        proc = psutil.Process(beat.pid)
        before = proc.cpu_times()
        begin = time.time()
        time.sleep(seconds)
        end = time.time()
        after = proc.cpu_times()
    finally:
        stop(beat)
    cpu = (after.user + after.system) - (before.user + before.system)
    notes = redis.Redis.from_url(REDIS_URL)
    drained(notes, key)
    lateness = lateness_of(notes.lrange(key, 0, -1), begin, end)
    notes.delete(key)
    return {
        **benchkit.lateness_summary(lateness, len(lateness), seconds),
        "cpu": cpu / seconds,
        "recorded": 0,
    }


def spawn_cronwork(n: int, seconds: float, folder: Path, queue: str) -> dict[str, float]:
    """Run the cronwork case in a fresh process (its last line of output is JSON)."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(n), str(seconds), str(folder)],
        capture_output=True, text=True, env=fleet_env(folder, queue), timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        return {}
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _ratio(a: float, b: float) -> str:
    if not (a == a and b == b) or b == 0:  # NaN or zero
        return "-"
    return f"{a / b:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default="20,50")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, seconds, folder = args.child
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_cronwork(int(n), float(seconds), Path(tmp))))
        del folder
        return
    queue = f"cwbench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "cwbench.py").write_text(FLEET)
        worker = start_worker(folder, queue)
        try:
            report(args, folder, queue)
        finally:
            stop(worker)


def report(args: argparse.Namespace, folder: Path, queue: str) -> None:
    print(
        f"N no-op Celery tasks a second through Redis to one prefork worker (4 children), "
        f"{args.seconds:g}s measured after {WARMUP:g}s warm-up; lateness = task start on the "
        "worker minus slot; cpu = scheduler process CPU, share of one core; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = (
        "peer",
        "target/s",
        "runs/s",
        "min ms",
        "p50 ms",
        "p99 ms",
        "max ms",
        "cpu %",
        "recorded",
    )
    print("{:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}".format(*header))
    for n in [int(r) for r in args.rates.split(",")]:
        results = {
            "cronwork": spawn_cronwork(n, args.seconds, folder, queue),
            "celery beat": run_beat(n, args.seconds, folder, queue),
        }
        for peer, r in results.items():
            if not r:
                print(f"{peer:<12} {n:>8} failed")
                continue
            print(
                f"{peer:<12} {n:>8} {r['runs_per_s']:>8.0f} {r['min_ms']:>8.1f} "
                f"{r['p50_ms']:>8.1f} "
                f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {r['cpu'] * 100:>7.1f} "
                f"{r['recorded']:>9.0f}",
                flush=True,
            )
        cw, beat = results["cronwork"], results["celery beat"]
        if cw:
            print(
                f"{'':<12} {'':>8} cronwork's send_task calls, from the slot (below 0: sent "
                f"ahead, the slot as eta): p50 {cw['handover_p50_ms']:.2f} ms, "
                f"p99 {cw['handover_p99_ms']:.2f} ms"
            )
        if cw and beat:
            print(
                f"{'  ratio':<12} {n:>8} {_ratio(cw['runs_per_s'], beat['runs_per_s']):>8} "
                f"{'':>8} {_ratio(cw['p50_ms'], beat['p50_ms']):>8} "
                f"{_ratio(cw['p99_ms'], beat['p99_ms']):>8} "
                f"{_ratio(cw['max_ms'], beat['max_ms']):>8} {_ratio(cw['cpu'], beat['cpu']):>7}"
                "   (cronwork / beat)",
                flush=True,
            )


if __name__ == "__main__":
    main()
