"""Dependency waits and trigger jobs, read as a spec.

A run of a job with ``depends_on`` waits until each upstream job has a success newer than
the job's previous slot, or gives up at its deadline and ends skipped; a trigger job gets a
run once its upstream jobs have ended as it asks. The engine is never started (see
unitkit): the test moves a fake clock and runs the engine tasks the waits start.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from enginekit import START
from unitkit import Harness

from cronwork import after
from cronwork.engine.runstate import Active
from cronwork.engine.waits import (
    DEFAULT_WAIT,
    MAX_WAIT,
    MIN_WAIT,
    dependency_deadline,
    missing_message,
    stale_dependencies,
    triggered_run,
)
from cronwork.jobs import Job, make_job
from cronwork.runs import Run, RunStatus
from cronwork.stores import MemoryStore
from cronwork.timing.triggers import on_failure, on_finish

MINUTE = timedelta(minutes=1)


def job(job_id: str, schedule: object = "0 * * * *", **settings: Any) -> Job:
    """A job created at START."""
    return make_job(job_id, "os:getcwd", schedule, **settings).replace(created_at=START)


def ended(
    store: MemoryStore, job_id: str, at: datetime, status: RunStatus = RunStatus.SUCCEEDED
) -> None:
    """Record a run of ``job_id`` that ended with ``status`` at ``at``."""
    run = Run(
        id="",
        job_id=job_id,
        scheduled_for=at - MINUTE,
        status=status,
        started_at=at - MINUTE,
        finished_at=at,
    )
    assert store.add_run(run) is not None


class Waits(Harness):
    """A harness whose launcher only records the runs it is asked to start."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.started: list[str] = []
        self.engine.launcher.start = self._start  # type: ignore[method-assign]
        self.waits = self.engine.waits

    def _start(self, run: Run, job: Job, queued_at: Any = None) -> None:
        self.engine.admission.active[run.id] = Active(run, job, "n", START, START)
        self.started.append(run.id)

    def due(self, job: Job) -> Run:
        """A run of ``job`` falls due now."""
        run = self.new_run(job, status=RunStatus.SCHEDULED)
        self.engine.admission.arrive(run, self.clock.now())
        return run

    def check_at(self, moment: datetime) -> None:
        """Move the clock to ``moment`` and check the waiting runs there."""
        self.clock.set(moment)
        self.waits.check_dependencies_soon()
        self.run_spawned()


@pytest.fixture
def harness() -> Waits:
    h = Waits()
    h.add(job("extract", "every 1m"))
    return h


def test_a_run_waits_until_its_dependency_has_a_success_after_the_previous_slot(
    harness: Waits,
) -> None:
    load = harness.add(job("load", depends_on=["extract"]))
    run = harness.due(load)
    harness.run_spawned()
    assert harness.started == []
    assert list(harness.waits.waiting) == [run.id]
    assert harness.waits.waiting[run.id].run.waited_for == ("extract",)
    ended(harness.store, "extract", START + 5 * MINUTE)
    harness.check_at(START + 5 * MINUTE)
    assert harness.started == [run.id]
    assert harness.waits.waiting == {}


def test_a_success_older_than_the_previous_slot_does_not_count(harness: Waits) -> None:
    load = harness.add(job("load", depends_on=["extract"]))
    ended(harness.store, "extract", START + 10 * MINUTE)
    harness.new_run(load, scheduled_for=START + 30 * MINUTE, status=RunStatus.SUCCEEDED)
    harness.clock.set(START + 90 * MINUTE)
    harness.due(load)
    harness.run_spawned()
    assert harness.started == []
    ended(harness.store, "extract", START + 91 * MINUTE)
    harness.check_at(START + 91 * MINUTE)
    assert len(harness.started) == 1


def test_a_run_gives_up_at_its_deadline_and_ends_skipped_naming_what_it_waited_for(
    harness: Waits,
) -> None:
    load = harness.add(job("load", depends_on=["extract"]))
    run = harness.due(load)
    deadline = harness.waits.waiting[run.id].deadline
    assert deadline == START + timedelta(hours=1)  # until the job's next slot
    assert harness.waits.dependency_wake() == deadline
    harness.check_at(deadline - timedelta(seconds=1))
    assert run.id in harness.waits.waiting
    harness.check_at(deadline)
    assert harness.waits.waiting == {}
    assert harness.started == []
    skipped = harness.outcome(run.id)
    assert skipped.status is RunStatus.SKIPPED
    assert skipped.error == "skipped: dependency not met: extract (no successful run yet)"
    assert harness.spawned == []  # no retries: nothing more to do


def test_a_run_that_gave_up_is_retried_when_its_job_has_retries_left(harness: Waits) -> None:
    load = harness.add(job("load", depends_on=["extract"], retries=1, retry_backoff="5m"))
    run = harness.due(load)
    harness.check_at(START + timedelta(hours=1))  # and runs the retry it starts
    assert harness.outcome(run.id).status is RunStatus.SKIPPED
    [retry] = [r for r in harness.store.runs("load") if r.attempt == 2]
    assert (retry.attempt, retry.scheduled_for) == (2, run.scheduled_for)
    # The backoff (5 minutes, and up to a quarter more of jitter) counts from the give-up.
    gave_up = START + timedelta(hours=1)
    assert retry.due_at is not None
    assert gave_up + timedelta(minutes=5) <= retry.due_at <= gave_up + timedelta(minutes=6.25)


def test_a_store_error_during_the_check_fails_only_that_run(harness: Waits) -> None:
    load = harness.add(job("load", depends_on=["extract"]))
    other = harness.add(job("other", depends_on=["extract"]))
    broken, fine = harness.due(load), harness.due(other)
    ended(harness.store, "extract", START + MINUTE)
    real_runs = harness.store.runs

    def runs(job_id: str, *args: Any, **kwargs: Any) -> list[Run]:
        if job_id == "load":
            raise OSError("disk gone")
        return real_runs(job_id, *args, **kwargs)

    harness.store.runs = runs
    harness.check_at(START + MINUTE)
    assert harness.started == [fine.id]
    failed = harness.outcome(broken.id)
    assert failed.status is RunStatus.FAILED
    assert "disk gone" in (failed.error or "")


@pytest.mark.parametrize(
    ("schedule", "settings", "wait"),
    [
        ("0 * * * *", {"dependency_timeout": "10m"}, timedelta(minutes=10)),
        ("0 * * * *", {}, timedelta(hours=1)),
        ("every 10s", {}, MIN_WAIT),
        ("0 0 * * 1", {}, MAX_WAIT),
        (START, {}, DEFAULT_WAIT),
    ],
    ids=["timeout", "next-slot", "at-least", "at-most", "one-shot"],
)
def test_the_deadline_of_a_wait(schedule: object, settings: Any, wait: timedelta) -> None:
    waiting = job("load", schedule, depends_on=["extract"], **settings)
    run = Run(id="1", job_id="load", scheduled_for=START)
    since = START + MINUTE
    assert dependency_deadline(waiting, run, since) == since + wait


def test_the_skip_message_gives_the_last_success_and_the_previous_slot() -> None:
    store = MemoryStore()
    load = job("load", depends_on=["extract", "clean"])
    store.add_job(load)
    earlier = START + 30 * MINUTE
    store.add_run(Run(id="", job_id="load", scheduled_for=earlier))
    ended(store, "extract", START + 10 * MINUTE)
    run = Run(id="9", job_id="load", scheduled_for=START + 90 * MINUTE)
    since, stale = stale_dependencies(store, load, run)
    assert since == earlier
    assert missing_message(since, stale) == (
        "skipped: dependency not met: extract (last success 2026-01-01T00:10:00+00:00, "
        "not after the previous slot 2026-01-01T00:30:00+00:00), clean (no successful run yet)"
    )


def test_a_trigger_job_runs_once_every_upstream_job_succeeded_at_the_last_finish() -> None:
    store = MemoryStore()
    report = job("report", after("extract", "clean"))
    assert triggered_run(store, report, START + MINUTE) is None
    ended(store, "extract", START + MINUTE)
    assert triggered_run(store, report, START + MINUTE) is None  # clean has not run
    ended(store, "clean", START + 3 * MINUTE)
    run = triggered_run(store, report, START + 4 * MINUTE)
    assert run is not None
    assert (run.scheduled_for, run.due_at, run.trigger) == (
        START + 3 * MINUTE,
        START + 4 * MINUTE,
        "dependency",
    )


@pytest.mark.parametrize(
    ("schedule", "fires"),
    [
        (after("extract"), [RunStatus.SUCCEEDED]),
        (on_failure("extract"), [RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST]),
        (
            on_finish("extract"),
            [
                RunStatus.SUCCEEDED,
                RunStatus.FAILED,
                RunStatus.TIMED_OUT,
                RunStatus.CANCELLED,
                RunStatus.LOST,
            ],
        ),
    ],
    ids=["after", "on_failure", "on_finish"],
)
def test_which_outcomes_fire_a_trigger(schedule: object, fires: list[RunStatus]) -> None:
    fired = []
    for status in RunStatus:
        if not status.finished:
            continue
        store = MemoryStore()
        ended(store, "extract", START + MINUTE, status)
        if triggered_run(store, job("report", schedule), START + MINUTE) is not None:
            fired.append(status)
    assert fired == fires


def test_a_trigger_job_fires_once_for_the_same_completions(harness: Waits) -> None:
    harness.add(job("report", after("extract")))
    harness.waits.downstream = harness.waits.load_triggers()
    assert harness.waits.downstream == {"extract": ["report"]}
    ended(harness.store, "extract", START + MINUTE)
    for _ in range(2):
        harness.waits.fire_triggers_soon("extract")
        harness.run_spawned()
    [run] = harness.store.runs("report")
    assert (run.scheduled_for, run.trigger) == (START + MINUTE, "dependency")


def test_a_paused_trigger_job_does_not_fire(harness: Waits) -> None:
    harness.add(job("report", after("extract"), paused=True))
    harness.waits.downstream = harness.waits.load_triggers()
    ended(harness.store, "extract", START + MINUTE)
    harness.waits.fire_triggers_soon("extract")
    harness.run_spawned()
    assert harness.store.runs("report") == []


def test_the_trigger_index_follows_jobs_added_changed_and_removed(harness: Waits) -> None:
    waits = harness.waits
    waits.job_changed("report", job("report", after("extract", "clean")))
    assert waits.downstream == {"extract": ["report"], "clean": ["report"]}
    waits.job_changed("report", job("report", after("clean")))
    assert waits.downstream == {"extract": [], "clean": ["report"]}
    waits.job_changed("report", None)
    assert waits.downstream == {"extract": [], "clean": []}
