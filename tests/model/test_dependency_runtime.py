"""What the engine asks the store about dependencies: freshness, fan-in, deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cronwork.dependencies import check_new_job, check_removal
from cronwork.engine.waits import dependency_deadline, triggered_run, unmet_dependencies
from cronwork.errors import JobError
from cronwork.jobs import Job, make_job
from cronwork.runs import Run, RunStatus
from cronwork.stores.memory import MemoryStore
from cronwork.targets import Target
from cronwork.timing.triggers import after, on_failure, on_finish

NOOP = Target("call", "builtins:print")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def add(store: MemoryStore, job_id: str, schedule: object = "every 1h", **kw: object) -> Job:
    job = make_job(job_id, NOOP, schedule, tz="UTC", **kw).replace(created_at=T0)  # type: ignore[arg-type]
    return store.add_job(job)


def finished(store: MemoryStore, job_id: str, slot: float, end: float, status: RunStatus) -> Run:
    run = store.add_run(
        Run(id="", job_id=job_id, scheduled_for=at(slot), status=status, finished_at=at(end))
    )
    assert run is not None
    return run


def slot(job_id: str, minutes: float) -> Run:
    return Run(id="", job_id=job_id, scheduled_for=at(minutes))


def test_a_dependency_without_any_success_is_unmet() -> None:
    store = MemoryStore()
    add(store, "extract")
    load = add(store, "load", depends_on=["extract"])
    assert unmet_dependencies(store, load, slot("load", 60)) == ["extract"]
    finished(store, "extract", 0, 5, RunStatus.FAILED)
    assert unmet_dependencies(store, load, slot("load", 60)) == ["extract"]


def test_a_success_after_the_previous_slot_is_fresh() -> None:
    store = MemoryStore()
    add(store, "extract")
    load = add(store, "load", depends_on=["extract"])
    finished(store, "load", 0, 1, RunStatus.SUCCEEDED)  # load's previous slot: minute 0
    finished(store, "extract", 55, 58, RunStatus.SUCCEEDED)
    assert unmet_dependencies(store, load, slot("load", 60)) == []


def test_a_success_before_the_previous_slot_is_stale() -> None:
    store = MemoryStore()
    add(store, "extract")
    load = add(store, "load", depends_on=["extract"])
    finished(store, "extract", 0, 0.5, RunStatus.SUCCEEDED)
    finished(store, "load", 1, 2, RunStatus.SUCCEEDED)
    assert unmet_dependencies(store, load, slot("load", 61)) == ["extract"]


def test_the_first_run_counts_successes_since_the_job_was_created() -> None:
    store = MemoryStore()
    add(store, "extract")
    load = add(store, "load", depends_on=["extract"])
    finished(store, "extract", 10, 12, RunStatus.SUCCEEDED)
    assert unmet_dependencies(store, load, slot("load", 60)) == []


def test_every_dependency_must_be_fresh() -> None:
    store = MemoryStore()
    add(store, "a")
    add(store, "b")
    c = add(store, "c", depends_on=["a", "b"])
    finished(store, "a", 1, 2, RunStatus.SUCCEEDED)
    assert unmet_dependencies(store, c, slot("c", 60)) == ["b"]


def test_the_wait_is_bounded_by_the_timeout_or_the_next_slot() -> None:
    store = MemoryStore()
    add(store, "a")
    hourly = add(store, "h", "every 1h", depends_on=["a"])
    timed = add(store, "t", "every 1h", depends_on=["a"], dependency_timeout="10m")
    assert dependency_deadline(hourly, slot("h", 60), at(60)) == at(120)
    assert dependency_deadline(timed, slot("t", 60), at(61)) == at(71)


def test_a_trigger_fires_once_per_upstream_success() -> None:
    store = MemoryStore()
    add(store, "extract")
    load = add(store, "load", after("extract"))
    assert triggered_run(store, load, at(5)) is None
    finished(store, "extract", 0, 3, RunStatus.SUCCEEDED)
    run = triggered_run(store, load, at(5))
    assert run is not None and run.scheduled_for == at(3) and run.trigger == "dependency"
    store.add_run(run)
    assert triggered_run(store, load, at(6)) is None  # already fired for that success


def test_fan_in_waits_for_all_upstream_jobs() -> None:
    store = MemoryStore()
    add(store, "a")
    add(store, "b")
    both = add(store, "both", after("a", "b"))
    finished(store, "a", 0, 2, RunStatus.SUCCEEDED)
    assert triggered_run(store, both, at(3)) is None
    finished(store, "b", 0, 4, RunStatus.SUCCEEDED)
    run = triggered_run(store, both, at(5))
    assert run is not None and run.scheduled_for == at(4)


@pytest.mark.parametrize(
    ("status", "fires_on_failure", "fires_on_finish"),
    [
        (RunStatus.SUCCEEDED, False, True),
        (RunStatus.FAILED, True, True),
        (RunStatus.TIMED_OUT, True, True),
        (RunStatus.LOST, True, True),
        (RunStatus.CANCELLED, False, True),
    ],
)
def test_failure_and_finish_triggers_follow_the_outcome(
    status: RunStatus, fires_on_failure: bool, fires_on_finish: bool
) -> None:
    store = MemoryStore()
    add(store, "a")
    alarm = add(store, "alarm", on_failure("a"))
    report = add(store, "report", on_finish("a"))
    finished(store, "a", 0, 1, status)
    assert (triggered_run(store, alarm, at(2)) is not None) is fires_on_failure
    assert (triggered_run(store, report, at(2)) is not None) is fires_on_finish


def test_a_paused_trigger_job_does_not_fire() -> None:
    store = MemoryStore()
    add(store, "a")
    b = add(store, "b", after("a")).replace(paused=True)
    finished(store, "a", 0, 1, RunStatus.SUCCEEDED)
    assert triggered_run(store, b, at(2)) is None


def test_new_jobs_are_checked_against_the_store() -> None:
    store = MemoryStore()
    add(store, "a", depends_on=[])
    add(store, "b", depends_on=["a"])
    with pytest.raises(JobError, match="depends on unknown job 'nope'"):
        check_new_job(store, make_job("c", NOOP, "every 1h", depends_on=["nope"]))
    # a now depending on b closes the loop a -> b -> a
    with pytest.raises(JobError, match="dependency cycle: a -> b -> a"):
        check_new_job(store, make_job("a", NOOP, "every 1h", depends_on=["b"]))
    assert check_removal(store, "a") == ["b"]
    assert check_removal(store, "b") == []
