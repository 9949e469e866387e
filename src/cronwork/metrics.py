"""Prometheus metrics of a scheduler and its store, in the text format ``/metrics`` serves.

Two sources feed them. The engine's events feed the counter of runs by final status and the
histograms of run duration and start lateness, in the process that runs the engine. The store
feeds the gauges (runs running now, jobs by state, and, when asked, each job's last success),
read when the metrics are rendered, so a process with no engine (an API-only node) reports
them too. Every metric lives in the `Metrics` object's own registry, never the global one.

Label cardinality stays bounded whatever the number of jobs: no metric has a job label unless
``per_job=True``, which adds one gauge with a series per job (and one store query per job at
each scrape: meant for a few hundred jobs, not 100k).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cronwork.errors import CronworkError

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
    from prometheus_client import generate_latest as _generate
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError:  # pragma: no cover - the extra is installed wherever the tests run
    raise CronworkError("metrics need prometheus-client: pip install 'cronwork[web]'") from None

from cronwork.events import FINAL_EVENTS, Event, EventType, Listeners
from cronwork.runs import RunStatus

if TYPE_CHECKING:
    from cronwork.stores import Store

__all__ = ["CountsJobs", "Metrics", "render_metrics"]

# Seconds; runs last from milliseconds (functions) to hours (backups).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600)
# Seconds; on time is a few milliseconds late, a loaded machine tens to hundreds.
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300)
# Runs whose slot is in the past on purpose: their start minus slot says nothing of the engine.
_NOT_LATE = frozenset({"retry", "backfill"})
JOB_STATES = ("active", "paused", "broken")


@runtime_checkable
class CountsJobs(Protocol):
    """A store that counts its jobs by state itself (cheaper than reading every job)."""

    def job_counts(self) -> dict[str, int]:
        """How many jobs are ``active``, ``paused`` and ``broken``."""
        ...


@runtime_checkable
class CountsRunning(Protocol):
    """A store that counts its running runs itself (reading every unfinished run, the
    runs claimed ahead among them, cost a busy store tens of milliseconds)."""

    def running_count(self) -> int:
        """How many runs are running on any node."""
        ...


class Metrics:
    """The metrics of one scheduler or store; ``render()`` gives the text to serve.

    - ``store``: where the gauges are read at each render (None: no gauges)
    - ``per_job``: add ``cronwork_job_last_success_timestamp_seconds{job=...}``
    - ``cache_for``: seconds the store's figures are reused between renders (0: read each time)
    """

    def __init__(
        self, store: Store | None = None, *, per_job: bool = False, cache_for: float = 0.0
    ) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "cronwork_runs",
            "Runs that ended, by final status.",
            ["status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "cronwork_run_duration_seconds",
            "How long runs took, from start to end.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.lateness = Histogram(
            "cronwork_run_lateness_seconds",
            "Start minus slot of runs of the schedule (retries and backfills left out).",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        # Children bound once: labels() costs a lock and a lookup on the path of every run.
        self._by_status = {status: self.runs.labels(status.value) for status in FINAL_EVENTS}
        if store is not None:
            self.registry.register(StoreCollector(store, per_job=per_job, cache_for=cache_for))

    def attach(self, listeners: Listeners) -> Callable[[], None]:
        """Count the runs that ``listeners`` announce; return a function that stops counting."""
        removers = [listeners.add(EventType.RUN_STARTED, self._started)]
        removers += [listeners.add(kind, self._finished) for kind in FINAL_EVENTS.values()]

        def detach() -> None:
            for remove in removers:
                remove()

        return detach

    def _started(self, event: Event) -> None:
        run = event.run
        if run is None or run.trigger in _NOT_LATE:
            return
        lateness = run.lateness
        if lateness is not None:
            self.lateness.observe(max(lateness, 0.0))

    def _finished(self, event: Event) -> None:
        run = event.run
        if run is None:
            return
        counter = self._by_status.get(run.status)
        if counter is not None:
            counter.inc()
        duration = run.duration
        if duration is not None:
            self.duration.observe(max(duration, 0.0))

    def render(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and the Content-Type to serve them with."""
        return _generate(self.registry), CONTENT_TYPE_LATEST


def render_metrics(store: Store, *, per_job: bool = False) -> tuple[bytes, str]:
    """The store's gauges alone, rendered once (for a process with no `Metrics` to keep)."""
    return Metrics(store, per_job=per_job).render()


class StoreCollector(Collector):
    """The gauges read from the store when the metrics are rendered."""

    def __init__(self, store: Store, *, per_job: bool = False, cache_for: float = 0.0) -> None:
        self.store = store
        self.per_job = per_job
        self.cache_for = cache_for
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._cached_at = float("-inf")

    def describe(self) -> list[Metric]:
        """The metric names, without reading the store (the registry checks names so)."""
        return self._families(running=None, jobs=None, last_success=None)

    def collect(self) -> Iterator[Metric]:
        """Read the store (or reuse figures younger than ``cache_for``) and yield the gauges."""
        with self._lock:
            if time.monotonic() - self._cached_at >= self.cache_for:
                self._cached = self._read()
                self._cached_at = time.monotonic()
            yield from self._cached

    def _read(self) -> list[Metric]:
        store = self.store
        if isinstance(store, CountsRunning):
            running = store.running_count()
        else:
            running = 0
            for node in store.owners():
                running += sum(
                    1 for run in store.unfinished_runs(node) if run.status is RunStatus.RUNNING
                )
        if isinstance(store, CountsJobs):
            jobs = store.job_counts()
            job_ids: list[str] = []
        else:
            every = store.jobs()
            jobs = dict.fromkeys(JOB_STATES, 0)
            for job in every:
                # A broken job counts as broken whether or not it is paused too.
                jobs[
                    "broken" if job.broken is not None else "paused" if job.paused else "active"
                ] += 1
            job_ids = [job.id for job in every]
        last_success: dict[str, float] | None = None
        if self.per_job:
            if not job_ids:
                job_ids = [job.id for job in store.jobs()]
            last_success = {}
            for job_id in job_ids:
                run = store.last_finished(job_id, RunStatus.SUCCEEDED)
                if run is not None and run.finished_at is not None:
                    last_success[job_id] = run.finished_at.timestamp()
        return self._families(running=running, jobs=jobs, last_success=last_success)

    def _families(
        self,
        *,
        running: int | None,
        jobs: dict[str, int] | None,
        last_success: dict[str, float] | None,
    ) -> list[Metric]:
        running_gauge = GaugeMetricFamily(
            "cronwork_runs_running", "Runs running now, on every node of the store."
        )
        if running is not None:
            running_gauge.add_metric([], running)
        jobs_gauge = GaugeMetricFamily(
            "cronwork_jobs", "Jobs by state: active, paused or broken.", labels=["state"]
        )
        for state in JOB_STATES:
            if jobs is not None:
                jobs_gauge.add_metric([state], jobs.get(state, 0))
        families: list[Metric] = [running_gauge, jobs_gauge]
        if self.per_job:
            last = GaugeMetricFamily(
                "cronwork_job_last_success_timestamp_seconds",
                "When each job's last successful run ended (Unix time).",
                labels=["job"],
            )
            for job_id, moment in sorted((last_success or {}).items()):
                last.add_metric([job_id], moment)
            families.append(last)
        return families
