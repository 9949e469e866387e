"""WorkerPool and ThreadExecution: hand-over, batching, withdrawal, cancel, output capture."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from cronwork.executors import Invocation, Outcome, RunContext, ThreadExecutor
from cronwork.executors.base import OutputTail
from cronwork.executors.threads import WorkerPool, WorkItem
from cronwork.runs import RunStatus


def make_ctx(run_id: str = "run-1") -> RunContext:
    return RunContext("job-1", run_id, datetime(2024, 1, 1, tzinfo=UTC), 1, None)


def test_every_item_runs_once_and_completions_arrive_in_batches() -> None:
    calls: list[int] = []
    done: list[int] = []
    deliveries: list[int] = []

    async def main() -> None:
        pool = WorkerPool(4, asyncio.get_running_loop())
        original = pool.deliver

        def counting() -> None:
            deliveries.append(len(pool._finished))
            original()

        pool.deliver = counting  # type: ignore[method-assign]
        finished = asyncio.Event()
        for i in range(500):
            item = WorkItem(calls.append, (i,), {}, lambda it: done.append(it.args[0]))
            pool.submit(item)
        while len(done) < 500:
            await asyncio.sleep(0.01)
        finished.set()
        pool.shutdown(wait=True)

    asyncio.run(main())
    assert sorted(calls) == list(range(500))
    assert sorted(done) == list(range(500))
    # One wake-up of the loop carries many completions.
    assert len(deliveries) < 500


def test_a_burst_is_spread_over_workers_not_queued_behind_a_busy_one() -> None:
    # Each call holds its worker for 0.3 s; four at once must take ~0.3 s, not ~1.2 s.
    async def main() -> float:
        executor = ThreadExecutor(max_workers=4)
        began = time.monotonic()
        executions = [
            executor.start(Invocation(time.sleep, (0.3,), context=make_ctx(str(i))))
            for i in range(4)
        ]
        await asyncio.gather(*(e.wait() for e in executions))
        await executor.shutdown()
        return time.monotonic() - began

    assert asyncio.run(main()) < 0.9


def test_a_queued_run_cancelled_before_a_worker_takes_it_never_starts() -> None:
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        executor = ThreadExecutor(max_workers=1)
        busy = executor.start(Invocation(release.wait, (5,), context=make_ctx("busy")))
        queued = executor.start(Invocation(lambda: ran.append("x"), context=make_ctx("q")))
        queued.cancel("not wanted")
        outcome = await queued.wait()
        assert outcome.status is RunStatus.CANCELLED
        assert outcome.lingering is None  # it never started, so nothing lingers
        release.set()
        assert (await busy.wait()).status is RunStatus.SUCCEEDED
        await executor.shutdown()

    asyncio.run(main())
    assert ran == []


def test_done_callbacks_get_the_outcome_and_late_ones_still_run() -> None:
    seen: list[Outcome] = []

    async def main() -> None:
        executor = ThreadExecutor(max_workers=2)
        execution = executor.start(Invocation(lambda: None, context=make_ctx()))
        execution.add_done_callback(seen.append)
        first = await execution.wait()
        execution.add_done_callback(seen.append)
        await asyncio.sleep(0)
        assert seen == [first, first]
        await executor.shutdown()

    asyncio.run(main())


def test_a_callback_is_not_called_from_inside_cancel() -> None:
    inside_cancel = False
    calls: list[bool] = []

    async def main() -> None:
        nonlocal inside_cancel
        release = threading.Event()
        executor = ThreadExecutor(max_workers=1)
        execution = executor.start(Invocation(release.wait, (5,), context=make_ctx()))
        execution.add_done_callback(lambda _: calls.append(inside_cancel))
        await asyncio.sleep(0.05)
        inside_cancel = True
        execution.cancel()
        inside_cancel = False
        await execution.wait()
        await asyncio.sleep(0)
        release.set()
        await executor.shutdown()

    asyncio.run(main())
    assert calls == [False]


def test_printed_output_is_captured_per_run_and_bounded() -> None:
    def chatty(n: int) -> None:
        print(f"run {n} says hi")
        print("to stderr", file=sys.stderr)

    def flood() -> None:
        for i in range(1000):
            print(f"line {i:04}")

    async def main() -> list[Outcome]:
        executor = ThreadExecutor(max_workers=4)
        runs = [
            executor.start(Invocation(chatty, (i,), context=make_ctx(str(i)))) for i in range(3)
        ]
        big = executor.start(Invocation(flood, context=make_ctx("big"), output_limit=100))
        quiet = executor.start(Invocation(lambda: None, context=make_ctx("quiet")))
        outcomes = [await e.wait() for e in [*runs, big, quiet]]
        await executor.shutdown()
        return outcomes

    outcomes = asyncio.run(main())
    for i in range(3):
        assert outcomes[i].output == f"run {i} says hi\nto stderr\n"
    tail = outcomes[3].output
    assert tail is not None and len(tail) == 100 and tail.endswith("line 0999\n")
    assert outcomes[4].output is None


def test_output_outside_any_run_passes_through(capsys: Any) -> None:
    async def main() -> None:
        executor = ThreadExecutor(max_workers=1)
        await executor.start(Invocation(print, ("inside",), context=make_ctx())).wait()
        print("outside")
        await executor.shutdown()

    asyncio.run(main())
    assert capsys.readouterr().out == "outside\n"


def test_output_tail_keeps_the_last_characters() -> None:
    tail = OutputTail(5)
    for part in ["ab", "cdef", "", "ghij"]:
        tail.write(part)
    assert tail.text() == "fghij"


def test_completions_wait_for_a_promised_delivery_and_wake_the_loop_without_one() -> None:
    done: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pool = WorkerPool(2, loop)
        finished = threading.Event()

        def call(i: int) -> None:
            if i == 0:
                finished.set()

        # A delivery promised ahead: the worker leaves the loop asleep. (The limit is
        # raised so that a slow thread start cannot outlast the promise.)
        pool.defer_at_most = 30.0
        pool.defer_wakeups(loop.time() + 10)
        pool.submit(WorkItem(call, (0,), {}, lambda it: done.append(it.args[0])))
        await asyncio.to_thread(finished.wait, 5)
        await asyncio.sleep(0.05)  # turns of the loop: nothing was handed over
        assert done == []
        pool.defer_wakeups(0.0)
        pool.deliver()  # the promised delivery
        assert done == [0]

        # Promise withdrawn: a finished call wakes the loop by itself.
        pool.submit(WorkItem(call, (1,), {}, lambda it: done.append(it.args[0])))
        for _ in range(500):
            if len(done) == 2:
                break
            await asyncio.sleep(0.01)
        assert done == [0, 1]

        # A promise too far ahead is not waited for.
        pool.defer_at_most = 0.002
        pool.defer_wakeups(loop.time() + 60)
        pool.submit(WorkItem(call, (2,), {}, lambda it: done.append(it.args[0])))
        for _ in range(500):
            if len(done) == 3:
                break
            await asyncio.sleep(0.01)
        assert done == [0, 1, 2]
        pool.shutdown(wait=True)

    asyncio.run(main())
