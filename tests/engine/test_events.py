"""Listeners see what happens; a listener that raises does not break the engine."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from enginekit import START, kept, run_async

from cronwork import AsyncScheduler, CronworkError, Event
from cronwork.stores import Store
from cronwork.testing import FakeClock


@run_async
async def test_job_and_run_events_in_order(clock: FakeClock, store: Store) -> None:
    seen: list[tuple[str, str]] = []
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    scheduler.on("*", lambda e: seen.append((e.type.value, e.job_id)))

    def boom() -> None:
        raise ValueError("no")

    async with scheduler:
        await scheduler.add_job("ok", print, START + timedelta(minutes=1))
        await scheduler.add_job(
            "bad", kept(scheduler, boom), START + timedelta(minutes=2), retries=1
        )
        await clock.run_for(timedelta(minutes=5))
        await scheduler.pause_job("ok")
        await scheduler.resume_job("ok")
        await scheduler.remove_job("ok")
    assert seen == [
        ("job_added", "ok"),
        ("job_added", "bad"),
        ("run_started", "ok"),
        ("run_succeeded", "ok"),
        ("run_started", "bad"),
        ("run_failed", "bad"),
        ("run_retried", "bad"),
        ("run_started", "bad"),
        ("run_failed", "bad"),
        ("job_paused", "ok"),
        ("job_resumed", "ok"),
        ("job_removed", "ok"),
    ]


@run_async
async def test_a_raising_listener_is_logged_and_ignored(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, store: Store
) -> None:
    good: list[Event] = []

    def bad(event: Event) -> None:
        raise RuntimeError("listener bug")

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        scheduler.on("run_succeeded", bad)
        scheduler.on("run_succeeded", good.append)
        await scheduler.add_job("j", print, "every 1m")
        with caplog.at_level(logging.ERROR, logger="cronwork"):
            await clock.run_for(timedelta(minutes=3))
    assert len(good) == 3
    assert "listener bug" in caplog.text


@run_async
async def test_async_listeners_are_awaited(clock: FakeClock, store: Store) -> None:
    seen: list[str] = []

    async def listener(event: Event) -> None:
        seen.append(event.type.value)

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        scheduler.on("run_succeeded", listener)
        await scheduler.add_job("j", print, "every 1m")
        await clock.run_for(timedelta(minutes=2))
    assert seen == ["run_succeeded"] * 2


def test_unknown_event_name_is_a_clear_error(store: Store) -> None:
    scheduler = AsyncScheduler(store)
    with pytest.raises(CronworkError, match="unknown event 'run_exploded'"):
        scheduler.on("run_exploded", print)


@run_async
async def test_unsubscribe(clock: FakeClock, store: Store) -> None:
    seen: list[Event] = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        off = scheduler.on("run_succeeded", seen.append)
        await scheduler.add_job("j", print, "every 1m")
        await clock.run_for(timedelta(minutes=1))
        off()
        await clock.run_for(timedelta(minutes=2))
    assert len(seen) == 1


@run_async
async def test_log_records_carry_job_and_run_ids(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, store: Store
) -> None:
    def boom() -> None:
        raise ValueError("no")

    async with AsyncScheduler(store, clock=clock, timezone="UTC") as scheduler:
        await scheduler.add_job("bad", kept(scheduler, boom), START + timedelta(minutes=1))
        with caplog.at_level(logging.WARNING, logger="cronwork"):
            await clock.run_for(timedelta(minutes=2))
        [run] = await scheduler.runs("bad")
    [record] = [r for r in caplog.records if r.name == "cronwork.scheduler"]
    assert record.job_id == "bad" and record.run_id == run.id  # type: ignore[attr-defined]


def test_a_listener_for_some_jobs_only_lets_the_engine_skip_the_others_events() -> None:
    from cronwork.events import Event, EventType, Listeners

    listeners = Listeners()
    heard: list[str] = []
    remove = listeners.add(
        EventType.RUN_FAILED, lambda e: heard.append(e.job_id), only=lambda job: job == "loud"
    )
    assert listeners.wants(EventType.RUN_FAILED, "loud")
    assert not listeners.wants(EventType.RUN_FAILED, "quiet")  # no event is built for it
    assert listeners.wants(EventType.RUN_FAILED)  # some job's runs are wanted
    assert not listeners.wants(EventType.RUN_SUCCEEDED, "loud")
    for job in ("quiet", "loud"):
        listeners.emit(Event(EventType.RUN_FAILED, job, START, job=job))  # type: ignore[arg-type]
    assert heard == ["loud"]

    everything = listeners.add("*", lambda e: None)
    assert listeners.wants(EventType.RUN_FAILED, "quiet")  # someone listens to every run
    everything()
    remove()
    assert not listeners.wants(EventType.RUN_FAILED)
