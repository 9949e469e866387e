"""At most max_running runs at once; the rest wait in slot order and the wait is recorded."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from enginekit import START, eventually, kept, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.stores import Store
from cronwork.testing import FakeClock


@run_async
async def test_runs_beyond_max_running_wait_and_record_their_wait(
    clock: FakeClock, store: Store
) -> None:
    gate = asyncio.Event()
    running = 0
    peak = 0

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1

    async with AsyncScheduler(store, clock=clock, timezone="UTC", max_running=2) as scheduler:
        for i in range(5):
            await scheduler.add_job(f"job{i}", kept(scheduler, work), "0 * * * *")
        await clock.run_for(timedelta(hours=1), wait_for_runs=False)
        assert running == 2
        clock.advance(timedelta(seconds=5))
        gate.set()
        await scheduler.idle()
        runs = await scheduler.runs()
    assert peak == 2
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 5
    slot = START + timedelta(hours=1)
    waited = sorted((r.started_at - r.queued_at).total_seconds() for r in runs)  # type: ignore[operator]
    assert waited == [0, 0, 5, 5, 5]
    assert all(r.queued_at == slot for r in runs)


@run_async
async def test_waiting_runs_start_in_due_order_then_run_id(clock: FakeClock, store: Store) -> None:
    gate = asyncio.Event()
    order: list[str] = []

    async def hold() -> None:
        await gate.wait()

    def record(name: str) -> None:
        order.append(name)

    async with AsyncScheduler(store, clock=clock, timezone="UTC", max_running=1) as scheduler:
        await scheduler.add_job("blocker", kept(scheduler, hold), START + timedelta(seconds=10))
        # Added in reverse so that id order and due order differ from insertion order.
        await scheduler.add_job(
            "late", kept(scheduler, record), START + timedelta(seconds=30), args=("late",)
        )
        await scheduler.add_job(
            "early", kept(scheduler, record), START + timedelta(seconds=20), args=("early",)
        )
        await scheduler.add_job(
            "tie-b", kept(scheduler, record), START + timedelta(seconds=25), args=("tie-b",)
        )
        await scheduler.add_job(
            "tie-a", kept(scheduler, record), START + timedelta(seconds=25), args=("tie-a",)
        )
        await clock.run_for(timedelta(minutes=1), wait_for_runs=False)
        assert order == []
        gate.set()
        await scheduler.idle()
        tie_ids = {r.job_id: r.id for r in await scheduler.runs() if r.job_id.startswith("tie")}
    ties = sorted(("tie-a", "tie-b"), key=lambda j: int(tie_ids[j]))
    assert order == ["early", *ties, "late"]


# Memory store only: it steps an hour of fake time, and a shared store is polled each second,
# so the fake clock would stop there 3,600 more times.
@run_async
async def test_no_starvation_under_a_busy_job(clock: FakeClock) -> None:
    """A frequent job cannot keep a waiting one from its turn: order is by due time."""
    started: list[str] = []

    async def quick(name: str) -> None:
        started.append(name)
        await asyncio.sleep(0)

    async with AsyncScheduler(clock=clock, timezone="UTC", max_running=1) as scheduler:
        await scheduler.add_job("busy", kept(scheduler, quick), "every 1s", args=("busy",))
        await scheduler.add_job("rare", kept(scheduler, quick), "0 * * * *", args=("rare",))
        await clock.run_for(timedelta(hours=1, seconds=2))
    assert "rare" in started
    assert started.count("busy") == 3600 + 2


@run_async
async def test_a_lingering_thread_keeps_its_place(clock: FakeClock, store: Store) -> None:
    import threading

    release = threading.Event()
    ran: list[str] = []

    def stuck() -> None:
        release.wait(5)

    async with AsyncScheduler(store, clock=clock, timezone="UTC", max_running=1) as scheduler:
        await scheduler.add_job(
            "stuck", kept(scheduler, stuck), START + timedelta(seconds=1), timeout=0.05
        )
        await scheduler.add_job(
            "next", kept(scheduler, lambda: ran.append("next")), START + timedelta(seconds=2)
        )
        await clock.run_for(timedelta(seconds=1))
        [stuck_run] = await scheduler.runs("stuck")
        assert stuck_run.status is RunStatus.TIMED_OUT
        await clock.run_for(timedelta(seconds=5), wait_for_runs=False)
        await asyncio.sleep(0.05)
        assert ran == []  # the thread still holds the only place
        release.set()
        await eventually(lambda: ran == ["next"])
        await scheduler.idle()
