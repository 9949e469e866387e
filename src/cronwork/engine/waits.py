"""Dependency waits (``depends_on``) and trigger jobs (``after``/``on_failure``/``on_finish``).

The pure graph half of dependencies (and the checks of a new or removed job) lives in
`cronwork.dependencies`; this is the half that reads the store while the engine runs: is each
``depends_on`` job's last success fresh, and does a trigger job fire now.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cronwork.dependencies import downstream_index
from cronwork.errors import JobNotFound
from cronwork.jobs import Job
from cronwork.runs import Run, RunStatus
from cronwork.stores import Store
from cronwork.timing.triggers import TriggeredSchedule

from .runstate import (
    Verdict,
    Waiting,
    extra,
    isolated,
    log_slot,
    logger,
)

if TYPE_CHECKING:
    from .core import Engine

# -- what the engine asks the store ------------------------------------------------------

# Outcomes that count as "ended" for on_finish triggers: the run did start (or was lost).
ENDED = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.CANCELLED,
        RunStatus.LOST,
    }
)
FAILURES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST})

# How long a run waits for its dependencies when the job sets no dependency_timeout and has
# no next slot to bound the wait (one-shot and triggered jobs).
DEFAULT_WAIT = timedelta(hours=1)
MIN_WAIT = timedelta(minutes=1)
MAX_WAIT = timedelta(days=1)


def previous_slot(store: Store, job: Job, run: Run) -> datetime | None:
    """The slot of the job's latest run before ``run`` (any status), else its creation."""
    for earlier in store.runs(job.id, limit=20):
        if earlier.scheduled_for < run.scheduled_for:
            return earlier.scheduled_for
    return job.created_at


def stale_dependencies(
    store: Store, job: Job, run: Run
) -> tuple[datetime | None, list[tuple[str, Run | None]]]:
    """The previous slot, and each ``depends_on`` id lacking a success after it (with its last).

    One pass over the store serves both the readiness check and the skip message.
    """
    if not job.depends_on:
        return None, []
    since = previous_slot(store, job, run)
    stale: list[tuple[str, Run | None]] = []
    for name in job.depends_on:
        last = store.last_finished(name, RunStatus.SUCCEEDED)
        finished = last.finished_at if last is not None else None
        if finished is None or (since is not None and finished <= since):
            stale.append((name, last))
    return since, stale


def unmet_dependencies(store: Store, job: Job, run: Run) -> list[str]:
    """The ``depends_on`` ids with no successful run that finished after the previous slot."""
    return [name for name, _ in stale_dependencies(store, job, run)[1]]


def dependency_deadline(job: Job, run: Run, waiting_since: datetime) -> datetime:
    """When a run waiting for its dependencies gives up and ends skipped.

    ``dependency_timeout`` when set; otherwise until the job's next slot (so waiting runs do
    not pile up), kept between one minute and one day; one hour for jobs with no next slot.
    """
    if job.dependency_timeout is not None:
        return waiting_since + job.dependency_timeout
    following = job.schedule.next_after(run.scheduled_for)
    if following is None:
        return waiting_since + DEFAULT_WAIT
    wait = min(MAX_WAIT, max(MIN_WAIT, following - run.scheduled_for))
    return waiting_since + wait


def missing_message(since: datetime | None, stale: list[tuple[str, Run | None]]) -> str:
    """``skipped: dependency not met: extract (last success ...)`` for a run's error."""
    parts = []
    for name, last in stale:
        if last is None or last.finished_at is None:
            parts.append(f"{name} (no successful run yet)")
        else:
            parts.append(
                f"{name} (last success {last.finished_at.isoformat()}, "
                f"not after the previous slot {since.isoformat() if since else '-'})"
            )
    return "skipped: dependency not met: " + ", ".join(parts)


def matches(on: str, status: RunStatus) -> bool:
    """Whether a final outcome ``status`` fires a trigger waiting for ``on``."""
    if on == "success":
        return status is RunStatus.SUCCEEDED
    if on == "failure":
        return status in FAILURES
    return status in ENDED


def triggered_run(store: Store, job: Job, now: datetime) -> Run | None:
    """The run a trigger job gets now, or None if some upstream job has not ended as needed.

    Every upstream job must have a final run with the awaited outcome that finished after this
    job's last slot (fan-in). The new run's slot is the latest of those finish times, so two
    nodes that see the same completions compute the same slot and the store keeps one.
    """
    schedule = job.schedule
    if not isinstance(schedule, TriggeredSchedule) or job.paused or job.broken:
        return None
    latest = store.runs(job.id, limit=1)
    since = latest[0].scheduled_for if latest else job.created_at
    finish_times = []
    for name in schedule.upstream:
        last = store.last_finished(name)
        if last is None or last.finished_at is None or not matches(schedule.on, last.status):
            return None
        if since is not None and last.finished_at <= since:
            return None
        finish_times.append(last.finished_at)
    slot = max(finish_times)
    return Run(
        id="",
        job_id=job.id,
        scheduled_for=slot,
        due_at=max(slot, now),
        created_at=now,
        trigger="dependency",
    )


class Waits:
    """Runs waiting for their dependencies, and the trigger jobs each job's end starts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.s = engine.s
        self.store = engine.store
        self.clock = engine.clock
        # Runs waiting for upstream successes, and runs whose wait is over.
        self.waiting: dict[str, Waiting] = {}
        self.deps_met: set[str] = set()
        self._dep_check: asyncio.Task[None] | None = None
        self._dep_again = False
        self.next_dep_poll = self.clock.now()
        # Which trigger jobs (after/on_failure/on_finish) each job's end may start.
        self.downstream: dict[str, list[str]] = {}

    def ready_to_run(self, run: Run, job: Job, now: datetime) -> bool:
        """False (and the run parked) while a ``depends_on`` job lacks a fresh success.

        Called only for jobs with ``depends_on``: the caller checks, sparing every other run
        the call.
        """
        if run.id in self.deps_met:
            self.deps_met.discard(run.id)
            return True
        if run.id not in self.waiting:
            run = run.replace(queued_at=run.queued_at or now, waited_for=job.depends_on)
            self.waiting[run.id] = Waiting(run, job, dependency_deadline(job, run, now))
        self.check_dependencies_soon()
        return False

    def check_dependencies_soon(self) -> None:
        """Check the waiting runs' dependencies in an engine task."""
        if self._dep_check is not None and not self._dep_check.done():
            self._dep_again = True  # the running check looks once more when it is done
            return
        self._dep_check = self.engine.spawn(self._check_dependencies())

    async def _check_dependencies(self) -> None:
        while True:
            self._dep_again = False
            waiting = list(self.waiting.values())
            if not waiting:
                return
            await self.engine.writer.write_now()
            verdicts = await self.engine.db(self._dependency_verdicts, waiting, self.clock.now())
            now = self.clock.now()
            isolated(
                verdicts,
                functools.partial(self._apply_verdict, now),
                lambda verdict, exc: self.engine.admission.fault(verdict[0].run, exc),
            )
            self.engine.admission.pump()
            if not self._dep_again:
                return

    def _apply_verdict(self, now: datetime, verdict: Verdict) -> None:
        entry, missing, outcome = verdict
        run_id = entry.run.id
        if self.waiting.get(run_id) is not entry:
            return  # cancelled or released meanwhile
        if isinstance(outcome, Exception):
            raise outcome  # the store could not tell; the run fails with that error
        if not missing:
            del self.waiting[run_id]
            self.deps_met.add(run_id)
            self.engine.admission.arrive(entry.run, now)
        elif outcome is not None:
            del self.waiting[run_id]
            self._dependency_timeout(entry, outcome)

    def _dependency_verdicts(self, waiting: list[Waiting], now: datetime) -> list[Verdict]:
        """Per waiting run: the stale upstream jobs, and the give-up message or the error."""
        verdicts: list[Verdict] = []

        def judge(entry: Waiting) -> None:
            since, stale = stale_dependencies(self.store, entry.job, entry.run)
            message = None
            if stale and now >= entry.deadline:
                message = missing_message(since, stale)
            verdicts.append((entry, [name for name, _ in stale], message))

        isolated(waiting, judge, lambda entry, exc: verdicts.append((entry, [], exc)))
        return verdicts

    def _dependency_timeout(self, entry: Waiting, message: str) -> None:
        run, job = entry.run, entry.job
        log_slot(run, "gave up waiting for", message)
        done = self.engine.finish_unstarted(run, job, RunStatus.SKIPPED, message)
        # A run that never got its dependencies counts against the job's retries.
        if run.attempt <= job.retries and not self.engine.stopping:
            self.engine.spawn(self.engine.launcher.retry(done, job))

    def dependency_wake(self) -> datetime | None:
        """When the loop must wake for waiting runs (a deadline or a poll), if any."""
        if not self.waiting:
            return None
        earliest = min(w.deadline for w in self.waiting.values())
        if self.engine.shared and self.s.poll is not None:
            earliest = min(earliest, self.next_dep_poll)
        return earliest

    def load_triggers(self) -> dict[str, list[str]]:
        """Read which trigger jobs each job's end may start (on the store thread)."""
        return downstream_index(self.store.triggered_jobs())

    async def refresh_triggers(self) -> None:
        """Re-read the trigger jobs another process may have added."""
        self.downstream = await self.engine.off_loop(self.load_triggers)

    def fire_triggers_soon(self, job_id: str) -> None:
        """Start the trigger jobs of ``job_id`` that its end fires, in a task."""
        names = self.downstream.get(job_id)
        if names:
            self.engine.spawn(self._fire_triggers(list(names)))

    async def _fire_triggers(self, names: list[str]) -> None:
        await self.engine.writer.write_now()
        started = await self.engine.db(self._insert_triggered, names, self.clock.now())
        for run, job in started:
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "job %s triggered by %s",
                    job.id,
                    job.schedule.describe(),
                    extra=extra(job.id, run.id),
                )
        if started:
            self.engine.nudge()

    def _insert_triggered(self, names: list[str], now: datetime) -> list[tuple[Run, Job]]:
        started: list[tuple[Run, Job]] = []

        def trigger(name: str) -> None:
            try:
                job = self.store.get_job(name)
            except JobNotFound:
                return
            run = triggered_run(self.store, job, now)
            if run is None:
                return
            # The slot is the upstream finish time, so a second node inserts nothing.
            stored = self.store.add_run(run)
            if stored is not None:
                started.append((stored, job))

        isolated(names, trigger, self.engine.chore_fault)
        return started

    def job_changed(self, job_id: str, job: Job | None) -> None:
        """Update which jobs trigger ``job_id`` (None: it was removed)."""
        for names in self.downstream.values():
            if job_id in names:
                names.remove(job_id)
        if job is not None:
            for name in downstream_index([job]):
                self.downstream.setdefault(name, []).append(job_id)
