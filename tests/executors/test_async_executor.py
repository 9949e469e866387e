"""CoroutineExecutor: async targets run as tasks on the engine's loop."""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import UTC, datetime
from typing import Any

from cronwork.executors import CoroutineExecutor, Invocation, Outcome, RunContext
from cronwork.runs import RunStatus


def make_ctx() -> RunContext:
    return RunContext("job-a", "run-a", datetime(2024, 1, 1, tzinfo=UTC), 1, None)


def run(invocation: Invocation, **start: Any) -> Outcome:
    async def main() -> Outcome:
        executor = CoroutineExecutor(cancel_grace=0.2)
        outcome = await executor.start(invocation, **start).wait()
        await executor.shutdown()
        return outcome

    return asyncio.run(main())


def test_success_receives_args_kwargs_and_ctx() -> None:
    seen: list[Any] = []

    async def job(a: int, *, b: int, ctx: RunContext) -> None:
        await asyncio.sleep(0)
        seen.append((a, b, ctx.run_id))

    assert run(Invocation(job, (1,), {"b": 2}, context=make_ctx())) == Outcome(RunStatus.SUCCEEDED)
    assert seen == [(1, 2, "run-a")]


def test_partials_and_async_callable_objects_run() -> None:
    seen: list[str] = []

    async def job(name: str) -> None:
        seen.append(name)

    class Job:
        async def __call__(self, ctx: RunContext) -> None:
            seen.append(ctx.job_id)

    assert run(Invocation(functools.partial(job, "p"), context=make_ctx())).status == "succeeded"
    assert run(Invocation(Job(), context=make_ctx())).status == "succeeded"
    assert seen == ["p", "job-a"]


def test_exception_is_failed_with_traceback() -> None:
    async def explode() -> None:
        raise RuntimeError("async boom")

    outcome = run(Invocation(explode, context=make_ctx()))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith("RuntimeError: async boom\nTraceback")
    assert "in explode" in outcome.error


def test_deadline_cancels_the_task() -> None:
    cancelled: list[bool] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    ctx = make_ctx()
    began = time.monotonic()
    outcome = run(Invocation(slow, context=ctx, timeout=0.1))
    assert outcome == Outcome(RunStatus.TIMED_OUT, error="timed out after 0.1s")
    assert time.monotonic() - began < 1.0
    assert cancelled == [True]
    assert ctx.cancelled


def test_cancel_reports_cancelled() -> None:
    async def main() -> None:
        executor = CoroutineExecutor()
        execution = executor.start(Invocation(asyncio.sleep, (10,), context=make_ctx()))
        await asyncio.sleep(0.01)
        execution.cancel("no longer needed")
        outcome = await asyncio.wait_for(execution.wait(), 2)
        assert outcome == Outcome(RunStatus.CANCELLED, error="no longer needed")
        # Shut down, or the stdout router it installed stays for the tests that follow.
        await executor.shutdown()

    asyncio.run(main())


def test_a_coroutine_swallowing_cancellation_is_reported_after_the_grace() -> None:
    async def main() -> None:
        done = asyncio.Event()

        async def stubborn() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                await done.wait()

        executor = CoroutineExecutor(cancel_grace=0.2)
        began = time.monotonic()
        outcome = await executor.start(Invocation(stubborn, context=make_ctx(), timeout=0.1)).wait()
        assert 0.25 <= time.monotonic() - began < 1.5
        assert outcome.status is RunStatus.TIMED_OUT
        assert outcome.lingering is not None and not outcome.lingering.done()
        done.set()
        await asyncio.wait_for(outcome.lingering, 2)
        await executor.shutdown()

    asyncio.run(main())


def test_soft_timeout_calls_on_overdue_once() -> None:
    overdue: list[None] = []
    outcome = run(
        Invocation(asyncio.sleep, (0.2,), context=make_ctx(), timeout=0.05, on_timeout="warn"),
        on_overdue=lambda: overdue.append(None),
    )
    assert outcome == Outcome(RunStatus.SUCCEEDED)
    assert overdue == [None]


def test_shutdown_without_wait_cancels_running_tasks() -> None:
    async def main() -> None:
        executor = CoroutineExecutor()
        execution = executor.start(Invocation(asyncio.sleep, (10,), context=make_ctx()))
        await asyncio.sleep(0.01)
        await asyncio.wait_for(executor.shutdown(wait=False), 2)
        assert (await execution.wait()).status is RunStatus.CANCELLED

    asyncio.run(main())
