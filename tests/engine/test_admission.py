"""Admission, read as a spec: what a job's overlap policy does to a new run, how runs wait
for one of ``max_running`` places, and how a waiting run is cancelled.

Admission is synchronous, so these tests drive it directly, with no event loop: the
launcher's ``start`` is replaced by one that takes a place and records the run, and saved
records are collected instead of written.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from enginekit import START
from unitkit import unit_settings

from cronwork.engine import Engine
from cronwork.engine.admission import RUN, oldest, overlap_verdict
from cronwork.engine.runstate import Active
from cronwork.jobs import Job, make_job
from cronwork.runs import Run, RunStatus
from cronwork.stores import MemoryStore
from cronwork.testing import FakeClock

TARGET = "cronwork.testing:FakeClock"


def job(job_id: str = "j", overlap: str = "skip", max_instances: int = 1) -> Job:
    return make_job(job_id, TARGET, "* * * * *", overlap=overlap, max_instances=max_instances)


class Execution:
    """Stands for a started run's execution: remembers being asked to stop."""

    def __init__(self) -> None:
        self.cancelled: str | None = None

    def cancel(self, reason: str = "cancelled") -> None:
        self.cancelled = reason


class Harness:
    """An engine that is never started: admission decides, the harness records."""

    def __init__(self, max_running: int = 10) -> None:
        clock = FakeClock(START)
        self.engine = Engine(unit_settings(MemoryStore(), clock, max_running=max_running))
        self.admission = self.engine.admission
        self.started: list[str] = []
        self.saved: list[Run] = []
        self.engine.launcher.start = self._start  # type: ignore[method-assign]
        self.engine.save = self.saved.append  # type: ignore[assignment]
        self._ids = itertools.count(1)

    def _start(self, run: Run, job: Job, queued_at: Any = None) -> None:
        active = Active(run, job, "n", START, START)
        active.execution = Execution()  # type: ignore[assignment]
        self.admission.active[run.id] = active
        self.started.append(run.id)

    def due(self, job: Job, trigger: str = "schedule") -> str:
        """Make a run of ``job`` fall due now; return its id."""
        self.engine.jobs[job.id] = job
        run_id = str(next(self._ids))
        run = Run(id=run_id, job_id=job.id, scheduled_for=START, trigger=trigger)
        if trigger == "misfire":
            run = run.replace(created_at=START + timedelta(minutes=1))
        self.admission.arrive(run, START)
        return run_id

    def end(self, run_id: str) -> None:
        """The run ends: its place is freed."""
        self.admission.release(self.admission.active.pop(run_id))

    def outcome(self, run_id: str) -> tuple[RunStatus, str | None]:
        [record] = [r for r in self.saved if r.id == run_id]
        return record.status, record.error


@pytest.fixture
def harness() -> Harness:
    return Harness()


def test_overlap_skip_records_the_new_run_skipped_naming_the_running_one(
    harness: Harness,
) -> None:
    first = harness.due(job(overlap="skip"))
    second = harness.due(job(overlap="skip"))
    assert harness.started == [first]
    assert harness.outcome(second) == (
        RunStatus.SKIPPED,
        f"skipped: run {first} is still running (overlap=skip)",
    )


def test_overlap_queue_keeps_one_run_waiting_and_starts_it_when_the_running_one_ends(
    harness: Harness,
) -> None:
    first = harness.due(job(overlap="queue"))
    second = harness.due(job(overlap="queue"))
    third = harness.due(job(overlap="queue"))
    assert harness.started == [first]
    assert harness.outcome(third) == (
        RunStatus.SKIPPED,
        "skipped: a run is already waiting (overlap=queue)",
    )
    harness.end(first)
    assert harness.started == [first, second]


def test_overlap_allow_runs_up_to_max_instances_then_skips(harness: Harness) -> None:
    allowed = job(overlap="allow", max_instances=2)
    runs = [harness.due(allowed) for _ in range(3)]
    assert harness.started == runs[:2]
    assert harness.outcome(runs[2])[0] is RunStatus.SKIPPED


def test_overlap_replace_stops_the_running_run_and_starts_the_new_one(
    harness: Harness,
) -> None:
    first = harness.due(job(overlap="replace"))
    execution = harness.admission.active[first].execution
    second = harness.due(job(overlap="replace"))
    assert execution.cancelled == f"replaced by run {second} (overlap=replace)"  # type: ignore[union-attr]
    assert harness.started == [first, second]


def test_catch_up_runs_wait_for_the_running_run_instead_of_being_skipped(
    harness: Harness,
) -> None:
    first = harness.due(job(overlap="skip"))
    late = harness.due(job(overlap="skip"), trigger="misfire")
    assert harness.saved == []
    harness.end(first)
    assert harness.started == [first, late]


def test_runs_beyond_max_running_wait_for_a_place_in_due_order() -> None:
    harness = Harness(max_running=2)
    runs = [harness.due(job(f"j{n}")) for n in range(4)]
    assert harness.started == runs[:2]
    harness.end(runs[0])
    assert harness.started == runs[:3]
    harness.end(runs[1])
    assert harness.started == runs


def test_a_run_waiting_for_a_place_can_be_cancelled_and_never_starts() -> None:
    harness = Harness(max_running=1)
    first = harness.due(job("a"))
    waiting = harness.due(job("b"))
    harness.admission.cancel_local(waiting, "cancel requested")
    assert harness.outcome(waiting) == (RunStatus.CANCELLED, "cancel requested")
    harness.end(first)
    assert harness.started == [first]


def test_a_run_queued_behind_its_job_can_be_cancelled(harness: Harness) -> None:
    first = harness.due(job(overlap="queue"))
    queued = harness.due(job(overlap="queue"))
    harness.admission.cancel_local(queued, "cancel requested")
    assert harness.outcome(queued) == (RunStatus.CANCELLED, "cancel requested")
    harness.end(first)
    assert harness.started == [first]


# -- the verdict alone, as the manual trigger asks it ------------------------------------


def test_a_job_with_nothing_running_runs() -> None:
    assert overlap_verdict(job(overlap="skip"), []) is RUN


def test_the_verdict_names_the_oldest_running_run() -> None:
    verdict = overlap_verdict(job(overlap="skip"), {"10", "9"})
    assert verdict.skipped
    assert verdict.reason == "run 9 is still running (overlap=skip)"


def test_the_verdict_for_queue_and_replace_says_what_will_happen() -> None:
    queued = overlap_verdict(job(overlap="queue"), ["4"])
    assert (queued.action, queued.reason) == ("queue", "queued behind run 4 (overlap=queue)")
    replaced = overlap_verdict(job(overlap="replace"), ["7"])
    assert (replaced.action, replaced.reason) == (
        "replace",
        "replacing run 7, which is cancelled (overlap=replace)",
    )


def test_run_ids_are_ordered_by_number() -> None:
    assert oldest(["100", "99", "101"]) == "99"
