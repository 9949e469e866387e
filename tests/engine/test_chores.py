"""The engine's chores, read as a spec: each runs on the injected clock at its own interval,
and does its work on the store.

The engine is never started (see unitkit): the test calls ``maintain`` at chosen instants of
a fake clock and looks at what reached the store. `Shared` is a memory store that says it is
shared and counts the calls it gets, for the chores only a shared store needs.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from enginekit import START
from unitkit import LEASE, Harness, Shared, drive

from cronwork import after
from cronwork.engine.runstate import Active
from cronwork.engine.settings import BROKEN_CHECK_EVERY, PRUNE_EVERY, TRIGGERS_REFRESH_EVERY
from cronwork.events import EventType
from cronwork.jobs import make_job
from cronwork.runs import Run, RunStatus
from cronwork.stores import MemoryStore
from cronwork.targets import Target


def maintain_at(harness: Harness, offset: timedelta) -> None:
    """Do the chores due at START + ``offset`` (and run the tasks they start)."""
    harness.clock.set(START + offset)
    drive(harness.engine.chores.maintain(harness.clock.now()))
    harness.run_spawned()


def hold_a_run(harness: Harness) -> None:
    """Give the engine a run it holds (its lease must then be renewed)."""
    job = make_job("held", "os:getcwd", "* * * * *")
    run = Run(id="held-1", job_id="held", scheduled_for=START)
    harness.engine.admission.active[run.id] = Active(run, job, "n", START, START)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def test_leases_are_renewed_every_third_of_the_lease_while_the_engine_holds_runs() -> None:
    store = Shared()
    harness = Harness(store)
    hold_a_run(harness)
    renewals = []
    for offset in (0, 9, 10, 15, 19, 20):
        maintain_at(harness, seconds(offset))
        renewals.append(store.count("renew_leases"))
    assert renewals == [0, 0, 1, 1, 1, 2]
    assert store.arguments("renew_leases") == [
        ("n", START + seconds(10) + LEASE),
        ("n", START + seconds(20) + LEASE),
    ]


def test_no_lease_is_renewed_while_the_engine_holds_no_run() -> None:
    store = Shared()
    harness = Harness(store)
    maintain_at(harness, seconds(25))  # nothing held: the renewal moves on
    hold_a_run(harness)
    maintain_at(harness, seconds(34))
    assert store.count("renew_leases") == 0
    maintain_at(harness, seconds(35))
    assert store.count("renew_leases") == 1


def test_a_shared_store_is_checked_for_expired_leases_once_a_lease() -> None:
    store = Shared()
    harness = Harness(store)
    checks = []
    for offset in (0, 29, 30, 59, 60):
        maintain_at(harness, seconds(offset))
        checks.append(store.count("expire_leases"))
    assert checks == [0, 0, 1, 1, 2]


def test_a_store_that_is_not_shared_is_never_checked_for_expired_leases() -> None:
    harness = Harness(MemoryStore())
    checked: list[object] = []
    harness.engine.chores.expire = checked.append  # type: ignore[assignment,method-assign]
    for offset in (30, 60, 90):
        maintain_at(harness, seconds(offset))
    assert checked == []


def test_a_run_whose_lease_ran_out_ends_lost_and_is_retried_when_its_job_allows() -> None:
    store = Shared()
    harness = Harness(store)
    harness.add(make_job("j", "os:getcwd", "* * * * *", retries=1, retry_backoff="10s"))
    harness.new_run(
        harness.engine.jobs["j"],
        status=RunStatus.RUNNING,
        node="other",
        started_at=START,
        lease_until=START + seconds(20),
    )

    async def expire() -> None:
        engine = harness.engine
        del engine.spawn  # the engine's own: handle_lost waits for the retries it starts
        engine.loop = asyncio.get_running_loop()
        harness.clock.set(START + seconds(30))
        await engine.chores.maintain(harness.clock.now())

    asyncio.run(expire())
    first, second = sorted(store.inner.runs("j"), key=lambda run: run.attempt)
    assert (first.status, first.node) == (RunStatus.LOST, "other")
    assert (second.status, second.attempt) == (RunStatus.SCHEDULED, 2)
    assert [event.type for event in harness.events] == [EventType.RUN_LOST, EventType.RUN_RETRIED]


def test_cancel_requests_are_read_from_the_store_at_each_poll() -> None:
    store = Shared()
    harness = Harness(store, poll=seconds(1))
    harness.add(make_job("j", "os:getcwd", "* * * * *"))
    run = harness.new_run(
        harness.engine.jobs["j"], status=RunStatus.RUNNING, node="n", started_at=START
    )
    cancelled: list[str] = []
    harness.engine.cancel_requested = cancelled.append  # type: ignore[method-assign]
    store.inner.request_cancel(run.id, START)
    maintain_at(harness, seconds(0.5))
    assert (store.count("cancel_requests"), cancelled) == (0, [])
    maintain_at(harness, seconds(1))
    assert (store.count("cancel_requests"), cancelled) == (1, [run.id])
    maintain_at(harness, seconds(1.5))
    assert store.count("cancel_requests") == 1


def test_without_a_poll_interval_the_store_is_never_asked_for_cancel_requests() -> None:
    store = Shared()
    harness = Harness(store, poll=None)
    for offset in (0, 1, 60):
        maintain_at(harness, seconds(offset))
    assert store.count("cancel_requests") == 0


def test_cancels_asked_for_in_this_process_are_handled_at_the_next_turn() -> None:
    harness = Harness()
    cancelled: list[str] = []
    harness.engine.cancel_requested = cancelled.append  # type: ignore[method-assign]
    harness.engine.chores.cancel_ids.update({"7"})
    maintain_at(harness, seconds(0))
    maintain_at(harness, seconds(1))
    assert cancelled == ["7"]


def test_a_job_whose_target_does_not_resolve_is_set_aside_at_the_next_check() -> None:
    harness = Harness()
    harness.add(make_job("j", Target("task", "report"), "* * * * *"))
    maintain_at(harness, BROKEN_CHECK_EVERY - seconds(1))
    assert harness.store.get_job("j").broken is None
    maintain_at(harness, BROKEN_CHECK_EVERY)
    assert "report" in (harness.store.get_job("j").broken or "")
    assert [event.type for event in harness.events] == [EventType.JOB_BROKEN]


def test_a_set_aside_job_runs_again_once_its_target_resolves() -> None:
    harness = Harness()
    harness.add(make_job("j", Target("task", "report"), "0 * * * *"))
    maintain_at(harness, BROKEN_CHECK_EVERY)
    harness.settings.tasks.register("report", print)
    maintain_at(harness, 2 * BROKEN_CHECK_EVERY - seconds(1))
    assert harness.store.get_job("j").broken is not None
    maintain_at(harness, 2 * BROKEN_CHECK_EVERY)
    job = harness.store.get_job("j")
    assert (job.broken, job.next_run_at) == (None, START + timedelta(hours=1))
    assert [event.type for event in harness.events] == [
        EventType.JOB_BROKEN,
        EventType.JOB_MODIFIED,
    ]


def test_trigger_jobs_another_process_added_are_read_at_each_refresh() -> None:
    store = Shared()
    harness = Harness(store)
    store.inner.add_job(make_job("b", "os:getcwd", after("a")))  # as another process would
    maintain_at(harness, TRIGGERS_REFRESH_EVERY - seconds(1))
    assert harness.engine.waits.downstream == {}
    maintain_at(harness, TRIGGERS_REFRESH_EVERY)
    assert harness.engine.waits.downstream == {"a": ["b"]}


def test_a_store_that_is_not_shared_is_never_reread_for_trigger_jobs() -> None:
    harness = Harness(MemoryStore())
    harness.store.add_job(make_job("b", "os:getcwd", after("a")))
    maintain_at(harness, TRIGGERS_REFRESH_EVERY)
    assert harness.engine.waits.downstream == {}


@pytest.mark.parametrize("keep_runs", [1, 2])
def test_old_runs_are_pruned_every_few_minutes_keeping_the_last_per_job(keep_runs: int) -> None:
    harness = Harness(keep_runs=keep_runs)
    job = harness.add(make_job("j", "os:getcwd", "* * * * *"))

    def finished_runs(first: int) -> None:
        for minute in range(first, first + 3):
            slot = START + timedelta(minutes=minute)
            harness.new_run(job, scheduled_for=slot, status=RunStatus.SUCCEEDED, finished_at=slot)

    def kept() -> list[int]:
        return [
            int((run.scheduled_for - START) / timedelta(minutes=1))
            for run in harness.store.runs("j")
        ]

    finished_runs(0)
    maintain_at(harness, PRUNE_EVERY - seconds(1))
    assert kept() == [2, 1, 0]
    maintain_at(harness, PRUNE_EVERY)
    assert kept() == [2, 1][:keep_runs]
    finished_runs(3)
    maintain_at(harness, 2 * PRUNE_EVERY - seconds(1))
    assert len(kept()) == keep_runs + 3
    maintain_at(harness, 2 * PRUNE_EVERY)
    assert kept() == [5, 4][:keep_runs]
