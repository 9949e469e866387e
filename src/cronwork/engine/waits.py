"""Dependency waits (``depends_on``) and trigger jobs (``after``/``on_failure``/``on_finish``).

The pure graph half of dependencies lives in `cronwork.dependencies`; this is the half that
reads the store while the engine runs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from cronwork.dependencies import (
    dependency_deadline,
    downstream_index,
    missing_message,
    stale_dependencies,
    triggered_run,
)
from cronwork.errors import JobNotFound
from cronwork.jobs import Job
from cronwork.runs import Run, RunStatus

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

T = TypeVar("T")


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
        if not self.waiting:
            return None
        earliest = min(w.deadline for w in self.waiting.values())
        if self.engine.shared and self.s.poll is not None:
            earliest = min(earliest, self.next_dep_poll)
        return earliest

    def load_triggers(self) -> dict[str, list[str]]:
        return downstream_index(self.store.triggered_jobs())

    async def refresh_triggers(self) -> None:
        self.downstream = await self.engine.off_loop(self.load_triggers)

    def fire_triggers_soon(self, job_id: str) -> None:
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
