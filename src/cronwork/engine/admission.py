"""Admission: overlap policy, ``max_running`` places, and the collections of held runs.

`overlap_verdict` says what a job's overlap policy does to a new run while others run; the
engine's `Admission` and the manual trigger of `cronwork.operations` both ask it, so both
say the same thing in the same words.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from cronwork import copiers
from cronwork.events import FINAL_EVENTS, EventType
from cronwork.executors import Outcome, format_error
from cronwork.jobs import Job
from cronwork.policies import Overlap
from cronwork.runs import Run, RunStatus

from .dueruns import DueRuns, ReadyRuns
from .runstate import (
    Active,
    beside_others,
    catching_up,
    extra,
    isolated,
    log_slot,
    logger,
    noted,
)

if TYPE_CHECKING:
    from .core import Engine


Action = Literal["run", "skip", "queue", "replace"]


@dataclass(frozen=True, slots=True)
class OverlapVerdict:
    """What happens to the new run, and why, in the words the engine logs and records."""

    action: Action
    #: Empty for "run"; for "skip" the reason a skipped run is recorded with (after "skipped:").
    reason: str = ""
    #: The running run the reason names (the oldest), if any.
    running: str | None = None

    @property
    def skipped(self) -> bool:
        """True when the new run is skipped."""
        return self.action == "skip"


#: The verdict when nothing stands in the way; one object, as it is the common case.
RUN = OverlapVerdict("run")


def oldest(run_ids: Collection[str]) -> str:
    """The oldest of these run ids: numeric ids by number, others as text."""
    return min(
        run_ids, key=lambda run_id: (len(run_id), run_id) if run_id.isdigit() else (0, run_id)
    )


def overlap_verdict(
    job: Job, running: Collection[str], *, queue_taken: bool = False
) -> OverlapVerdict:
    """What ``job.overlap`` does to a new run while the runs ``running`` (ids) still run.

    ``queue_taken`` says a run already waits behind them (overlap=queue keeps one).
    """
    if not running:
        return RUN
    policy = job.overlap
    first = oldest(running)
    if policy is Overlap.SKIP:
        return OverlapVerdict("skip", f"run {first} is still running (overlap=skip)", first)
    if policy is Overlap.ALLOW:
        if len(running) >= job.max_instances:
            return OverlapVerdict(
                "skip",
                f"{len(running)} run(s) still running, the most allowed "
                f"(overlap=allow, max_instances={job.max_instances})",
                first,
            )
        return RUN
    if policy is Overlap.QUEUE:
        if queue_taken:
            return OverlapVerdict("skip", "a run is already waiting (overlap=queue)", first)
        return OverlapVerdict("queue", f"queued behind run {first} (overlap=queue)", first)
    return OverlapVerdict(
        "replace", f"replacing run {first}, which is cancelled (overlap=replace)", first
    )


class Admission:
    """The runs this engine holds, from due to done, and the places they take.

    A due run passes ``arrive``: it is dropped, skipped, queued behind its job's running
    run, or handed to the launcher at once or when one of the ``max_running`` places frees
    up. Synchronous: nothing here awaits.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.s = engine.s
        self.store = engine.store
        self.clock = engine.clock
        self.due = DueRuns()
        # Runs waiting for a place, in due order, with the moment they began to wait (kept
        # beside the run rather than copied into it: a Run copy per queued run was a
        # measurable share of the engine's time when every place is taken).
        self.ready = ReadyRuns()
        # Runs waiting for their job's current run to end: overlap=queue, and misfire
        # catch-up runs, which run one after another rather than skip each other.
        self.queued: dict[str, deque[tuple[Run, Job]]] = {}
        # Per job, the ids of its runs that hold or wait for a place.
        self._inflight: dict[str, set[str]] = {}
        self.active: dict[str, Active] = {}
        # Runs that ended but whose thread still runs (an overrun): they keep their place.
        self.lingering: dict[str, Active] = {}
        # Runs cancelled while they waited to be due; skipped when they fall due.
        self.dropped: set[str] = set()

    def announce_missed(self, missed: Run) -> None:
        """Log and announce a slot the claim recorded as missed (or as unplannable)."""
        if missed.status is RunStatus.FAILED:
            # A slot the store could not plan (see stores.base.unplannable).
            logger.error(
                "job %s could not run its slot %s: %s",
                missed.job_id,
                missed.scheduled_for.isoformat(),
                (missed.error or "").split("\n", 1)[0],
                extra=extra(missed.job_id, missed.id),
            )
            kind = EventType.RUN_FAILED
        else:
            log_slot(missed, "missed", "the engine was not running or was blocked")
            kind = EventType.RUN_MISSED
        self.engine.emit(kind, missed, self.engine.jobs.get(missed.job_id), missed.error)

    def unstarted(self) -> list[Run]:
        """The runs this engine holds that have not started: due, ready, queued, waiting."""
        held = [run for run in self.due if run.id not in self.dropped]
        held += [run for run, _, _ in self.ready]
        held += [run for waiting in self.queued.values() for run, _ in waiting]
        held += [w.run for w in self.engine.waits.waiting.values()]
        held += self.engine.contention.held.values()
        return held

    def hand_back(self) -> list[Run]:
        """Empty the queues of runs not started yet (at stop), and return those runs."""
        released = self.unstarted()
        self.engine.contention.hand_back()
        self.engine.waits.waiting.clear()
        self.due.clear()
        self.ready.clear()
        self.queued.clear()
        return released

    def owns_runs(self) -> bool:
        """True while this engine holds runs (and so must renew their leases)."""
        return bool(
            self.due
            or self.ready
            or self.queued
            or self.active
            or self.engine.waits.waiting
            or self.engine.contention.held
        )

    def arrive(self, run: Run, now: datetime, elsewhere: Collection[str] = ()) -> None:
        """Admit a run that fell due: drop, skip, queue, wait for a place, or start it.

        ``elsewhere``: ids of runs of its job on other nodes that count as in flight (see
        contention.py).
        """
        dropped = self.dropped
        if dropped and run.id in dropped:
            dropped.discard(run.id)  # cancelled while it waited to be due
            return
        job = self.engine.jobs.get(run.job_id)
        if job is None:
            self._removed(run)
            return
        if run.cancel_requested:
            self.engine.finish_unstarted(run, job, RunStatus.CANCELLED, "cancelled before start")
            return
        if job.paused and run.trigger != "manual":
            self.engine.finish_unstarted(run, job, RunStatus.SKIPPED, "skipped: the job is paused")
            return
        if job.depends_on and not self.engine.waits.ready_to_run(run, job, now):
            return
        local = inflight = self._inflight.get(job.id)
        if elsewhere:
            inflight = {*local, *elsewhere} if local else set(elsewhere)
        if inflight and not beside_others(run):
            queued = self.queued.get(job.id)
            if catching_up(run) and (
                job.overlap is not Overlap.ALLOW or len(inflight) >= job.max_instances
            ):
                if not local:
                    # Only runs of other nodes are in the way: look again until they end.
                    if not self.engine.contention.wait_for_others(run):
                        self._skip(run, job, "a run is already waiting (overlap=queue)")
                    return
                # Catch-up runs wait for the job's current run rather than skip each other.
                self.queued.setdefault(job.id, deque()).append(
                    (copiers.queued(run, queued_at=now), job)
                )
                return
            # overlap=queue keeps one run waiting; catch-up runs do not take its place.
            taken = queued is not None and not all(catching_up(r) for r, _ in queued)
            verdict = overlap_verdict(job, inflight, queue_taken=taken)
            action = verdict.action
            if action == "skip":
                self._skip(run, job, verdict.reason)
                return
            if action == "queue" and not local:
                if not self.engine.contention.wait_for_others(run):
                    self._skip(run, job, "a run is already waiting (overlap=queue)")
                return
            if action == "queue":
                self.queued.setdefault(job.id, deque()).append(
                    (copiers.queued(run, queued_at=now), job)
                )
                return
            if action == "replace":
                self._replace(job, run, now)
                if elsewhere:
                    self.engine.contention.cancel_elsewhere(elsewhere, now)
        if len(self.active) + len(self.lingering) < self.s.max_running and not self.ready:
            # Nothing waits and a place is free: start now, without a trip through the queue.
            self._inflight.setdefault(job.id, set()).add(run.id)
            self.engine.launcher.start(run, job)
            return
        self._enqueue(run, job, now)

    def _replace(self, job: Job, run: Run, now: datetime) -> None:
        for run_id in list(self._inflight.get(job.id, ())):
            active = self.active.get(run_id)
            if active is not None:
                active.cancel(f"replaced by run {run.id} (overlap=replace)")
                continue
            self._drop_ready(run_id, f"replaced by run {run.id} (overlap=replace)")

    def disown(self, runs: Collection[Run]) -> None:
        """Let go of unstarted runs that are no longer this engine's, writing nothing: another
        node found their lease run out (they are lost and retried there)."""
        due = {run.id for run in self.due}
        for run in runs:
            if self.ready.remove(run.id) is not None:
                self.leave(run.job_id, run.id)
            self.forget(run.id)
            self.engine.contention.forget(run.id)
            if run.id in due:
                self.dropped.add(run.id)  # skipped silently when it falls due

    def forget(self, run_id: str) -> None:
        """Take a run out of every queue of the engine (not out of ``_active``)."""
        self.ready.remove(run_id)
        self.engine.waits.waiting.pop(run_id, None)
        self.engine.waits.deps_met.discard(run_id)
        self.dropped.discard(run_id)
        for job_id, waiting in list(self.queued.items()):
            for entry in waiting:
                if entry[0].id == run_id:
                    waiting.remove(entry)
                    if not waiting:
                        del self.queued[job_id]
                    return

    def _removed(self, run: Run) -> None:
        # The store leaves claimed runs of a removed job to us, so each keeps a record.
        self.engine.finish_unstarted(
            run, None, RunStatus.CANCELLED, "cancelled: its job was removed"
        )

    def _skip(self, run: Run, job: Job, reason: str) -> None:
        log_slot(run, "skipped", reason)
        self.engine.finish_unstarted(run, job, RunStatus.SKIPPED, f"skipped: {reason}")

    def _enqueue(self, run: Run, job: Job, queued_at: datetime | None) -> None:
        if not self.ready:
            self.engine.launcher.defer_completions(0.0)  # see _arm_dispatch
        self._inflight.setdefault(job.id, set()).add(run.id)
        self.ready.push(run, job, queued_at)

    def _drop_ready(self, run_id: str, why: str) -> bool:
        entry = self.ready.remove(run_id)
        if entry is None:
            return False
        run, job, queued_at = entry
        self.leave(job.id, run_id)
        run = copiers.queued(run, queued_at=queued_at or run.queued_at)
        self.engine.finish_unstarted(run, job, RunStatus.CANCELLED, why)
        return True

    def leave(self, job_id: str, run_id: str) -> None:
        """Take the run out of its job's in-flight runs; the run queued behind them gets ready."""
        inflight = self._inflight.get(job_id)
        if inflight is not None:
            inflight.discard(run_id)
            if not inflight:
                del self._inflight[job_id]
        waiting = self.queued.get(job_id)
        if job_id not in self._inflight and waiting:
            run, job = waiting.popleft()
            if not waiting:
                del self.queued[job_id]
            self._enqueue(run, self.engine.jobs.get(job_id, job), run.queued_at)

    def pump(self) -> None:
        """Start waiting runs while places are free (and this node's leases hold)."""
        if self.ready and self.engine.chores.may_start():
            isolated(self._startable(), self._start_ready, self._fault_ready)

    def _startable(self) -> Iterator[tuple[Run, Job, datetime | None]]:
        """Waiting runs, earliest first, while a place is free."""
        limit = self.s.max_running
        # Places first: len() is cheaper than the queue's Python-level truth test.
        while len(self.active) + len(self.lingering) < limit and self.ready:
            yield self.ready.pop()

    def _start_ready(self, entry: tuple[Run, Job, datetime | None]) -> None:
        run, job, queued_at = entry
        current = self.engine.jobs.get(job.id)
        if current is None:
            self.leave(job.id, run.id)
            self._removed(copiers.queued(run, queued_at=queued_at or run.queued_at))
            return
        self.engine.launcher.start(run, current, queued_at)

    def _fault_ready(self, entry: tuple[Run, Job, datetime | None], exc: Exception) -> None:
        self.fault(entry[0], exc)

    def pump_soon(self) -> None:
        """Fill free places on the next turn of the loop (not from inside a fault)."""
        if self.engine.loop is not None and not self.engine.stopping:
            self.engine.loop.call_soon(self._pump_unless_stopping)

    def _pump_unless_stopping(self) -> None:
        if not self.engine.stopping:
            self.pump()

    def release(self, active: Active) -> None:
        """Give up the place of a run that ended (or whose thread finally returned)."""
        self.lingering.pop(active.run.id, None)
        self.leave(active.job.id, active.run.id)
        if not self.engine.stopping:
            self.pump()
        self.engine.poke()

    def cancel_local(self, run_id: str, why: str) -> None:
        """Cancel a run wherever this engine holds it."""
        active = self.active.get(run_id)
        if active is not None:
            active.cancel(why)
            return
        entry = self.engine.waits.waiting.pop(run_id, None)
        if entry is not None:
            self.engine.finish_unstarted(entry.run, entry.job, RunStatus.CANCELLED, why)
            return
        if self._drop_ready(run_id, why):
            return
        held = self.engine.contention.forget(run_id)
        if held is not None:
            self.engine.finish_unstarted(
                held, self.engine.jobs.get(held.job_id), RunStatus.CANCELLED, why
            )
            return
        for job_id, waiting in list(self.queued.items()):
            for run, job in waiting:
                if run.id == run_id:
                    waiting.remove((run, job))
                    if not waiting:
                        del self.queued[job_id]
                    self.engine.finish_unstarted(run, job, RunStatus.CANCELLED, why)
                    return
        for run in self.due:
            if run.id == run_id and run_id not in self.dropped:
                self.dropped.add(run_id)
                self.engine.finish_unstarted(
                    run, self.engine.jobs.get(run.job_id), RunStatus.CANCELLED, why
                )
                return

    def fault(self, run: Run, exc: Exception) -> None:
        """End ``run`` after an unexpected error on its path, and free what it held.

        The one place where runs recover from engine faults (see isolated). The run ends
        failed with the error, and is retried per its job's policy; an outcome the engine
        had reached before the fault (a run that ended, a slot skipped) stays, with the
        error noted beside it.
        """
        logger.error(
            "run %s of job %s failed in the engine",
            run.id,
            run.job_id,
            exc_info=exc,
            extra=extra(run.job_id, run.id),
        )
        try:
            self._end_after_fault(run, format_error(exc))
        except Exception:
            logger.exception("run %s of job %s could not be ended after that", run.id, run.job_id)

    def _end_after_fault(self, run: Run, error: str) -> None:
        run_id, job_id = run.id, run.job_id
        self.forget(run_id)
        active = self.active.pop(run_id, None)
        # What the engine had reached for the run before the fault, if anything.
        known = self.engine.writer.dirty.get(run_id)
        if active is None and isinstance(known, Active):
            active = known
        record: Run
        if active is not None and active.outcome is None:
            active.cancel(error)  # it may have started already: stop it
            active.outcome = Outcome(RunStatus.FAILED, error=error)
            active.finished_at = self.clock.now()
            record = active.record()
        elif active is not None:
            record = noted(active.record(), error)
        elif isinstance(known, Run) and known.status.finished:
            record = noted(known, error)
        else:
            record = copiers.unstarted(
                run, status=RunStatus.FAILED, finished_at=self.clock.now(), error=error
            )
        self.leave(job_id, run_id)
        self.engine.save(record)
        job = self.engine.jobs.get(job_id)
        retry = job is not None and record.status.retryable and run.attempt <= job.retries
        if retry and not self.engine.stopping:
            assert job is not None
            # An attempt inserted before the fault makes this one a no-op (one per slot).
            self.engine.spawn(self.engine.launcher.retry(record, job))
        self.pump_soon()
        self.engine.emit(FINAL_EVENTS.get(record.status, EventType.RUN_FAILED), record, job, error)
