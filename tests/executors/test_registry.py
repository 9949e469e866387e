"""The executor registry is the one list of executor names: what it registers is what job
validation accepts, what a job without an executor defaults to, and what the engine builds.
"""

from __future__ import annotations

import asyncio

import pytest

from cronwork.errors import JobError
from cronwork.executors.registry import (
    EXECUTOR_NAMES,
    FACTORIES,
    ExecutorNeeds,
    build_executor,
    default_executor_name,
)
from cronwork.jobs import make_job
from cronwork.targets import Command

NEEDS = ExecutorNeeds(node="host:1:abc", max_running=3)


def work() -> None:
    pass


async def awork() -> None:
    pass


@pytest.mark.parametrize("name", EXECUTOR_NAMES)
def test_each_registered_name_builds_the_executor_of_that_name(name: str) -> None:
    executor = build_executor(name, NEEDS)
    assert executor.name == name
    asyncio.run(executor.shutdown(wait=False))


def test_the_thread_executor_has_a_worker_more_than_max_running() -> None:
    assert build_executor("thread", NEEDS).max_workers == 4  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["process", "command"])
def test_executors_that_start_processes_tag_them_with_the_node(name: str) -> None:
    assert build_executor(name, NEEDS).node == "host:1:abc"  # type: ignore[attr-defined]


def test_an_unregistered_name_is_a_job_error_naming_it() -> None:
    with pytest.raises(JobError, match="unknown executor 'fast'"):
        build_executor("fast", NEEDS)


@pytest.mark.parametrize(
    ("target", "name"), [(work, "thread"), (awork, "async"), (Command("true"), "command")]
)
def test_a_job_without_an_executor_defaults_to_a_registered_one(target: object, name: str) -> None:
    assert default_executor_name(target) == name
    assert name in FACTORIES


def test_job_validation_accepts_exactly_the_registered_names() -> None:
    with pytest.raises(JobError) as caught:
        make_job("j", "os:getcwd", "every 1m", executor="fast")
    allowed = ", ".join(repr(name) for name in EXECUTOR_NAMES)
    assert str(caught.value).endswith(f"'fast' is not one of {allowed}")
