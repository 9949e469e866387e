"""The file workflow in examples/workflow.py, run for one night on the fake clock."""

from __future__ import annotations

import sys
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from enginekit import START

from cronwork import RunStatus, Scheduler
from cronwork.stores import Store
from cronwork.testing import FakeClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def workflow():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(EXAMPLES))
    try:
        import workflow

        yield workflow
    finally:
        sys.path.remove(str(EXAMPLES))


def at(hours: int, minutes: int = 0) -> object:
    return START + timedelta(hours=hours, minutes=minutes)


def test_one_night_of_the_workflow(
    workflow, tmp_path: Path, clock: FakeClock, store: Store
) -> None:  # type: ignore[no-untyped-def]
    with Scheduler(store, clock=clock, timezone="UTC") as scheduler:
        workflow.add_workflow(scheduler, tmp_path)
        clock.run_for_sync(timedelta(hours=3, minutes=20))
        runs = {job: scheduler.runs(job) for job in workflow.JOB_IDS}

    # The chain ran once, in order, each step triggered by the one before.
    for job in ("prepare", "write", "transform", "archive", "cleanup"):
        (run,) = runs[job]
        assert run.status is RunStatus.SUCCEEDED, (job, run.error)
    assert runs["prepare"][0].scheduled_for == at(2)
    for job in ("write", "transform", "archive", "publish"):
        assert {r.trigger for r in runs[job]} <= {"dependency", "retry"}
    order = [runs[j][0].started_at for j in ("prepare", "write", "transform", "archive")]
    assert order == sorted(order)

    # cleanup kept its own time and waited for nothing: archive had succeeded at 02:00.
    cleanup = runs["cleanup"][0]
    assert cleanup.started_at == at(2, 30)
    assert cleanup.waited_for == ("archive",)

    # publish failed, was retried twice with backoff, and gave up.
    publish = sorted(runs["publish"], key=lambda r: r.attempt)
    assert [(r.attempt, r.status) for r in publish] == [
        (1, RunStatus.FAILED),
        (2, RunStatus.FAILED),
        (3, RunStatus.FAILED),
    ]
    assert [r.trigger for r in publish] == ["dependency", "retry", "retry"]
    assert all("outbox" in (r.error or "") for r in publish)
    assert publish[1].started_at - publish[0].finished_at >= timedelta(minutes=1)  # type: ignore[operator]

    # notify waited 15 minutes for a publish success that never came, then was skipped.
    (notify,) = runs["notify"]
    assert notify.status is RunStatus.SKIPPED
    assert notify.scheduled_for == at(3)
    assert notify.queued_at == at(3)
    assert notify.finished_at == at(3, 15)
    assert notify.error == "skipped: dependency not met: publish (no successful run yet)"

    # And on disk: the archive holds the transformed report; the work folder is gone.
    (archive,) = (tmp_path / "archive").glob("report-*.tar.gz")
    with tarfile.open(archive) as tar:
        member = tar.extractfile("report/report.txt")
        assert member is not None
        text = member.read().decode()
    assert text.splitlines() == [
        "REPORT FOR 2026-01-01",
        "APPLES 3",
        "PEARS 5",
        "PLUMS 2",
        "TOTAL 10",
    ]
    assert not (tmp_path / "work").exists()
    assert not (tmp_path / "NOTIFIED").exists()
