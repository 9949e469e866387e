"""The dependency graph: unknown ids, self-dependencies and cycles are named clearly."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwork.dependencies import check_new_job, dependents, find_cycle, upstream_of
from cronwork.errors import JobError, ScheduleError
from cronwork.jobs import Job, make_job
from cronwork.stores.memory import MemoryStore
from cronwork.targets import Target
from cronwork.timing import parse_schedule
from cronwork.timing.triggers import after, on_failure, on_finish, parse_trigger

NOOP = Target("call", "builtins:print")


def job(job_id: str, *depends: str, schedule: object = "every 1h") -> Job:
    return make_job(job_id, NOOP, schedule, tz="UTC", depends_on=list(depends))


def graph(*jobs: Job) -> dict[str, Job]:
    return {j.id: j for j in jobs}


def stored(*jobs: Job) -> MemoryStore:
    """A store holding ``jobs`` as they are, without checking their dependencies."""
    store = MemoryStore()
    for each in jobs:
        store.add_job(each)
    return store


def test_a_chain_is_valid() -> None:
    check_new_job(stored(job("extract"), job("transform", "extract")), job("load", "transform"))


def test_an_unknown_dependency_names_the_job_and_the_missing_id() -> None:
    with pytest.raises(JobError, match=r"job 'load' depends on unknown job 'trnsform'"):
        check_new_job(stored(job("extract")), job("load", "trnsform"))


def test_a_self_dependency_is_refused_when_the_job_is_built() -> None:
    with pytest.raises(JobError, match="cannot depend on itself"):
        job("a", "a")


def test_a_cycle_is_named_in_order() -> None:
    store = stored(job("b", "c"), job("c", "a"))
    with pytest.raises(JobError, match=r"dependency cycle: a -> b -> c -> a"):
        check_new_job(store, job("a", "b"))


def test_a_cycle_through_a_trigger_is_found() -> None:
    jobs = graph(job("a", "b"), job("b", schedule=after("a")))
    assert find_cycle(jobs) == ["a", "b", "a"]


def test_triggers_count_as_upstream() -> None:
    b = job("b", "x", schedule=after("a", "x"))
    assert upstream_of(b) == ("x", "a")


def test_dependents_lists_waiting_and_triggered_jobs() -> None:
    jobs = graph(job("a"), job("b", "a"), job("c", schedule=on_failure("a")), job("d"))
    assert dependents(jobs, "a") == ["b", "c"]
    assert dependents(jobs, "d") == []


def test_only_changed_jobs_are_checked_for_unknown_ids() -> None:
    store = stored(job("old", "gone"))
    check_new_job(store, job("new", "old"))
    with pytest.raises(JobError, match="unknown job 'gone'"):
        check_new_job(store, job("old", "gone"))


@pytest.mark.parametrize(
    ("text", "upstream", "on"),
    [
        ("after extract", ("extract",), "success"),
        ("after extract, load", ("extract", "load"), "success"),
        ("on_failure backup", ("backup",), "failure"),
        ("on_finish(backup)", ("backup",), "finish"),
        ("AFTER a,b,c", ("a", "b", "c"), "success"),
    ],
)
def test_trigger_texts_parse_and_round_trip(text: str, upstream: tuple[str, ...], on: str) -> None:
    schedule = parse_trigger(text)
    assert schedule is not None
    assert (schedule.upstream, schedule.on) == (upstream, on)
    assert parse_schedule(schedule.source, tz="UTC") == schedule
    assert schedule.is_triggered


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("after", 'expected "after job_a, job_b"'),
        ("after a, a", "listed twice"),
        ("after a b", "not a valid job id"),
    ],
)
def test_bad_trigger_texts_are_schedule_errors(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(text)


def test_describe_reads_like_english() -> None:
    assert after("extract").describe() == "After extract succeeds"
    assert after("a", "b").describe() == "After a and b succeed"
    assert on_finish("a", "b", "c").describe() == "After a, b and c finish"


@given(st.lists(st.integers(0, 7), min_size=8, max_size=8))
def test_find_cycle_agrees_with_a_reachability_check(parents: list[int]) -> None:
    # Job i depends on job parents[i]; a cycle exists iff following parents loops back.
    jobs = {
        f"j{i}": make_job(
            f"j{i}", NOOP, "every 1h", tz="UTC", depends_on=[] if p == i else [f"j{p}"]
        )
        for i, p in enumerate(parents)
    }
    has_cycle = False
    for start in range(8):
        seen, node = set(), start
        while node not in seen and parents[node] != node:
            seen.add(node)
            node = parents[node]
        if parents[node] != node and node in seen:
            has_cycle = True
    cycle = find_cycle(jobs)
    assert (cycle is not None) == has_cycle
    if cycle:
        assert cycle[0] == cycle[-1]
        for here, there in itertools.pairwise(cycle):
            assert there in upstream_of(jobs[here])
