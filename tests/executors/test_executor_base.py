"""The shared interface: contexts, invocations, ctx injection and choosing an executor."""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime

from cronwork.executors import (
    CommandExecutor,
    CoroutineExecutor,
    Invocation,
    ProcessExecutor,
    RunContext,
    ThreadExecutor,
    default_executor_name,
    format_error,
)
from cronwork.executors.base import wants_ctx
from cronwork.executors.celery import CeleryExecutor
from cronwork.executors.registry import EXECUTOR_NAMES
from cronwork.targets import CeleryTask, Command


def make_ctx() -> RunContext:
    return RunContext("job", "run", datetime(2024, 1, 1, tzinfo=UTC), 1, None)


def sync_job() -> None:
    pass


async def async_job() -> None:
    pass


class AsyncCallable:
    async def __call__(self) -> None:
        pass


class SyncCallable:
    def __call__(self) -> None:
        pass


class Methods:
    async def run(self) -> None:
        pass


def test_commands_go_to_the_command_executor() -> None:
    assert default_executor_name(Command("echo hi")) == "command"


def test_async_callables_go_to_the_async_executor() -> None:
    assert default_executor_name(async_job) == "async"
    assert default_executor_name(functools.partial(async_job)) == "async"
    assert default_executor_name(AsyncCallable()) == "async"
    assert default_executor_name(Methods().run) == "async"


def test_everything_else_goes_to_threads() -> None:
    assert default_executor_name(sync_job) == "thread"
    assert default_executor_name(SyncCallable()) == "thread"
    assert default_executor_name(lambda: None) == "thread"
    assert default_executor_name(print) == "thread"


def test_jobs_accept_exactly_the_names_of_the_executors_there_are() -> None:
    # The registry's names are the one list a job's executor is checked against.
    executors = (ThreadExecutor, ProcessExecutor, CoroutineExecutor, CommandExecutor)
    names = [cls.name for cls in (*executors, CeleryExecutor)]
    assert sorted(names) == sorted(EXECUTOR_NAMES)
    for target in (sync_job, async_job, Command("true"), CeleryTask("proj.tasks.report")):
        assert default_executor_name(target) in EXECUTOR_NAMES


def test_ctx_is_passed_only_to_callables_that_name_it() -> None:
    def plain(a: int) -> None: ...
    def named(a: int, ctx: RunContext) -> None: ...
    def keyword_only(*, ctx: RunContext) -> None: ...
    def var_kwargs(**kwargs: object) -> None: ...

    assert not wants_ctx(plain)
    assert wants_ctx(named)
    assert wants_ctx(keyword_only)
    assert not wants_ctx(var_kwargs)
    assert not wants_ctx(functools.partial(plain, 1))
    assert wants_ctx(functools.partial(named, 1))
    assert not wants_ctx(print)


def test_context_cancellation_is_visible_to_threads() -> None:
    ctx = make_ctx()
    assert not ctx.cancelled
    assert not ctx.wait_cancelled(0.01)
    threading.Timer(0.05, ctx.mark_cancelled).start()
    assert ctx.wait_cancelled(5)
    assert ctx.cancelled


def test_invocation_takes_the_target_positionally_and_the_rest_by_keyword() -> None:
    inv = Invocation(sync_job, (1,), context=make_ctx(), timeout=2.0)
    assert inv.kwargs == {}
    assert inv.on_timeout == "cancel"
    assert inv.kill_grace == 5.0
    assert inv.output_limit == 65536


def test_errors_start_with_type_and_message_then_the_traceback() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        text = format_error(exc)
    first, rest = text.split("\n", 1)
    assert first == "KeyError: 'missing'"
    assert rest.startswith("Traceback (most recent call last):")
    assert "test_errors_start_with_type_and_message" in rest
