"""The runtime layer: executors run one target under a timeout and report an `Outcome`."""

from __future__ import annotations

from cronwork.executors.base import (
    BatchesCompletions,
    Execution,
    Executor,
    Invocation,
    Outcome,
    RunContext,
    ShowsOutput,
    format_error,
    is_async_callable,
)
from cronwork.executors.commands import CommandExecutor
from cronwork.executors.coroutines import CoroutineExecutor
from cronwork.executors.processes import ProcessExecutor
from cronwork.executors.threads import ThreadExecutor
from cronwork.targets import Command

__all__ = [
    "BatchesCompletions",
    "CommandExecutor",
    "CoroutineExecutor",
    "Execution",
    "Executor",
    "Invocation",
    "Outcome",
    "ProcessExecutor",
    "RunContext",
    "ShowsOutput",
    "ThreadExecutor",
    "default_executor_name",
    "format_error",
]


def default_executor_name(target: object) -> str:
    """Pick "command" for a Command, "async" for async callables, "thread" otherwise."""
    if isinstance(target, Command):
        return "command"
    if is_async_callable(target):
        return "async"
    return "thread"
