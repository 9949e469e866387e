"""ThreadExecutor: sync callables on a pool; overrunning threads linger but the run ends."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from cronwork.executors import Invocation, Outcome, RunContext, ThreadExecutor
from cronwork.runs import RunStatus


def make_ctx() -> RunContext:
    return RunContext("job-1", "run-1", datetime(2024, 1, 1, tzinfo=UTC), 2, None)


def run(invocation: Invocation, **start: Any) -> Outcome:
    async def main() -> Outcome:
        executor = ThreadExecutor(max_workers=4)
        outcome = await executor.start(invocation, **start).wait()
        await executor.shutdown(wait=False)
        return outcome

    return asyncio.run(main())


def test_success_receives_args_kwargs_and_ctx() -> None:
    seen: list[Any] = []

    def job(a: int, b: int, *, scale: int, ctx: RunContext) -> int:
        seen.append((a, b, scale, ctx.job_id, ctx.attempt))
        return a + b

    ctx = make_ctx()
    outcome = run(Invocation(job, (1, 2), {"scale": 3}, context=ctx))
    assert outcome == Outcome(RunStatus.SUCCEEDED)
    assert seen == [(1, 2, 3, "job-1", 2)]


def test_functions_without_ctx_get_none() -> None:
    seen: list[tuple[Any, ...]] = []
    outcome = run(Invocation(lambda *a: seen.append(a), ("x",), context=make_ctx()))
    assert outcome.status is RunStatus.SUCCEEDED
    assert seen == [("x",)]


def test_exception_is_failed_with_traceback() -> None:
    def explode() -> None:
        raise ValueError("boom")

    outcome = run(Invocation(explode, context=make_ctx()))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith("ValueError: boom\nTraceback")
    assert "in explode" in outcome.error
    assert outcome.output is None and outcome.exit_code is None


def test_overrunning_thread_times_out_at_the_deadline_and_lingers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()
    returned = threading.Event()

    def stubborn() -> None:
        release.wait(10)  # ignores ctx on purpose
        returned.set()

    async def main() -> None:
        executor = ThreadExecutor(max_workers=4)
        ctx = make_ctx()
        began = time.monotonic()
        outcome = await executor.start(Invocation(stubborn, context=ctx, timeout=0.2)).wait()
        elapsed = time.monotonic() - began
        assert outcome.status is RunStatus.TIMED_OUT
        assert outcome.error == "timed out after 0.2s"
        assert 0.15 <= elapsed < 1.0
        assert ctx.cancelled
        assert outcome.lingering is not None
        assert not outcome.lingering.done()
        release.set()
        await asyncio.wait_for(outcome.lingering, 5)
        assert returned.is_set()
        await executor.shutdown()

    with caplog.at_level(logging.WARNING, logger="cronwork.executors"):
        asyncio.run(main())
    [record] = [r for r in caplog.records if r.name == "cronwork.executors"]
    assert record.job_id == "job-1"  # type: ignore[attr-defined]
    assert record.run_id == "run-1"  # type: ignore[attr-defined]


def test_cancel_sets_ctx_and_reports_cancelled() -> None:
    def polite(ctx: RunContext) -> None:
        ctx.wait_cancelled(10)

    async def main() -> None:
        executor = ThreadExecutor(max_workers=4)
        ctx = make_ctx()
        execution = executor.start(Invocation(polite, context=ctx))
        await asyncio.sleep(0.05)
        execution.cancel("stopped by user")
        outcome = await execution.wait()
        assert outcome.status is RunStatus.CANCELLED
        assert outcome.error == "stopped by user"
        assert ctx.cancelled
        assert outcome.lingering is not None
        await asyncio.wait_for(outcome.lingering, 5)
        await executor.shutdown()

    asyncio.run(main())


def test_cancel_after_finishing_changes_nothing() -> None:
    async def main() -> None:
        executor = ThreadExecutor(max_workers=4)
        execution = executor.start(Invocation(lambda: None, context=make_ctx()))
        first = await execution.wait()
        execution.cancel()
        assert await execution.wait() == first == Outcome(RunStatus.SUCCEEDED)
        await executor.shutdown()

    asyncio.run(main())


def test_soft_timeout_calls_on_overdue_once_and_lets_the_run_finish() -> None:
    overdue: list[None] = []
    outcome = run(
        Invocation(time.sleep, (0.3,), context=make_ctx(), timeout=0.05, on_timeout="warn"),
        on_overdue=lambda: overdue.append(None),
    )
    assert outcome == Outcome(RunStatus.SUCCEEDED)
    assert overdue == [None]


def test_shutdown_refuses_new_runs() -> None:
    async def main() -> None:
        executor = ThreadExecutor(max_workers=2)
        await executor.shutdown()
        with pytest.raises(RuntimeError):
            executor.start(Invocation(lambda: None, context=make_ctx()))

    asyncio.run(main())


def test_cancelling_a_run_still_waiting_for_a_worker_leaves_nothing_lingering() -> None:
    release = threading.Event()

    async def main() -> None:
        executor = ThreadExecutor(max_workers=1)
        busy = executor.start(Invocation(release.wait, (5,), context=make_ctx()))
        queued = executor.start(Invocation(lambda: None, context=make_ctx()))
        queued.cancel()
        assert await queued.wait() == Outcome(RunStatus.CANCELLED, error="cancelled")
        release.set()
        assert (await busy.wait()).status is RunStatus.SUCCEEDED
        await executor.shutdown()

    asyncio.run(main())
