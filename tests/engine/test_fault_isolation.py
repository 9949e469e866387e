"""An unexpected error on one run's path ends that run, never the engine or other runs.

Each test runs jobs whose slots share one batch: ``ok1`` and ``ok2`` (no-ops), ``flaky``
(always fails, one retry) and ``poison``, whose run hits a fault in one engine step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from enginekit import START, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.engine import Engine
from cronwork.engine.launch import Launcher
from cronwork.events import EventType
from cronwork.executors import ThreadExecutor
from cronwork.runs import Run
from cronwork.stores import Store
from cronwork.testing import FakeClock

MINUTE = timedelta(minutes=1)
FAULT = "injected fault"


def noop() -> None:
    pass


def fail() -> None:
    raise RuntimeError("flaky failure")


class Injected(RuntimeError):
    pass


def poisoned(job_id: object) -> None:
    if job_id == "poison":
        raise Injected(FAULT)


async def three_minutes(
    clock: FakeClock, store: Store, late: timedelta = timedelta(0), **poison: Any
) -> dict[str, list[Run]]:
    """Run the four jobs for three slots; return each job's runs in (slot, attempt) order.

    With ``late``, the engine starts that long after the first slot fell due.
    """
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    scheduler.on("*", lambda event: None)  # every event is built and emitted
    for job_id in ("ok1", "poison", "ok2"):
        await scheduler.add_job(job_id, noop, "every 1m")
    await scheduler.add_job("flaky", fail, "every 1m", retries=1, retry_backoff="5s")
    if poison:
        # Settings validation would refuse: written to the store directly.
        store.update_job(store.get_job("poison").replace(**poison))
    clock.advance(late)
    async with scheduler:
        await clock.run_for(3 * MINUTE + timedelta(seconds=30) - late)
    return {
        job_id: sorted(store.runs(job_id), key=lambda r: (r.scheduled_for, r.attempt))
        for job_id in ("ok1", "ok2", "flaky", "poison")
    }


def slots(runs: Sequence[Run]) -> list[tuple[int, int]]:
    return [(int((r.scheduled_for - START) / MINUTE), r.attempt) for r in runs]


def assert_the_others_went_on(runs: dict[str, list[Run]]) -> None:
    for job_id in ("ok1", "ok2"):
        assert slots(runs[job_id]) == [(1, 1), (2, 1), (3, 1)]
        assert {r.status for r in runs[job_id]} == {RunStatus.SUCCEEDED}
    assert slots(runs["flaky"]) == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)]
    assert {r.status for r in runs["flaky"]} == {RunStatus.FAILED}


def fault_in(monkeypatch: pytest.MonkeyPatch, step: str, store: Store) -> None:
    """Make ``step`` raise for the poison job's runs."""
    if step == "resolving the target":
        real_resolve = Launcher._resolve

        def resolve(self: Launcher, job: Any) -> Any:
            poisoned(job.id)
            return real_resolve(self, job)

        monkeypatch.setattr(Launcher, "_resolve", resolve)
    elif step == "building the invocation":
        import cronwork.engine.launch as scheduler_module

        real_invocation = scheduler_module.new_invocation

        def invocation(**fields: Any) -> Any:
            poisoned(fields["context"].job_id)
            return real_invocation(**fields)

        monkeypatch.setattr(scheduler_module, "new_invocation", invocation)
    elif step == "the executor's submit":
        real_submit = ThreadExecutor.start

        def submit(self: ThreadExecutor, invocation: Any, *args: Any) -> Any:
            poisoned(invocation.context.job_id)
            return real_submit(self, invocation, *args)

        monkeypatch.setattr(ThreadExecutor, "start", submit)
    elif step.startswith("emitting"):
        kind = EventType.RUN_STARTED if "started" in step else EventType.RUN_SUCCEEDED
        real_emit = Engine.emit

        def emit(self: Engine, what: EventType, run: Run, *args: Any) -> None:
            if what is kind:
                poisoned(run.job_id)
            real_emit(self, what, run, *args)

        monkeypatch.setattr(Engine, "emit", emit)
    elif step == "saving the record":
        real_save: Callable[[Sequence[Run]], None] = store.save_runs

        def save(runs: Sequence[Run]) -> None:
            for run in runs:
                if run.status is RunStatus.SUCCEEDED:
                    poisoned(run.job_id)
            real_save(runs)

        monkeypatch.setattr(store, "save_runs", save)
    else:
        raise AssertionError(step)


STEPS = [
    "resolving the target",
    "building the invocation",
    "the executor's submit",
    "emitting the started event",
    "saving the record",
]


@pytest.mark.parametrize("step", STEPS)
@run_async
async def test_a_fault_in_one_run_fails_that_run_and_the_rest_go_on(
    clock: FakeClock,
    store: Store,
    step: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fault_in(monkeypatch, step, store)
    with caplog.at_level(logging.ERROR, logger="cronwork"):
        runs = await three_minutes(clock, store)
    assert_the_others_went_on(runs)
    # Every slot of the poison job ran into the fault and ended failed: none was skipped as
    # "still running", none stayed scheduled or running.
    assert slots(runs["poison"]) == [(1, 1), (2, 1), (3, 1)]
    assert {r.status for r in runs["poison"]} == {RunStatus.FAILED}
    assert all(FAULT in (r.error or "") for r in runs["poison"])
    # Logged with its traceback.
    assert any(
        record.exc_info is not None and isinstance(record.exc_info[1], Injected)
        for record in caplog.records
    )


@run_async
async def test_a_fault_after_the_run_ended_keeps_its_outcome_and_notes_the_error(
    clock: FakeClock, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault_in(monkeypatch, "emitting the succeeded event", store)
    runs = await three_minutes(clock, store)
    assert_the_others_went_on(runs)
    assert slots(runs["poison"]) == [(1, 1), (2, 1), (3, 1)]
    assert {r.status for r in runs["poison"]} == {RunStatus.SUCCEEDED}
    assert all(FAULT in (r.error or "") for r in runs["poison"])


@run_async
async def test_a_deadline_beyond_the_calendar_fails_the_run_not_the_engine(
    clock: FakeClock, store: Store
) -> None:
    runs = await three_minutes(clock, store, timeout=timedelta(days=999_999_999))
    assert_the_others_went_on(runs)
    assert slots(runs["poison"]) == [(1, 1), (2, 1), (3, 1)]
    assert {r.status for r in runs["poison"]} == {RunStatus.FAILED}
    assert all("OverflowError" in (r.error or "") for r in runs["poison"])


@run_async
async def test_a_retry_time_beyond_the_calendar_is_noted_on_the_failed_run(
    clock: FakeClock, store: Store
) -> None:
    huge = timedelta(days=99_999_999)
    runs = await three_minutes(
        clock,
        store,
        target=store_target(fail),
        retries=2,
        retry_backoff=huge,
        retry_backoff_max=huge,
    )
    assert_the_others_went_on(runs)
    assert slots(runs["poison"]) == [(1, 1), (2, 1), (3, 1)]
    assert {r.status for r in runs["poison"]} == {RunStatus.FAILED}
    for run in runs["poison"]:
        assert "flaky failure" in (run.error or "")
        assert "not retried" in (run.error or "")
        assert "OverflowError" in (run.error or "")


def store_target(func: Callable[..., Any]) -> Any:
    from cronwork.targets import make_target

    return make_target(func)


@run_async
async def test_a_slot_that_cannot_be_planned_fails_alone(clock: FakeClock, store: Store) -> None:
    # The engine starts 70 s in, so the first slots are late: misfire_grace beyond the
    # calendar makes the poison job's lateness check overflow in the claim.
    runs = await three_minutes(
        clock, store, late=timedelta(seconds=70), misfire_grace=timedelta(days=999_999_999)
    )
    assert_the_others_went_on(runs)
    [first, *later] = runs["poison"]
    assert slots([first]) == [(1, 1)]
    assert first.status is RunStatus.FAILED
    assert "cannot plan this slot: OverflowError" in (first.error or "")
    # Its later slots came on time and ran.
    assert slots(later) == [(2, 1), (3, 1)]
    assert {r.status for r in later} == {RunStatus.SUCCEEDED}
