"""Prometheus metrics: counters and histograms fed by the engine, gauges read from the store.

Every test reads the exposition text back with prometheus_client's parser, as a scraper does.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import prometheus_client
from enginekit import START, eventually, kept, run_async
from prometheus_client.parser import text_string_to_metric_families

from cronwork import AsyncScheduler
from cronwork.metrics import Metrics, render_metrics
from cronwork.runs import RunStatus
from cronwork.stores import Store
from cronwork.testing import FakeClock


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered text: (name, sorted labels) -> value."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def _boom() -> None:
    raise RuntimeError("no")


@run_async
async def test_runs_are_counted_by_final_status_with_their_duration_and_lateness(
    clock: FakeClock, store: Store
) -> None:
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    metrics = Metrics(store)
    metrics.attach(scheduler.listeners)
    async with scheduler:
        await scheduler.add_job("ok", print, "every 1m")
        await scheduler.add_job(
            "bad", kept(scheduler, _boom), "every 2m", retries=1, retry_backoff="10s"
        )
        await clock.run_for(timedelta(minutes=5))
    seen = samples(metrics)
    assert seen[("cronwork_runs_total", (("status", "succeeded"),))] == 5
    # Two slots of "bad", each tried twice.
    assert seen[("cronwork_runs_total", (("status", "failed"),))] == 4
    assert seen[("cronwork_runs_total", (("status", "lost"),))] == 0
    assert seen[("cronwork_run_duration_seconds_count", ())] == 9
    # Retries start after their backoff on purpose: only the 7 first attempts are measured,
    # each on its slot (the fake clock does not move while a run starts).
    assert seen[("cronwork_run_lateness_seconds_count", ())] == 7
    assert seen[("cronwork_run_lateness_seconds_sum", ())] == 0
    assert seen[("cronwork_run_lateness_seconds_bucket", (("le", "0.001"),))] == 7


@run_async
async def test_the_store_alone_gives_jobs_by_state_and_running_runs(
    clock: FakeClock, store: Store
) -> None:
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    await scheduler.add_job("slow", kept(scheduler, slow), START + timedelta(seconds=1))
    await scheduler.add_job("idle", print, "every 1h")
    await scheduler.add_job("held", print, "every 1h", paused=True)
    await scheduler.add_job("gone", print, "every 1h")
    await scheduler.start()
    try:
        await clock.run_for(timedelta(seconds=1), wait_for_runs=False)
        # After the engine's check of targets at start, which would mend it.
        store.update_job(store.get_job("gone").replace(broken="cannot import gone"))
        await eventually(lambda: bool(store.runs("slow", RunStatus.RUNNING)))
        # No engine and no events here: an API-only process reading the same store.
        body, _ = render_metrics(store)
        seen = samples(Metrics(store))
        assert seen[("cronwork_runs_running", ())] == 1
        # A store that cannot count its running runs is read run by run, to the same figure.
        plain = samples(Metrics(_Plain(store)))  # type: ignore[arg-type]
        assert plain[("cronwork_runs_running", ())] == 1
        assert seen[("cronwork_jobs", (("state", "active"),))] == 2
        assert seen[("cronwork_jobs", (("state", "paused"),))] == 1
        assert seen[("cronwork_jobs", (("state", "broken"),))] == 1
        assert b"cronwork_runs_running 1.0" in body
    finally:
        release.set()
        await scheduler.shutdown()
    assert samples(Metrics(store))[("cronwork_runs_running", ())] == 0


@run_async
async def test_per_job_labels_only_when_asked_for(clock: FakeClock, store: Store) -> None:
    scheduler = AsyncScheduler(store, clock=clock, timezone="UTC")
    async with scheduler:
        await scheduler.add_job("ok", print, "every 1m")
        await scheduler.add_job("bad", kept(scheduler, _boom), "every 1m")
        await clock.run_for(timedelta(minutes=2))
    body, _ = Metrics(store).render()
    assert b"job=" not in body
    seen = samples(Metrics(store, per_job=True))
    [last] = await scheduler.runs("ok", status="succeeded", limit=1)
    assert last.finished_at is not None
    key = ("cronwork_job_last_success_timestamp_seconds", (("job", "ok"),))
    assert seen[key] == last.finished_at.timestamp()
    # A job that never succeeded has no series rather than a made-up time.
    assert not [name for name, labels in seen if ("job", "bad") in labels]


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.runs.labels("failed").inc()
    assert samples(first)[("cronwork_runs_total", (("status", "failed"),))] == 1
    assert samples(second)[("cronwork_runs_total", (("status", "failed"),))] == 0
    default = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    assert b"cronwork_" not in default


class _Plain:
    """A store without job_counts and running_count: the metrics count from jobs() and
    unfinished_runs()."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        if name in ("job_counts", "running_count"):
            raise AttributeError(name)
        return getattr(self._store, name)


def test_a_store_that_cannot_count_jobs_is_counted_job_by_job(store: Store) -> None:
    scheduler = AsyncScheduler(store, timezone="UTC")
    asyncio.run(scheduler.add_job("a", print, "every 1h"))
    asyncio.run(scheduler.add_job("b", print, "every 1h", paused=True))
    seen = samples(Metrics(_Plain(store)))  # type: ignore[arg-type]
    assert seen[("cronwork_jobs", (("state", "active"),))] == 1
    assert seen[("cronwork_jobs", (("state", "paused"),))] == 1
    assert seen[("cronwork_jobs", (("state", "broken"),))] == 0
