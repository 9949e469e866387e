"""The executor registry: the one place where a job's ``executor`` name maps to what builds it.

A job names its executor (``executor="process"``) or leaves it to `default_executor_name`;
the engine builds each named executor on its first run through `build_executor`, and job
validation accepts exactly the names registered here (`EXECUTOR_NAMES`). Each name is the
``name`` of its executor class, so it is spelt once. A new executor is one line in
`FACTORIES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cronwork.errors import JobError
from cronwork.executors.base import Executor, is_async_callable
from cronwork.executors.commands import CommandExecutor
from cronwork.executors.coroutines import CoroutineExecutor
from cronwork.executors.processes import ProcessExecutor
from cronwork.executors.threads import ThreadExecutor
from cronwork.targets import CeleryTask, Command

__all__ = [
    "EXECUTOR_NAMES",
    "FACTORIES",
    "ExecutorFactory",
    "ExecutorNeeds",
    "build_executor",
    "default_executor_name",
]


@dataclass(frozen=True, slots=True)
class ExecutorNeeds:
    """What a factory may use to build an executor for one engine."""

    node: str  # the engine's node id, which tags the processes a run starts
    max_running: int  # the engine's limit of runs at once


ExecutorFactory = Callable[[ExecutorNeeds], Executor]

# In the order job validation lists them in its error message.
FACTORIES: dict[str, ExecutorFactory] = {
    # Overrunning threads keep their place, so max_running workers (and one) are enough.
    ThreadExecutor.name: lambda needs: ThreadExecutor(max_workers=needs.max_running + 1),
    ProcessExecutor.name: lambda needs: ProcessExecutor(needs.node),
    CoroutineExecutor.name: lambda needs: CoroutineExecutor(),
    CommandExecutor.name: lambda needs: CommandExecutor(needs.node),
    "celery": lambda needs: _celery_executor(),
}

EXECUTOR_NAMES: tuple[str, ...] = tuple(FACTORIES)


def _celery_executor() -> Executor:
    # Imported on first use: Celery is an extra. Each job's target names its app.
    from cronwork.executors.celery import CeleryExecutor

    return CeleryExecutor()


def build_executor(name: str, needs: ExecutorNeeds) -> Executor:
    """A new executor registered as ``name``; JobError for a name nothing registers."""
    factory = FACTORIES.get(name)
    if factory is None:
        raise JobError(f"unknown executor {name!r}")
    return factory(needs)


def default_executor_name(target: object) -> str:
    """The executor of a job that names none: commands, Celery tasks, coroutine functions,
    else threads."""
    if isinstance(target, Command):
        return CommandExecutor.name
    if isinstance(target, CeleryTask):
        return "celery"
    if is_async_callable(target):
        return CoroutineExecutor.name
    return ThreadExecutor.name
