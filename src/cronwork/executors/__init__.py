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
)
from cronwork.executors.commands import CommandExecutor
from cronwork.executors.coroutines import CoroutineExecutor
from cronwork.executors.processes import ProcessExecutor
from cronwork.executors.registry import EXECUTOR_NAMES, build_executor, default_executor_name
from cronwork.executors.threads import ThreadExecutor

__all__ = [
    "EXECUTOR_NAMES",
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
    "build_executor",
    "default_executor_name",
    "format_error",
]
