"""Helpers for unit tests of the engine's collaborators: an engine that is never started.

Its collaborators are real; only the edges are replaced so that a test drives one part
synchronously: engine tasks are collected instead of scheduled (`Harness.run_spawned`
runs them), store calls meant for the store thread run inline, and saved records are
collected instead of written. Coroutines that never wait for anything are run to the end
by `drive`, with no event loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from enginekit import START

from cronwork.engine import Engine, Settings
from cronwork.events import Event, Listeners
from cronwork.executors import Executor
from cronwork.jobs import Job
from cronwork.runs import Run
from cronwork.stores import MemoryStore, Store
from cronwork.targets import TaskRegistry
from cronwork.testing import FakeClock

T = TypeVar("T")

LEASE = timedelta(seconds=30)


class Pending:
    """An engine task collected by the harness: done once the harness has run it."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.finished = False

    def done(self) -> bool:
        return self.finished

    def run(self) -> None:
        drive(self.coro)
        self.finished = True


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the coroutine waited for something; it needs an event loop")


class Shared:
    """A memory store that says it is shared, and counts the calls made to it."""

    shared = True

    def __init__(self, store: Store | None = None) -> None:
        self.inner = store if store is not None else MemoryStore()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            return attribute(*args, **kwargs)

        return counted

    def count(self, name: str) -> int:
        """How many times ``name`` was called."""
        return [called for called, _ in self.calls].count(name)

    def arguments(self, name: str) -> list[tuple[Any, ...]]:
        """The positional arguments of each call of ``name``."""
        return [args for called, args in self.calls if called == name]


def unit_settings(
    store: Any,
    clock: FakeClock,
    *,
    listeners: Listeners | None = None,
    max_running: int = 10,
    poll: timedelta | None = None,
    keep_runs: int | None = None,
    executors: dict[str, Executor] | None = None,
) -> Settings:
    """An engine's settings for a unit test: node "n", a 30 s lease, a 1 s horizon."""
    return Settings(
        store=store,
        clock=clock,
        listeners=listeners if listeners is not None else Listeners(),
        tasks=TaskRegistry(),
        max_running=max_running,
        node="n",
        lease=LEASE,
        horizon=timedelta(seconds=1),
        poll=poll,
        keep_runs=keep_runs,
        keep_runs_for=None,
        kill_grace=1.0,
        executors=dict(executors or {}),
    )


class Harness:
    """An engine built from its settings and never started; see the module docstring."""

    def __init__(
        self,
        store: Store | Shared | None = None,
        *,
        max_running: int = 10,
        poll: timedelta | None = None,
        keep_runs: int | None = None,
        executors: dict[str, Executor] | None = None,
        record_saves: bool = True,
    ) -> None:
        self.clock = FakeClock(START)
        self.store: Any = store if store is not None else MemoryStore()
        self.events: list[Event] = []
        listeners = Listeners()
        listeners.add("*", self.events.append)
        self.settings = unit_settings(
            self.store,
            self.clock,
            listeners=listeners,
            max_running=max_running,
            poll=poll,
            keep_runs=keep_runs,
            executors=executors,
        )
        self.engine = Engine(self.settings)
        self.spawned: list[Pending] = []
        self.saved: list[Run] = []
        self.engine.spawn = self._spawn  # type: ignore[method-assign]
        self.engine.off_loop = self._inline  # type: ignore[method-assign]
        if record_saves:
            self.engine.save = self._save  # type: ignore[assignment]
        self._ids = itertools.count(1)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> Pending:
        task = Pending(coro)
        self.spawned.append(task)
        return task

    async def _inline(self, func: Callable[..., T], *args: Any) -> T:
        return func(*args)

    def _save(self, run: Any) -> None:
        self.saved.append(run.record() if hasattr(run, "record") else run)

    def spawned_names(self) -> list[str]:
        """The names of the coroutines spawned and not yet run, in order."""
        return [task.coro.__qualname__ for task in self.spawned]

    def run_spawned(self) -> None:
        """Run the collected engine tasks (and those they spawn) to their end."""
        while self.spawned:
            self.spawned.pop(0).run()

    def drop_spawned(self) -> None:
        """Forget the collected engine tasks without running them."""
        for task in self.spawned:
            task.coro.close()
        self.spawned.clear()

    def add(self, job: Job) -> Job:
        """Store ``job`` and let the engine know it."""
        stored = self.store.add_job(job)
        self.engine.jobs[job.id] = stored
        return stored  # type: ignore[no-any-return]

    def new_run(self, job: Job, **fields: Any) -> Run:
        """A run of ``job`` for the current instant, inserted into the store."""
        fields.setdefault("scheduled_for", self.clock.now())
        run = Run(id="", job_id=job.id, **fields)
        stored = self.store.add_run(run)
        assert stored is not None
        return stored  # type: ignore[no-any-return]

    def outcome(self, run_id: str) -> Run:
        """The last record saved of ``run_id``."""
        return [run for run in self.saved if run.id == run_id][-1]
