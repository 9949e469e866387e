"""The writer, read as a spec: run records are written behind, in batches; a run that starts
and ends between two flushes is one record; a batch the store refuses costs only the records
it cannot take.

The writer is built alone, on a loop that only records what it is asked to schedule
(`Loop`), so each test decides when a flush happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import pytest
from enginekit import START
from unitkit import drive

from cronwork.engine.runstate import Active
from cronwork.engine.settings import FLUSH_DELAY, INLINE_FLUSH_DELAY
from cronwork.engine.writer import Writer
from cronwork.executors import Outcome
from cronwork.jobs import Job, make_job
from cronwork.runs import Run, RunStatus
from cronwork.stores import MemoryStore


class Task:
    """A task the `Loop` holds until the test runs it."""

    def __init__(self, coro: Coroutine[Any, Any, None]) -> None:
        self.coro = coro
        self.finished = False
        self.callbacks: list[Callable[[Task], object]] = []

    def done(self) -> bool:
        return self.finished

    def add_done_callback(self, callback: Callable[[Task], object]) -> None:
        self.callbacks.append(callback)

    def step(self) -> None:
        """Run the task until it waits (see `Pause`) or ends."""
        try:
            self.coro.send(None)
        except StopIteration:
            self.finished = True
            for callback in self.callbacks:
                callback(self)


class Pause:
    """Suspends a coroutine once, the way a wait for the store thread does."""

    def __await__(self) -> Any:
        yield


class Loop:
    """Records the callbacks and tasks the writer schedules; `run_timers` runs them."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.tasks: list[Task] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.timers.append((0.0, callback))

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        self.timers.append((delay, callback))

    def create_task(self, coro: Coroutine[Any, Any, None]) -> Task:
        task = Task(coro)
        self.tasks.append(task)
        return task

    def delays(self) -> list[float]:
        return [delay for delay, _ in self.timers]

    def run_timers(self) -> None:
        timers, self.timers = self.timers, []
        for _, callback in timers:
            callback()


class Store(MemoryStore):
    """A memory store that keeps each batch it is given, and refuses runs with ``bad`` output."""

    def __init__(self, *, shared: bool = False, refuse_all: bool = False) -> None:
        super().__init__()
        self.shared = shared  # type: ignore[misc]
        self.refuse_all = refuse_all
        self.batches: list[list[str]] = []

    def save_runs(self, runs: Sequence[Run]) -> None:
        self.batches.append([run.id for run in runs])
        if self.refuse_all or any(run.output == "bad" for run in runs):
            raise ValueError("cannot store that")
        super().save_runs(runs)


JOB = make_job("j", "os:getcwd", "* * * * *")


def added(store: MemoryStore, job: Job = JOB, count: int = 1) -> list[Run]:
    """``count`` scheduled runs of ``job`` in ``store``."""
    runs = []
    for minute in range(count):
        slot = START.replace(minute=minute)
        run = store.add_run(Run(id="", job_id=job.id, scheduled_for=slot))
        assert run is not None
        runs.append(run)
    return runs


def finished(run: Run, output: str | None = None) -> Run:
    return run.replace(
        status=RunStatus.SUCCEEDED, started_at=START, finished_at=START, output=output
    )


class Harness:
    def __init__(self, store: Store, *, real_time: bool = False) -> None:
        self.store = store
        self.loop = Loop()
        self.pokes = 0
        self.off_loop_calls: list[str] = []
        self.store_thread_busy = False  # whether a call to the store thread takes a while
        self.writer = Writer(store, real_time=real_time, off_loop=self._off_loop, poke=self._poke)
        self.writer.loop = self.loop  # type: ignore[assignment]

    async def _off_loop(self, func: Callable[..., Any], *args: Any) -> Any:
        self.off_loop_calls.append(func.__name__)
        if self.store_thread_busy:
            await Pause()
        return func(*args)

    def _poke(self) -> None:
        self.pokes += 1


def test_runs_saved_between_two_flushes_are_written_in_one_batch() -> None:
    harness = Harness(Store())
    runs = added(harness.store, count=3)
    for run in runs:
        harness.writer.save(finished(run))
    assert harness.loop.delays() == [0.0]  # one flush scheduled, at once on a test clock
    assert harness.store.batches == []
    assert harness.writer.busy()
    harness.loop.run_timers()
    assert harness.store.batches == [[run.id for run in runs]]
    assert [r.status for r in harness.store.runs("j")] == [RunStatus.SUCCEEDED] * 3
    assert not harness.writer.busy()
    assert harness.pokes == 1


def test_a_run_that_starts_and_ends_before_the_flush_is_written_once_finished() -> None:
    harness = Harness(Store())
    [run] = added(harness.store)
    active = Active(run, JOB, "n", START, START)
    harness.writer.save(active)  # started
    active.outcome = Outcome(RunStatus.FAILED, error="boom")
    active.finished_at = START
    harness.writer.save(active)  # ended
    harness.loop.run_timers()
    assert harness.store.batches == [[run.id]]
    stored = harness.store.get_run(run.id)
    assert (stored.status, stored.error, stored.node) == (RunStatus.FAILED, "boom", "n")


def test_a_run_still_running_at_the_flush_is_written_running_then_finished() -> None:
    harness = Harness(Store())
    [run] = added(harness.store)
    active = Active(run, JOB, "n", START, START)
    harness.writer.save(active)
    harness.loop.run_timers()
    assert harness.store.get_run(run.id).status is RunStatus.RUNNING
    active.outcome = Outcome(RunStatus.SUCCEEDED)
    active.finished_at = START
    harness.writer.save(active)
    harness.loop.run_timers()
    assert harness.store.batches == [[run.id], [run.id]]
    assert harness.store.get_run(run.id).status is RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("shared", "delay"),
    [(False, INLINE_FLUSH_DELAY), (True, FLUSH_DELAY)],
    ids=["inline", "shared"],
)
def test_on_a_real_clock_a_flush_waits_a_few_milliseconds_for_more_records(
    shared: bool, delay: float
) -> None:
    harness = Harness(Store(shared=shared), real_time=True)
    for run in added(harness.store, count=2):
        harness.writer.save(run)
    assert harness.loop.delays() == [delay]


def test_a_shared_store_is_written_on_the_store_thread_one_flush_at_a_time() -> None:
    harness = Harness(Store(shared=True))
    harness.store_thread_busy = True
    first, second = added(harness.store, count=2)
    harness.writer.save(finished(first))
    harness.loop.run_timers()
    [writing] = harness.loop.tasks
    writing.step()  # the first flush took its batch and waits for the store thread
    harness.writer.save(finished(second))
    harness.loop.run_timers()  # the second flush waits for the first to end
    assert len(harness.loop.tasks) == 1
    assert harness.writer.busy()
    writing.step()
    assert harness.store.batches == [[first.id]]
    [_, following] = harness.loop.tasks
    following.step()
    following.step()
    assert harness.store.batches == [[first.id], [second.id]]
    assert not harness.writer.busy()
    assert harness.off_loop_calls == ["_write", "_write"]


def test_write_now_writes_what_waits_at_once() -> None:
    harness = Harness(Store(shared=True))
    runs = added(harness.store, count=2)
    for run in runs:
        harness.writer.save(finished(run))
    drive(harness.writer.write_now())
    assert harness.store.batches == [[run.id for run in runs]]
    assert not harness.writer.dirty
    drive(harness.writer.write_now())  # nothing waits: nothing is written
    assert len(harness.store.batches) == 1


def test_a_refused_record_costs_only_its_own_run_which_is_recorded_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness(Store())
    good, bad, other = added(harness.store, count=3)
    for run, output in ((good, "ok"), (bad, "bad"), (other, "ok")):
        harness.writer.save(finished(run, output))
    harness.loop.run_timers()
    # The batch, then each record alone, then the refused one again as a failure.
    assert harness.store.batches == [
        [good.id, bad.id, other.id],
        [good.id],
        [bad.id],
        [other.id],
        [bad.id],
    ]
    assert harness.store.get_run(good.id).status is RunStatus.SUCCEEDED
    assert harness.store.get_run(other.id).status is RunStatus.SUCCEEDED
    failed = harness.store.get_run(bad.id)
    assert failed.status is RunStatus.FAILED
    assert failed.output is None
    assert failed.error is not None
    assert failed.error.startswith(
        "the engine could not record this run (succeeded): ValueError: cannot store that"
    )
    assert f"could not record run {bad.id} of job j" in caplog.text


def test_a_refused_record_of_an_unfinished_run_waits_for_its_final_record() -> None:
    harness = Harness(Store())
    ok, bad = added(harness.store, count=2)
    harness.writer.save(ok.replace(status=RunStatus.RUNNING))
    harness.writer.save(bad.replace(status=RunStatus.RUNNING, output="bad"))
    harness.loop.run_timers()
    assert harness.store.batches == [[ok.id, bad.id], [ok.id], [bad.id]]
    assert harness.store.get_run(bad.id).status is RunStatus.SCHEDULED


def test_a_store_that_refuses_every_record_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness(Store(refuse_all=True))
    for run in added(harness.store, count=3):
        harness.writer.save(finished(run))
    with caplog.at_level(logging.ERROR):
        harness.loop.run_timers()
    assert [record.getMessage() for record in caplog.records] == ["could not record 3 run(s)"]
