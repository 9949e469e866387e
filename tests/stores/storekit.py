"""Helpers the store tests share: fixed instants and quick job and run builders."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cronwork
from cronwork.jobs import Job, make_job
from cronwork.runs import Run
from cronwork.stores import Store
from cronwork.targets import make_target

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)

StoreFactory = Callable[[], Store]


def job(job_id: str = "job", schedule: str = "every 10s", **fields: Any) -> Job:
    """A valid job due at T0 unless ``next_run_at`` is given; fields override make_job's."""
    state = {k: fields.pop(k) for k in ("next_run_at", "broken", "created_at") if k in fields}
    target = fields.pop("target", "os.path:join")
    built = make_job(job_id, make_target(target), schedule, tz=fields.pop("tz", "UTC"), **fields)
    return built.replace(
        next_run_at=state.get("next_run_at", T0),
        broken=state.get("broken"),
        created_at=state.get("created_at", T0),
    )


def run(job_id: str = "job", slot: datetime = T0, **fields: Any) -> Run:
    """An unowned scheduled run of ``job_id`` at ``slot``, not yet stored."""
    return Run(id="", job_id=job_id, scheduled_for=slot, created_at=T0, **fields)


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


# -- scheduler processes ------------------------------------------------------------------

WORK_MODULE = textwrap.dedent(
    """
    import os, time

    def work(ctx, pause=0.0):
        # One short O_APPEND write per execution: the log of what really ran.
        line = f"{ctx.job_id} {ctx.scheduled_for.isoformat()} {ctx.attempt}\\n"
        fd = os.open(os.environ["CRASH_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, line.encode())
        os.close(fd)
        time.sleep(pause)
    """
)

WORKER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from cronwork import Scheduler

    path, node, lease = sys.argv[1:4]
    scheduler = Scheduler(
        store=f"sqlite:///{path}", node=node, lease=float(lease), max_running=300,
        keep_runs=None,
    )
    scheduler.start()
    print("started", flush=True)
    time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 3600)
    scheduler.close()
    print("stopped", flush=True)
    """
)


def _env(folder: Path) -> dict[str, str]:
    source = str(Path(cronwork.__file__).parent.parent)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([source, str(folder)]),
        "CRASH_LOG": str(folder / "executed.log"),
    }


def write_worker(folder: Path) -> None:
    """Write the job module (``crashwork:work``) and the worker script into ``folder``."""
    (folder / "crashwork.py").write_text(WORK_MODULE)
    (folder / "worker.py").write_text(WORKER_SCRIPT)


def worker_env(folder: Path) -> dict[str, str]:
    """Environment for a worker: cronwork and ``folder`` importable, the execution log set."""
    source = str(Path(cronwork.__file__).parent.parent)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([source, str(folder)]),
        "CRASH_LOG": str(folder / "executed.log"),
    }


def start_worker(
    folder: Path, path: Path, node: str, lease: float, *extra: str
) -> subprocess.Popen[str]:
    """Start a Scheduler process on the SQLite file ``path``; return once it runs."""
    # stderr goes to a file, not a pipe: a worker that logs thousands of lost runs at start
    # would otherwise fill the pipe and block before it says "started".
    errors = folder / f"{node}.stderr"
    with errors.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(folder / "worker.py"), str(path), node, str(lease), *extra],
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            env=worker_env(folder),
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "started":
        proc.kill()
        proc.wait()
        tail = errors.read_text()[-2000:]
        raise AssertionError(f"worker {node} did not start in 30s: {line!r} {tail}")
    return proc


def executed_log(folder: Path) -> list[tuple[str, ...]]:
    """(job id, slot, attempt) of every execution the workers logged."""
    log = folder / "executed.log"
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [tuple(line.split(" ")) for line in lines if line.count(" ") == 2]
