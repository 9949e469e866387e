"""Runs whose work begins after their start (`BeginsLater`), read as a spec.

A task sent to a worker fleet waits in a queue until a worker takes it. Until the execution
says the work has begun, the run's record is ``scheduled`` on its node, with the moment it
was handed over as ``queued_at`` and no start; from then on it is ``running``, started when
the work began (never before the moment it was to start), and the start is announced then.
A run that ends without beginning keeps no start. A whole engine runs on the fake clock over
the memory store; the executor's executions begin and end when the test says.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from enginekit import START, run_async
from unitkit import unit_settings

from cronwork.engine import Engine
from cronwork.events import EventType, Listeners
from cronwork.executors import Invocation, Outcome
from cronwork.jobs import make_job
from cronwork.runs import Run, RunStatus
from cronwork.stores import MemoryStore
from cronwork.testing import FakeClock

SLOT = START + timedelta(seconds=10)


class Execution:
    """A run whose work begins, and ends, when the test says."""

    def __init__(self) -> None:
        self.done: list[Callable[[Outcome], None]] = []
        self.begun: list[Callable[[float], None]] = []

    def add_done_callback(self, callback: Callable[[Outcome], None]) -> None:
        self.done.append(callback)

    def on_begun(self, callback: Callable[[float], None]) -> None:
        self.begun.append(callback)

    def cancel(self, reason: str = "cancelled") -> None:
        self.end(Outcome(RunStatus.CANCELLED, error=reason))

    def begin(self, seconds_ago: float) -> None:
        for callback in self.begun:
            callback(seconds_ago)

    def end(self, outcome: Outcome) -> None:
        for callback in self.done:
            callback(outcome)


class Fleet:
    """An executor whose runs wait for the test to begin them."""

    name = "process"

    def __init__(self) -> None:
        self.executions: list[Execution] = []

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> Execution:
        execution = Execution()
        self.executions.append(execution)
        return execution

    async def shutdown(self, wait: bool = True) -> None:
        pass


class World:
    """An engine with one job every 10 s on the fleet, and the start events it announced."""

    def __init__(self) -> None:
        self.clock, self.store, self.fleet = FakeClock(START), MemoryStore(), Fleet()
        self.started: list[Run] = []
        listeners = Listeners()
        listeners.add(EventType.RUN_STARTED.value, lambda event: self.started.append(event.run))
        job = make_job("j", "os:getcwd", "every 10s", executor="process")
        self.store.add_job(job.replace(next_run_at=SLOT))
        settings = unit_settings(
            self.store, self.clock, listeners=listeners, executors={"process": self.fleet}
        )
        self.engine = Engine(settings)

    def execution(self) -> Execution:
        """The one execution the fleet was handed."""
        [execution] = self.fleet.executions
        return execution

    async def run_for(self, seconds: float) -> Run:
        """Let ``seconds`` of fake time pass; the run of the first slot as stored then."""
        await self.clock.run_for(timedelta(seconds=seconds), wait_for_runs=False)
        [run] = [r for r in self.store.runs("j") if r.scheduled_for == SLOT]
        return run


@contextlib.asynccontextmanager
async def a_world() -> AsyncIterator[World]:
    """A World whose engine runs for the block."""
    world = World()
    await world.engine.start()
    try:
        yield world
    finally:
        await world.engine.stop(wait=False)


@run_async
async def test_a_run_is_scheduled_on_its_node_until_its_work_begins_then_running() -> None:
    async with a_world() as world:
        waiting = await world.run_for(12)
        assert (waiting.status, waiting.node) == (RunStatus.SCHEDULED, "n")
        assert (waiting.queued_at, waiting.started_at) == (SLOT, None)
        assert world.started == [], "announced as started before its work began"
        world.execution().begin(0.5)
        running = await world.run_for(1)
    assert running.status is RunStatus.RUNNING
    assert running.started_at == SLOT + timedelta(seconds=1.5)
    assert [run.started_at for run in world.started] == [running.started_at]


@run_async
async def test_its_start_is_never_recorded_before_the_moment_it_was_to_start() -> None:
    async with a_world() as world:
        await world.run_for(10)
        world.execution().begin(3600.0)
        running = await world.run_for(1)
    assert (running.status, running.started_at) == (RunStatus.RUNNING, SLOT)


@run_async
async def test_a_run_that_ends_before_its_work_began_keeps_no_start() -> None:
    async with a_world() as world:
        await world.run_for(10)
        execution = world.execution()
        execution.end(Outcome(RunStatus.TIMED_OUT, error="no worker started the task"))
        execution.begin(0.0)  # too late: the outcome is recorded already
        ended = await world.run_for(1)
    assert (ended.status, ended.started_at) == (RunStatus.TIMED_OUT, None)
    assert ended.error == "no worker started the task"
    assert world.started == []
