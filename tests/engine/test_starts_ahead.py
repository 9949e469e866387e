"""Executors that start ahead (`StartsAhead`), read as a spec.

An executor with a ``lead`` is handed each run that long before the run is due, told how
long it has left (`Invocation.start_in`), and makes the start itself at the due time. The
run's record says it started at its slot, its deadline counts from there, and runs of other
executors in the same engine are handed over at their slots as before. A whole engine runs on
the fake clock against the memory store; the executors are recorders that note the fake
instant of each hand-over.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from enginekit import START, run_async
from unitkit import unit_settings

from cronwork.engine import Engine
from cronwork.executors import Invocation, Outcome
from cronwork.jobs import Job, make_job
from cronwork.runs import RunStatus
from cronwork.stores import MemoryStore
from cronwork.testing import FakeClock

LEAD = 0.05


class Execution:
    """A run that goes on until it is cancelled."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[Outcome], None]] = []

    def add_done_callback(self, callback: Callable[[Outcome], None]) -> None:
        self.callbacks.append(callback)

    def cancel(self, reason: str = "cancelled") -> None:
        for callback in self.callbacks:
            callback(Outcome(RunStatus.CANCELLED, error=reason))


class Recorder:
    """An executor that notes each invocation with the fake instant it was handed over."""

    def __init__(self, name: str, clock: FakeClock) -> None:
        self.name = name
        self.clock = clock
        self.handed: list[tuple[Any, Invocation]] = []

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> Execution:
        self.handed.append((self.clock.now(), invocation))
        return Execution()

    async def shutdown(self, wait: bool = True) -> None:
        pass


class Leading(Recorder):
    """A recorder that starts ahead."""

    lead = LEAD


def add(store: MemoryStore, job_id: str, executor: str, **settings: Any) -> Job:
    """A job every 10 s on ``executor``, with its first slot 10 s after START."""
    job = make_job(job_id, "os:getcwd", "every 10s", executor=executor, **settings)
    return store.add_job(job.replace(next_run_at=START + timedelta(seconds=10)))


@contextlib.asynccontextmanager
async def running(clock: FakeClock, store: MemoryStore, *executors: Any) -> AsyncIterator[Engine]:
    """An engine over ``store`` with ``executors``, started, and stopped at the end."""
    engine = Engine(unit_settings(store, clock, executors={e.name: e for e in executors}))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop(wait=False)


async def run_for(seconds: float, clock: FakeClock, store: MemoryStore, *executors: Any) -> None:
    """Run an engine over ``store`` with ``executors`` for ``seconds`` of fake time."""
    async with running(clock, store, *executors):
        await clock.run_for(timedelta(seconds=seconds), wait_for_runs=False)


@run_async
async def test_a_run_is_handed_over_its_lead_before_its_slot_and_recorded_as_started_at_it() -> (
    None
):
    clock, store = FakeClock(START), MemoryStore()
    ahead = Leading("process", clock)
    add(store, "j", "process", timeout=30)
    await run_for(10, clock, store, ahead)
    slot = START + timedelta(seconds=10)
    [(handed_at, invocation)] = ahead.handed
    assert handed_at == slot - timedelta(seconds=LEAD)
    assert invocation.start_in == LEAD
    assert invocation.context.scheduled_for == slot
    # The deadline counts from the start the executor makes, not from the hand-over.
    assert invocation.context.deadline == slot + timedelta(seconds=30)
    [run] = store.runs("j")
    assert run.started_at == slot


@run_async
async def test_runs_of_executors_without_a_lead_are_handed_over_at_their_slots() -> None:
    clock, store = FakeClock(START), MemoryStore()
    ahead, plain = Leading("process", clock), Recorder("thread", clock)
    add(store, "early", "process")
    add(store, "on-time", "thread")
    await run_for(10, clock, store, ahead, plain)
    slot = START + timedelta(seconds=10)
    [(handed_at, invocation)] = plain.handed
    assert (handed_at, invocation.start_in) == (slot, 0.0)
    [run] = store.runs("on-time")
    assert run.started_at == slot
    assert [at for at, _ in ahead.handed] == [slot - timedelta(seconds=LEAD)]


@run_async
async def test_a_run_handed_over_after_its_slot_starts_at_once() -> None:
    clock, store = FakeClock(START), MemoryStore()
    ahead = Leading("process", clock)
    add(store, "j", "process")
    # The engine starts 3 s past the slot (misfire grace lets the run go).
    clock.advance(timedelta(seconds=13))
    await run_for(1, clock, store, ahead)
    [(handed_at, invocation)] = ahead.handed[:1]
    assert invocation.context.scheduled_for == START + timedelta(seconds=10)
    assert invocation.start_in == 0.0
    [run] = [r for r in store.runs("j") if r.scheduled_for == START + timedelta(seconds=10)]
    assert run.started_at == handed_at


@run_async
async def test_a_job_moved_off_the_leading_executor_is_handed_over_at_its_slot_again() -> None:
    clock, store = FakeClock(START), MemoryStore()
    ahead, plain = Leading("process", clock), Recorder("thread", clock)
    job = add(store, "j", "process", overlap="allow", max_instances=2)
    async with running(clock, store, ahead, plain) as engine:
        await clock.run_for(timedelta(seconds=10), wait_for_runs=False)
        store.update_job(job.replace(executor="thread"))
        engine.job_changed("j", store.get_job("j"))
        await clock.run_for(timedelta(seconds=10), wait_for_runs=False)
    assert [at for at, _ in ahead.handed] == [START + timedelta(seconds=10 - LEAD)]
    assert [(at, inv.start_in) for at, inv in plain.handed] == [
        (START + timedelta(seconds=20), 0.0)
    ]
