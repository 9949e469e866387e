"""copiers: fast, typed copies of frozen dataclasses that are the real thing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from cronwork import copiers
from cronwork.copiers import field_copier
from cronwork.executors import Invocation, RunContext
from cronwork.jobs import Job, make_job
from cronwork.runs import Run, RunStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class _Finish(Protocol):
    def __call__(self, run: Run, /, *, status: RunStatus, finished_at: datetime) -> Run: ...


class _Advance(Protocol):
    def __call__(self, job: Job, /, *, next_run_at: datetime) -> Job: ...


class _SetB(Protocol):
    def __call__(self, src: _Derived, /, *, b: int) -> _Derived: ...


class _Nope(Protocol):
    def __call__(self, run: Run, /, *, nope: int) -> Run: ...


def test_a_copy_is_a_frozen_run_equal_to_replace() -> None:
    run = Run(id="1", job_id="a", scheduled_for=T0, node="n", output="x")
    finish: _Finish = field_copier(Run, _Finish)
    copy = finish(run, status=RunStatus.SUCCEEDED, finished_at=T0)
    assert type(copy) is Run
    assert copy == run.replace(status=RunStatus.SUCCEEDED, finished_at=T0)
    assert hash(copy) == hash(run.replace(status=RunStatus.SUCCEEDED, finished_at=T0))
    assert run.status is RunStatus.SCHEDULED  # the source is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.id = "2"  # type: ignore[misc]


def test_jobs_copy_too() -> None:
    job = make_job("a", print, "every 1s", tz="UTC")
    advance: _Advance = field_copier(type(job), _Advance)
    moved = advance(job, next_run_at=T0)
    assert type(moved) is type(job) and moved == job.replace(next_run_at=T0)


@dataclasses.dataclass(frozen=True, slots=True)
class _Base:
    a: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Derived(_Base):
    b: int = 0


def test_a_class_whose_layout_a_plain_class_cannot_share_is_copied_through_descriptors() -> None:
    set_b: _SetB = field_copier(_Derived, _SetB)
    copy = set_b(_Derived(1, 2), b=5)
    assert type(copy) is _Derived and copy == _Derived(1, 5)


def test_an_unknown_field_is_named() -> None:
    with pytest.raises(TypeError, match="no field"):
        field_copier(Run, _Nope)


def test_a_copier_takes_only_keywords_so_values_cannot_land_in_the_wrong_field() -> None:
    run = Run(id="1", job_id="a", scheduled_for=T0)
    with pytest.raises(TypeError):
        copiers.unstarted(run, RunStatus.FAILED, T0, "why")  # type: ignore[misc]


def test_the_run_copiers_equal_replace_with_the_same_fields() -> None:
    run = Run(id="1", job_id="a", scheduled_for=T0, node="n", output="x")
    later = T0 + timedelta(seconds=3)
    assert copiers.started(
        run, status=RunStatus.RUNNING, node="m", queued_at=T0, started_at=later, output="so far"
    ) == run.replace(
        status=RunStatus.RUNNING, node="m", queued_at=T0, started_at=later, output="so far"
    )
    assert copiers.finished(
        run,
        status=RunStatus.FAILED,
        node="m",
        queued_at=T0,
        started_at=T0,
        finished_at=later,
        exit_code=2,
        output="o",
        error="e",
    ) == run.replace(
        status=RunStatus.FAILED,
        node="m",
        queued_at=T0,
        started_at=T0,
        finished_at=later,
        exit_code=2,
        output="o",
        error="e",
    )
    assert copiers.unstarted(
        run, status=RunStatus.SKIPPED, finished_at=later, error="why"
    ) == run.replace(status=RunStatus.SKIPPED, finished_at=later, error="why")
    assert copiers.queued(run, queued_at=later) == run.replace(queued_at=later)
    assert copiers.with_id(run, id="9") == run.replace(id="9")
    assert copiers.with_lease(run, lease_until=later) == run.replace(lease_until=later)


def test_a_run_claimed_on_time_has_the_defaults_of_a_new_run() -> None:
    lease = T0 + timedelta(seconds=30)
    run = copiers.claimed_on_time(
        id="3", job_id="a", scheduled_for=T0, node="n", created_at=T0, lease_until=lease, due_at=T0
    )
    assert type(run) is Run
    assert run == Run(
        id="3", job_id="a", scheduled_for=T0, node="n", created_at=T0, lease_until=lease, due_at=T0
    )


def test_the_job_copiers_equal_replace() -> None:
    job = make_job("a", print, "every 1s", tz="UTC")
    assert copiers.advanced(job, next_run_at=T0) == job.replace(next_run_at=T0)
    assert copiers.job_state(job, paused=True, broken="b", next_run_at=None) == job.replace(
        paused=True, broken="b", next_run_at=None
    )


def test_a_context_and_invocation_are_built_with_their_defaults() -> None:
    context = copiers.new_context(
        job_id="a", run_id="1", scheduled_for=T0, attempt=2, deadline=None
    )
    assert context == RunContext("a", "1", T0, 2, None)
    assert not context.cancelled
    invocation = copiers.new_invocation(
        target=print,
        args=(1,),
        kwargs={"k": 2},
        context=context,
        timeout=5.0,
        on_timeout="warn",
        kill_grace=1.0,
        start_in=0.5,
    )
    assert invocation == Invocation(
        print,
        (1,),
        {"k": 2},
        context=context,
        timeout=5.0,
        on_timeout="warn",
        kill_grace=1.0,
        start_in=0.5,
    )


def test_a_run_built_from_all_its_fields_equals_the_constructed_run() -> None:
    fields = {
        f.name: getattr(Run(id="1", job_id="a", scheduled_for=T0), f.name)
        for f in dataclasses.fields(Run)
    }
    fields.update(status=RunStatus.SUCCEEDED, node="n", finished_at=T0, waited_for=("b",))
    built = copiers.run_of(**fields)
    assert type(built) is Run and built == Run(**fields)
