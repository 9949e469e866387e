"""Notifications: finished runs are POSTed to their job's targets and the scheduler's defaults.

The engine runs on the fake clock; only the receiver's socket is real, so the tests wait (in
real time) for what it receives, or shut the scheduler down, which sends what is queued.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from enginekit import START, kept, run_async

from cronwork import AsyncScheduler
from cronwork.runs import RunStatus
from cronwork.stores import Store
from cronwork.testing import FakeClock
from webhookkit import receiver


def _scheduler(store: Store, clock: FakeClock, **settings: Any) -> AsyncScheduler:
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC", **settings)
    scheduler.notifier.backoff = 0.05  # retries in a blink; the receiver is local
    return scheduler


def _fails_then_succeeds(failures: int) -> Any:
    calls: list[int] = []

    def job() -> None:
        calls.append(1)
        if len(calls) <= failures:
            raise ValueError(f"attempt {len(calls)} went wrong")

    return job


@run_async
async def test_a_failed_run_is_posted_with_its_job_run_error_and_times(
    clock: FakeClock, store: Store
) -> None:
    with receiver() as hook:
        scheduler = _scheduler(store, clock, base_url="https://cron.example/")
        async with scheduler:
            await scheduler.add_job(
                "backup",
                kept(scheduler, _fails_then_succeeds(1)),
                "every 1m",
                notify=[f"{hook.url}/hook"],
            )
            await clock.run_for(timedelta(minutes=1))
            hook.wait_for(1)
        [run] = await scheduler.runs("backup")
    [body] = hook.bodies("/hook")
    assert body["event"] == "failed"
    assert body["status"] == "failed"
    assert (body["job"], body["run"], body["attempt"]) == ("backup", run.id, 1)
    assert body["error"] == "ValueError: attempt 1 went wrong"
    assert body["scheduled_for"] == (START + timedelta(minutes=1)).isoformat()
    assert body["started_at"] == run.started_at.isoformat()  # type: ignore[union-attr]
    assert body["finished_at"] == run.finished_at.isoformat()  # type: ignore[union-attr]
    assert body["url"] == f"https://cron.example/runs/{run.id}"
    assert body["text"].startswith("cronwork: job backup failed")
    assert f"<https://cron.example/runs/{run.id}|run {run.id}>" in body["text"]


@run_async
async def test_the_first_success_after_a_failure_is_posted_as_recovered(
    clock: FakeClock, store: Store
) -> None:
    with receiver() as hook:
        scheduler = _scheduler(store, clock)
        async with scheduler:
            await scheduler.add_job(
                "sync",
                kept(scheduler, _fails_then_succeeds(2)),
                "every 1m",
                notify=[{"url": hook.url, "on": ["failed", "recovered"]}],
            )
            await clock.run_for(timedelta(minutes=5))
    # Fails, fails, then succeeds three times: the first success is the recovery.
    assert [body["event"] for body in hook.bodies()] == ["failed", "failed", "recovered"]
    recovered = hook.bodies()[-1]
    assert recovered["status"] == "succeeded"
    assert recovered["error"] is None
    assert recovered["scheduled_for"] == (START + timedelta(minutes=3)).isoformat()


@run_async
async def test_a_success_alone_is_not_posted_by_default(clock: FakeClock, store: Store) -> None:
    with receiver() as hook:
        scheduler = _scheduler(store, clock, notify=[hook.url])
        async with scheduler:
            await scheduler.add_job("fine", print, "every 1m", notify=[hook.url])
            await clock.run_for(timedelta(minutes=3))
        # Shutting down sent whatever was queued.
        assert len(await scheduler.runs("fine", status="succeeded")) == 3
    assert hook.requests == 0


@run_async
async def test_each_target_hears_only_the_outcomes_it_asks_for(
    clock: FakeClock, store: Store
) -> None:
    with receiver() as hook:
        scheduler = _scheduler(store, clock, notify=[f"{hook.url}/default"])
        async with scheduler:
            await scheduler.add_job(
                "flaky",
                kept(scheduler, _fails_then_succeeds(1)),
                "every 1m",
                notify=[
                    {"url": f"{hook.url}/successes", "on": ["succeeded"]},
                    {"url": f"{hook.url}/timeouts", "on": ["timed_out"]},
                ],
            )
            await clock.run_for(timedelta(minutes=2))
    assert [b["event"] for b in hook.bodies("/default")] == ["failed"]
    assert [b["event"] for b in hook.bodies("/successes")] == ["succeeded"]
    assert hook.bodies("/timeouts") == []


@run_async
async def test_a_url_that_is_both_default_and_the_jobs_own_is_posted_once(
    clock: FakeClock, store: Store
) -> None:
    with receiver() as hook:
        scheduler = _scheduler(store, clock, notify=[hook.url])

        def boom() -> None:
            raise RuntimeError("no")

        async with scheduler:
            await scheduler.add_job("bad", kept(scheduler, boom), "every 1m", notify=[hook.url])
            await clock.run_for(timedelta(minutes=1))
    assert [b["job"] for b in hook.bodies()] == ["bad"]


@run_async
async def test_a_failed_attempt_that_is_retried_is_not_posted(
    clock: FakeClock, store: Store
) -> None:
    with receiver() as hook:
        scheduler = _scheduler(store, clock)
        async with scheduler:
            await scheduler.add_job(
                "retried",
                kept(scheduler, _fails_then_succeeds(3)),
                START + timedelta(minutes=1),
                retries=1,
                retry_backoff="10s",
                notify=[{"url": hook.url, "on": ["failed", "recovered"]}],
            )
            await clock.run_for(timedelta(minutes=2))
    # Attempt 1 fails and is retried (silence); attempt 2, the last, fails (one post).
    assert [(b["event"], b["attempt"]) for b in hook.bodies()] == [("failed", 2)]


@run_async
async def test_a_receiver_answering_500_is_tried_again(
    clock: FakeClock, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with receiver() as hook:
        hook.answers = [500, 503]
        scheduler = _scheduler(store, clock)

        def boom() -> None:
            raise RuntimeError("no")

        async with scheduler:
            await scheduler.add_job("bad", kept(scheduler, boom), "every 1m", notify=[hook.url])
            await clock.run_for(timedelta(minutes=1))
            hook.wait_for(1)
    assert hook.requests == 3
    assert [b["event"] for b in hook.bodies()] == ["failed"]
    assert not [r for r in caplog.records if r.name == "cronwork.notify"]


@pytest.mark.stores("memory")  # the engine's timing, not the store, is under test
@run_async
async def test_a_hanging_receiver_does_not_hold_up_other_runs(
    clock: FakeClock, store: Store
) -> None:
    with receiver() as hook:
        hook.hang.set()
        scheduler = _scheduler(store, clock)
        scheduler.notifier.timeout = 30  # the receiver hangs for the whole test

        def boom() -> None:
            raise RuntimeError("no")

        async with scheduler:
            await scheduler.add_job("bad", kept(scheduler, boom), "every 1m", notify=[hook.url])
            await scheduler.add_job("tick", print, "every 1m")
            await clock.run_for(timedelta(minutes=30))
            # Every run of both jobs happened on its slot while the receiver was stuck.
            assert hook.requests >= 1 and not hook.released.is_set()
            ticks = await scheduler.runs("tick", limit=100)
            assert len(ticks) == 30
            assert {r.status for r in ticks} == {RunStatus.SUCCEEDED}
            assert {r.lateness for r in ticks} == {0.0}
            assert len(await scheduler.runs("bad", limit=100)) == 30
            hook.released.set()


@run_async
async def test_urls_are_never_logged_in_full(
    clock: FakeClock, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cronwork")
    with receiver() as hook:
        hook.answers = [500] * 3
        port = hook.url.rsplit(":", 1)[1]
        answering = f"http://hookuser:hookpass@127.0.0.1:{port}/hooks/T0KEN-A?sig=S1GNATURE"
        # A port nothing listens on: the connection is refused.
        refused = "http://127.0.0.1:9/services/T0KEN-B"
        scheduler = _scheduler(store, clock, notify=[refused])
        scheduler.notifier.attempts = 3

        def boom() -> None:
            raise RuntimeError("no")

        async with scheduler:
            await scheduler.add_job("bad", kept(scheduler, boom), "every 1m", notify=[answering])
            await clock.run_for(timedelta(minutes=1))
    given_up = [r for r in caplog.records if r.name == "cronwork.notify"]
    # One line per run and target, after every attempt failed.
    assert len(given_up) == 2
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for secret in ("T0KEN", "S1GNATURE", "hookuser", "hookpass", "/hooks", "/services"):
        assert secret not in text
    assert f"http://127.0.0.1:{port}/…" in text
    assert "HTTP 500" in text
    # The user and password of the URL went as Basic auth, and only there.
    assert hook.authorizations == ["Basic aG9va3VzZXI6aG9va3Bhc3M="] * 3


@run_async
async def test_slots_missed_while_the_scheduler_was_down_are_posted(
    clock: FakeClock, store: Store
) -> None:
    with receiver() as hook:
        scheduler = _scheduler(store, clock)
        await scheduler.add_job("hourly", print, "0 * * * *", misfire="skip", notify=[hook.url])
        clock.set(START + timedelta(hours=3, minutes=30))  # no engine ran meanwhile
        async with scheduler:
            await clock.run_for(timedelta(minutes=1))
    bodies = sorted(hook.bodies(), key=lambda body: body["scheduled_for"])
    assert [(b["event"], b["status"]) for b in bodies] == [("missed", "missed")] * 3
    assert [b["scheduled_for"] for b in bodies] == [
        (START + timedelta(hours=hours)).isoformat() for hours in (1, 2, 3)
    ]
    assert bodies[0]["started_at"] is None
