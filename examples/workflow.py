"""A nightly file workflow built from job dependencies.

    prepare (02:00) -> write -> transform -> archive -+-> publish (fails, retried twice)
                                                      |        `-> notify (03:00, waits for
                                                      |            publish; ends skipped)
                                                      `-> cleanup (02:30, waits for archive)

``write``, ``transform``, ``archive`` and ``publish`` are triggered jobs (``after(...)``): they
run when their upstream job succeeds. ``cleanup`` and ``notify`` keep their own time and wait
for a fresh success of the job they depend on. ``publish`` fails because its outbox is missing,
which shows retries and a downstream job that is skipped with the reason in its record.

``python examples/workflow.py /tmp/wf`` plays one night on cronwork's fake clock (in about a
second) and prints every run; tests/engine/test_workflow_example.py checks the same records.
"""

from __future__ import annotations

import shutil
import tarfile
from datetime import datetime
from pathlib import Path
from typing import Any

from cronwork import Scheduler, after

JOB_IDS = ("prepare", "write", "transform", "archive", "cleanup", "publish", "notify")
WORK = "work"
ARCHIVE = "archive"
OUTBOX = "outbox"


def prepare(root: str) -> None:
    """Create a fresh working folder."""
    work = Path(root) / WORK
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)


def write(root: str, ctx: Any) -> None:
    """Write the raw report for this run's day."""
    day = ctx.scheduled_for.date().isoformat()
    lines = [f"report for {day}", "apples 3", "pears 5", "plums 2"]
    (Path(root) / WORK / "report.txt").write_text("\n".join(lines) + "\n")


def transform(root: str) -> None:
    """Read the report, upper-case it and add a total line."""
    path = Path(root) / WORK / "report.txt"
    lines = path.read_text().splitlines()
    total = sum(int(line.split()[1]) for line in lines[1:])
    path.write_text("\n".join([*(line.upper() for line in lines), f"TOTAL {total}"]) + "\n")


def archive(root: str, ctx: Any) -> None:
    """Pack the working folder into archive/report-<day>.tar.gz."""
    folder = Path(root) / ARCHIVE
    folder.mkdir(exist_ok=True)
    stamp = ctx.scheduled_for.strftime("%Y%m%d-%H%M%S")
    with tarfile.open(folder / f"report-{stamp}.tar.gz", "w:gz") as tar:
        tar.add(Path(root) / WORK, arcname="report")


def cleanup(root: str) -> None:
    """Remove the working folder once it is archived."""
    shutil.rmtree(Path(root) / WORK)


def publish(root: str) -> None:
    """Copy the newest archive to the outbox, which must exist (it does not: this fails)."""
    outbox = Path(root) / OUTBOX
    if not outbox.is_dir():
        raise FileNotFoundError(f"outbox {outbox} is missing; nothing was published")
    newest = max((Path(root) / ARCHIVE).glob("*.tar.gz"))
    shutil.copy2(newest, outbox)


def notify(root: str) -> None:
    """Leave a note that today's report went out."""
    (Path(root) / "NOTIFIED").write_text(datetime.now().isoformat())


def add_workflow(scheduler: Scheduler, root: str | Path, *, tz: str = "UTC") -> None:
    """Add the workflow's jobs to ``scheduler``."""
    kw = {"kwargs": {"root": str(root)}, "timezone": tz}
    scheduler.add_job("prepare", prepare, "every day at 02:00", **kw)
    scheduler.add_job("write", write, after("prepare"), **kw)
    scheduler.add_job("transform", transform, after("write"), **kw)
    scheduler.add_job("archive", archive, after("transform"), **kw)
    scheduler.add_job("cleanup", cleanup, "every day at 02:30", depends_on=["archive"], **kw)
    scheduler.add_job("publish", publish, after("archive"), retries=2, retry_backoff="1m", **kw)
    scheduler.add_job(
        "notify",
        notify,
        "every day at 03:00",
        depends_on=["publish"],
        dependency_timeout="15m",
        **kw,
    )


def main(root: str) -> None:
    """Play one night of the workflow on the fake clock and print every run record."""
    from datetime import UTC, timedelta

    from cronwork.testing import FakeClock

    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    with Scheduler(clock=clock, timezone="UTC") as scheduler:
        add_workflow(scheduler, root)
        clock.run_for_sync(timedelta(hours=3, minutes=20))
        runs = sorted(scheduler.runs(limit=100), key=lambda r: (r.created_at, r.id))
    for run in runs:
        started = run.started_at.strftime("%H:%M:%S") if run.started_at else "--:--:--"
        error = (run.error or "").splitlines()[-1:] or [""]
        print(f"{run.job_id:10} #{run.attempt} {run.status.value:10} {started}  {error[0]}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "workflow-demo")
