"""The engine's chores: lease renewal and expiry (with recovery of dead nodes' runs),
cancel polls, broken-target checks, trigger refresh and pruning, each on the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from cronwork.errors import CronworkError, JobNotFound, TargetError
from cronwork.events import Event, EventType
from cronwork.executors.base import ShowsOutput
from cronwork.executors.procs import kill_runs, node_is_dead, run_of
from cronwork.jobs import Job
from cronwork.runs import Run
from cronwork.targets import Target, resolve_target

from .runstate import (
    Active,
    extra,
    isolated,
    logger,
)
from .settings import (
    BROKEN_CHECK_EVERY,
    DEFAULT_POLL,
    OUTPUT_FLUSH_EVERY,
    PRUNE_EVERY,
    TRIGGERS_REFRESH_EVERY,
)

if TYPE_CHECKING:
    from .core import Engine


class Chores:
    """The engine's periodic work, each on the injected clock: lease renewal and expiry,
    cancel polls, broken-target checks, trigger refresh and pruning.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.s = engine.s
        self.store = engine.store
        self.clock = engine.clock
        now = self.clock.now()
        settings = engine.s
        self.next_renew = now + settings.lease / 3
        self._next_expire = now + settings.lease
        self._next_broken = now + BROKEN_CHECK_EVERY
        self._next_prune = now + PRUNE_EVERY
        self.next_poll = now if settings.poll is None else now + settings.poll
        self._next_triggers = now + TRIGGERS_REFRESH_EVERY
        # Runs the faces asked to cancel, handled at the next turn of the loop.
        self.cancel_ids: set[str] = set()
        # Running runs whose output can be read while they run (ShowsOutput), by run id.
        self.tails: dict[str, tuple[Active, ShowsOutput]] = {}
        self.next_output = now + OUTPUT_FLUSH_EVERY
        # Until when runs may start: the leases of the runs held, less a margin (see
        # may_start); None while no run is held.
        self._start_by: datetime | None = None
        self._lapse_logged = False

    def follow_output(self, active: Active, execution: ShowsOutput) -> None:
        """Copy ``active``'s output into its record while it runs (see flush_output)."""
        if not self.tails:
            self.next_output = self.clock.now() + OUTPUT_FLUSH_EVERY
        self.tails[active.run.id] = (active, execution)

    def flush_output(self) -> None:
        """Queue the record of each followed run whose output changed since the last flush.

        Through the writer, like every record: a run that finished meanwhile is written
        finished, never running again.
        """
        for run_id, (active, execution) in list(self.tails.items()):
            if active.outcome is not None:
                del self.tails[run_id]
                continue
            text = execution.output_so_far()
            if text and text != active.live_output:
                active.live_output = text
                self.engine.save(active)

    def claimed(self, now: datetime) -> None:
        """Runs were claimed at ``now``, under leases until ``now + lease``."""
        if self._start_by is None:
            self._renewed(now)

    def _renewed(self, now: datetime | None) -> None:
        """Every run held has a lease until ``now + lease`` (None: no run is held)."""
        self._lapse_logged = False
        # A margin of a sixth of the lease, for the time a start takes and the measured offset
        # between the engine's clock and the store's.
        self._start_by = None if now is None else now + self.s.lease * 5 / 6

    def may_start(self) -> bool:
        """False once the leases of the runs held could have run out unrenewed (the store
        could not be reached): another node may then take those runs as lost and retry them,
        so this one starts nothing until a renewal tells which runs are still its own."""
        start_by = self._start_by
        if start_by is None or self.clock.now() < start_by:
            return True
        if not self._lapse_logged:
            self._lapse_logged = True
            logger.warning(
                "the leases of this node's runs could have run out while the store could not "
                "be reached; no run starts until they are renewed"
            )
        return False

    async def _disown_lost(self) -> None:
        """After leases lapsed: let go of the unstarted runs another node took as lost."""
        mine = await self.engine.db(self.store.unfinished_runs, self.s.node)
        owned = {run.id for run in mine}
        gone = [run for run in self.engine.admission.unstarted() if run.id not in owned]
        if gone:
            logger.warning(
                "%d unstarted run(s) of this node were taken as lost while the store could not "
                "be reached; their retries run instead",
                len(gone),
            )
            self.engine.admission.disown(gone)

    def poll_now(self, now: datetime) -> None:
        """Poll for cancel requests and trigger jobs at the next turn of the loop."""
        self.next_poll = min(self.next_poll, now)
        self._next_triggers = min(self._next_triggers, now)

    async def maintain(self, now: datetime) -> None:
        """Do the chores that are due at ``now``; called by the loop at each turn."""
        s = self.s
        if self.engine.admission.owns_runs() and now >= self.next_renew:
            await self.engine.db(self.store.renew_leases, s.node, now + s.lease)
            # Only once renewed: a renewal that failed is tried again at the next turn.
            self.next_renew = now + s.lease / 3
            lapsed = not self.may_start()
            self._renewed(now)
            if lapsed:
                await self._disown_lost()
        elif not self.engine.admission.owns_runs():
            self.next_renew = now + s.lease / 3
            self._renewed(None)
        # The memory store has no other node whose leases could run out, and a scan of every
        # run would stall the loop; it is checked once at start.
        if self.engine.shared and now >= self._next_expire:
            self._next_expire = now + s.lease
            await self.handle_lost(await self.engine.db(self.expire, now))
        if s.poll is not None and now >= self.next_poll:
            self.next_poll = now + s.poll
            requested = await self.engine.db(self.store.cancel_requests, s.node)
            isolated(
                [run.id for run in requested], self.engine.cancel_requested, self.engine.chore_fault
            )
        if self.cancel_ids:
            ids, self.cancel_ids = self.cancel_ids, set()
            isolated(ids, self.engine.cancel_requested, self.engine.chore_fault)
        if now >= self._next_broken:
            self._next_broken = now + BROKEN_CHECK_EVERY
            self.engine.spawn(self.engine.off_loop(self.check_targets, now))
        if self.engine.waits.waiting:
            wake = self.engine.waits.dependency_wake()
            if wake is not None and now >= wake:
                self.engine.waits.next_dep_poll = now + (s.poll or DEFAULT_POLL)
                self.engine.waits.check_dependencies_soon()
        if self.engine.shared and now >= self._next_triggers:
            self._next_triggers = now + TRIGGERS_REFRESH_EVERY
            self.engine.spawn(self.engine.waits.refresh_triggers())
        if self.tails and now >= self.next_output:
            self.next_output = now + OUTPUT_FLUSH_EVERY
            self.flush_output()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            self.engine.spawn(self.engine.off_loop(self._prune, now))

    def expire(self, now: datetime) -> list[Run]:
        """Lose the runs of nodes known to have ended, once what is left of their processes
        is killed, and the runs whose lease ran out."""
        dead = [n for n in self.store.owners() if n != self.s.node and node_is_dead(n)]
        # Scheduled runs too: the record of a start may not have been written when it died.
        unfinished = {
            f"{node}/{run.id}" for node in dead for run in self.store.unfinished_runs(node)
        }
        if unfinished:
            kill_runs(lambda tag: run_of(tag) in unfinished)
        return self.store.expire_leases(now, dead)

    def _prune(self, now: datetime) -> None:
        removed = self.store.prune(now, keep_last=self.s.keep_runs, older_than=self.s.keep_runs_for)
        if removed:
            logger.debug("pruned %d old run(s)", removed)

    def check_targets(self, now: datetime) -> None:
        """Set aside jobs whose target cannot be resolved here; restore those that can again."""
        # Each distinct target is resolved once, and only broken jobs and jobs of a failing
        # target are loaded: loading every job of a big store took most of the engine's start,
        # and each periodic check held the store thread, and with it claims, for as long.
        errors: dict[tuple[str, str], str | None] = {}
        for kind, ref in self.store.named_targets():
            errors[kind, ref] = self._target_error(Target(kind, ref))  # type: ignore[arg-type]
        failing = [pair for pair, error in errors.items() if error is not None]
        jobs = self.store.jobs_to_check(failing)
        isolated(jobs, functools.partial(self._check_target, errors, now), self.engine.chore_fault)

    def _check_target(
        self, errors: dict[tuple[str, str], str | None], now: datetime, job: Job
    ) -> None:
        target = job.target
        if job.broken is None and (target.func is not None or target.command is not None):
            return
        pair = (target.kind, target.ref)
        if pair not in errors or target.func is not None or target.command is not None:
            errors[pair] = self._target_error(target)
        error = errors[pair]
        if error == job.broken:
            return
        if error is not None:
            logger.error("job %s is set aside: %s", job.id, error, extra=extra(job.id))
            fixed = job.replace(broken=error)
            kind = EventType.JOB_BROKEN
        else:
            logger.info("job %s can run again", job.id, extra=extra(job.id))
            fixed = job.replace(broken=None, next_run_at=job.schedule.next_after(now))
            kind = EventType.JOB_MODIFIED
        try:
            self.store.update_job(fixed)
        except CronworkError:
            return
        if self.s.listeners.wants(kind):
            self.s.listeners.emit(Event(kind, job.id, now, job=fixed, detail=error))

    def _target_error(self, target: Target) -> str | None:
        try:
            resolve_target(target, self.s.tasks)
        except TargetError as exc:
            return str(exc)
        return None

    async def handle_lost(self, lost: Sequence[Run]) -> None:
        """Announce runs found lost, and retry those whose job allows it."""
        if not lost:
            return
        jobs = await self.engine.db(self._jobs_of, lost)
        retries: list[asyncio.Task[None]] = []
        isolated(lost, functools.partial(self._lost, jobs, retries), self.engine.chore_fault)
        if retries:
            await asyncio.wait(retries)

    def _jobs_of(self, runs: Sequence[Run]) -> dict[str, Job]:
        """The stored jobs of these runs, by id; removed (or unreadable) ones are left out."""
        jobs: dict[str, Job] = {}

        def read(run: Run) -> None:
            if run.job_id not in jobs:
                with contextlib.suppress(JobNotFound):
                    jobs[run.job_id] = self.store.get_job(run.job_id)

        isolated(runs, read, self.engine.chore_fault)
        return jobs

    def _lost(self, jobs: dict[str, Job], retries: list[asyncio.Task[None]], run: Run) -> None:
        logger.warning(
            "run %s of job %s was lost: %s",
            run.id,
            run.job_id,
            run.error,
            extra=extra(run.job_id, run.id),
        )
        job = jobs.get(run.job_id)
        self.engine.emit(EventType.RUN_LOST, run, job)
        if job is not None and run.attempt <= job.retries:
            retries.append(self.engine.spawn(self.engine.launcher.retry(run, job)))
        elif job is not None:
            self.engine.waits.fire_triggers_soon(job.id)
