"""field_copier: fast copies of frozen dataclasses that are the real thing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from cronwork.copiers import field_copier
from cronwork.jobs import make_job
from cronwork.runs import Run, RunStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_copy_is_a_frozen_run_equal_to_replace() -> None:
    run = Run(id="1", job_id="a", scheduled_for=T0, node="n", output="x")
    finish = field_copier(Run, "status", "finished_at")
    copy = finish(run, RunStatus.SUCCEEDED, T0)
    assert type(copy) is Run
    assert copy == run.replace(status=RunStatus.SUCCEEDED, finished_at=T0)
    assert hash(copy) == hash(run.replace(status=RunStatus.SUCCEEDED, finished_at=T0))
    assert run.status is RunStatus.SCHEDULED  # the source is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.id = "2"  # type: ignore[misc]


def test_jobs_copy_too() -> None:
    job = make_job("a", print, "every 1s", tz="UTC")
    advance = field_copier(type(job), "next_run_at")
    moved = advance(job, T0)
    assert type(moved) is type(job) and moved == job.replace(next_run_at=T0)


@dataclasses.dataclass(frozen=True, slots=True)
class _Base:
    a: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Derived(_Base):
    b: int = 0


def test_a_class_whose_layout_a_plain_class_cannot_share_is_copied_through_descriptors() -> None:
    copy = field_copier(_Derived, "b")(_Derived(1, 2), 5)
    assert type(copy) is _Derived and copy == _Derived(1, 5)


def test_an_unknown_field_is_named() -> None:
    with pytest.raises(TypeError, match="no field"):
        field_copier(Run, "nope")
