"""Launching: target resolution and its cache, the executor registry, the start and end of
each run (with its outcome logged), and retries.

The path of every run passes here twice (``start`` and ``finished``): it holds no copies and
no wrappers beyond what a run needs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from cronwork.copiers import new_context, new_invocation
from cronwork.errors import CronworkError
from cronwork.events import FINAL_EVENTS, EventType
from cronwork.executors import (
    BatchesCompletions,
    Executor,
    Outcome,
    ShowsOutput,
    ThreadExecutor,
    format_error,
)
from cronwork.executors.base import BeginsLater, StartsAhead
from cronwork.executors.registry import ExecutorNeeds, build_executor, default_executor_name
from cronwork.jobs import Job
from cronwork.policies import OnTimeout
from cronwork.runs import Run, RunStatus, due_time
from cronwork.stores.base import retry_of
from cronwork.targets import Runnable, Target, resolve_target

from .runstate import Active, extra, logger, noted
from .settings import DISPATCH_TICK

if TYPE_CHECKING:
    from .core import Engine

ZERO = timedelta(0)

#: A job's resolved target: the target read, its runnable, its executor, the executor name
#: the job gave, and how long before a run is due that executor wants it (`lead_of`).
Resolved = tuple[Target, Runnable, Executor, str | None, timedelta | None]


def lead_of(executor: Executor) -> timedelta | None:
    """How long before a run is due ``executor`` wants it (None: at the due time)."""
    if isinstance(executor, StartsAhead) and executor.lead > 0:
        return timedelta(seconds=executor.lead)
    return None


class Launcher:
    """Starts runs on their executors, records what they end with, and retries them.

    It owns the executor registry and the cache of resolved targets.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.s = engine.s
        self.store = engine.store
        self.clock = engine.clock
        self._targets: dict[str, Resolved] = {}
        self._shared_targets: dict[tuple[int, str | None], Resolved] = {}
        self.executors: dict[str, Executor] = dict(engine.s.executors)
        # Whether each kind of execution shows its output while it runs (ShowsOutput) and
        # whether its work begins later (BeginsLater): a runtime-checkable protocol's
        # isinstance inspects the class every time, so it is asked once per class, not on the
        # path of every run.
        self._traits: dict[type, tuple[bool, bool]] = {}
        # Executors whose completions the dispatch timer collects (see Engine._arm_dispatch).
        self._polled: list[BatchesCompletions] = [
            e for e in self.executors.values() if isinstance(e, BatchesCompletions)
        ]
        self._dispatch_timer: asyncio.TimerHandle | None = None
        #: Per job, how long before its runs are due they are handed to its executor (only
        #: jobs whose executor starts ahead; see StartsAhead).
        self.leads: dict[str, timedelta] = {}

    def defer_completions(self, until: float) -> None:
        """Let thread completions wait for a dispatch at loop time ``until`` (0.0: do not)."""
        for executor in self._polled:
            executor.defer_wakeups(until)

    def poll_executors(self) -> None:
        # Completions first: they free places for the runs about to be started. The promise
        # is withdrawn before the drain; see WorkerPool.defer_wakeups.
        """Collect the completions that batching executors held back."""
        self.defer_completions(0.0)
        for executor in self._polled:
            executor.deliver()

    def _resolve(self, job: Job) -> tuple[Runnable, Executor]:
        target = job.target
        cached = self._targets.get(job.id)
        # Keyed by what resolution reads, not by the Job object, which every claim replaces:
        # the same target, or (an entry shared by jobs) the same function.
        if (
            cached is not None
            and (cached[0] is target or cached[0].func is target.func is not None)
            and cached[3] == job.executor
        ):
            return cached[1], cached[2]
        # Jobs of one function share one entry: an entry per job was a long-lived tuple per
        # job for the garbage collector's full passes to walk, and resolving each job's
        # function on its first run held up the first second of runs of a large store.
        key = (id(target.func), job.executor)
        shared = self._shared_targets.get(key) if target.kind == "callable" else None
        if shared is not None and shared[0].func is target.func:
            self._targets[job.id] = shared
            return shared[1], shared[2]
        func = resolve_target(target, self.s.tasks)
        executor = self._executor(job.executor or default_executor_name(func))
        entry = (target, func, executor, job.executor, lead_of(executor))
        if target.kind == "callable":
            self._shared_targets[key] = entry
        self._targets[job.id] = entry
        return func, executor

    def start(self, run: Run, job: Job, queued_at: datetime | None = None) -> None:
        """Hand a run to its executor; an unexpected error propagates to the caller's
        `isolated` loop, whose `_fault` ends the run."""
        try:
            func, executor = self._resolve(job)
        except CronworkError as exc:  # a target that does not resolve, an unknown executor
            self.engine.admission.leave(job.id, run.id)
            self.engine.finish_unstarted(run, job, RunStatus.FAILED, f"cannot start: {exc}")
            return
        # Read at the hand-over itself, not once per batch of starts: started_at is what
        # lateness is measured by.
        now = self.clock.now()
        begins, start_in = now, 0.0
        if self.leads and run.job_id in self.leads:
            # Handed over ahead: the executor starts the run when it is due.
            ahead = due_time(run) - now
            if ahead > ZERO:
                begins, start_in = now + ahead, ahead.total_seconds()
        timeout = job.timeout
        context = new_context(
            job_id=job.id,
            run_id=run.id,
            scheduled_for=run.scheduled_for,
            attempt=run.attempt,
            deadline=begins + timeout if timeout is not None else None,
        )
        invocation = new_invocation(
            target=func,
            args=job.args,
            kwargs=job.kwargs,
            context=context,
            timeout=timeout.total_seconds() if timeout is not None else None,
            # By identity: an enum member's .value is a Python-level property, and a dict
            # keyed by members hashes them in Python too.
            on_timeout="warn" if job.on_timeout is OnTimeout.WARN else "cancel",
            kill_grace=self.s.kill_grace,
            start_in=start_in,
        )
        active = Active(run, job, self.s.node, begins, queued_at or run.queued_at or now)
        # Only a soft deadline ever calls on_overdue.
        overdue = None if timeout is None else lambda: self._overdue(active)
        execution = active.execution = executor.start(invocation, overdue)
        kind = type(execution)
        traits = self._traits.get(kind)
        if traits is None:
            traits = self._traits[kind] = (
                isinstance(execution, ShowsOutput),
                isinstance(execution, BeginsLater),
            )
        shows, later = traits
        if later:
            active.begun = False
        self.engine.admission.active[run.id] = active
        self.engine.save(active)
        if shows:
            self.engine.chores.follow_output(active, execution)  # type: ignore[arg-type]
        if later:
            cast(BeginsLater, execution).on_begun(functools.partial(self._begun, active))
        else:
            self._announce_start(active)
        add_done_callback = getattr(execution, "add_done_callback", None)
        if add_done_callback is not None:
            # A partial, not a lambda: one Python frame fewer on the path of every run.
            add_done_callback(functools.partial(self._finished, active))
        else:
            # Executors from elsewhere may only offer wait().
            assert self.engine.loop is not None
            active.task = self.engine.loop.create_task(self._watch(active))

    def note_leads(self, jobs: Iterable[Job]) -> None:
        """Note which of ``jobs`` run on an executor that starts ahead, and how far."""
        targets, leads = self._targets, self.leads
        for job in jobs:
            cached = targets.get(job.id)
            if cached is None or cached[0] is not job.target or cached[3] != job.executor:
                try:
                    self._resolve(job)
                except Exception:
                    continue  # its start fails, at the slot, and says why
                cached = targets[job.id]
            lead = cached[4]
            if lead is not None:
                leads[job.id] = lead
            elif leads:
                leads.pop(job.id, None)

    def _announce_start(self, active: Active) -> None:
        run, job = active.run, active.job
        if self.engine.debug:
            logger.debug("run %s of job %s started", run.id, job.id, extra=extra(job.id, run.id))
        if self.s.listeners.wants(EventType.RUN_STARTED):
            self.engine.emit(EventType.RUN_STARTED, active.started(), job)

    def _begun(self, active: Active, seconds_ago: float) -> None:
        """The work of a run that begins later (BeginsLater) began: record it running, from
        then, but not before the moment it was to start."""
        if active.begun or active.outcome is not None:
            return
        active.begun = True
        began = self.clock.now() - timedelta(seconds=max(seconds_ago, 0.0))
        if began > active.started_at:
            active.started_at = began
        self.engine.save(active)
        self._announce_start(active)

    def _executor(self, name: str) -> Executor:
        executor = self.executors.get(name)
        if executor is None:
            executor = build_executor(name, ExecutorNeeds(self.s.node, self.s.max_running))
            self.executors[name] = executor
            if isinstance(executor, BatchesCompletions):
                self._polled.append(executor)
        return executor

    def _overdue(self, active: Active) -> None:
        run, job = active.run, active.job
        logger.warning(
            "run %s of job %s is still running after its expected duration of %s",
            run.id,
            job.id,
            job.timeout,
            extra=extra(job.id, run.id),
        )
        if self.s.listeners.wants(EventType.RUN_OVERDUE):
            self.engine.emit(
                EventType.RUN_OVERDUE, active.started(), job, f"running longer than {job.timeout}"
            )

    async def _watch(self, active: Active) -> None:
        assert active.execution is not None
        try:
            outcome = await active.execution.wait()
        except Exception as exc:  # an executor bug must still end the run
            outcome = Outcome(RunStatus.FAILED, error=format_error(exc))
        self._finished(active, outcome)

    def _finished(self, active: Active, outcome: Outcome) -> None:
        """An execution's done callback: record the outcome, then what follows from it."""
        if active.outcome is not None:
            return
        # A batch of one (see isolated), inline: this is the path of every run.
        try:
            self._record_outcome(active, outcome)
        except Exception as exc:
            self.engine.admission.fault(active.run, exc)

    def _record_outcome(self, active: Active, outcome: Outcome) -> None:
        active.outcome = outcome
        active.finished_at = self.clock.now()
        run = active.run
        current = self.engine.jobs.get(run.job_id)
        job = active.job if current is None else current
        del self.engine.admission.active[run.id]
        self.engine.save(active)
        status = outcome.status
        # Compared by identity: hashing or comparing an enum member runs Python code, and
        # this is the path of every run.
        succeeded = status is RunStatus.SUCCEEDED
        if not succeeded or self.engine.debug:
            self._log_outcome(active.record())
        if self.s.listeners.count:
            kind = FINAL_EVENTS.get(status, EventType.RUN_FAILED)
            if self.s.listeners.wants(kind, job):
                self.engine.emit(kind, active.record(), job)
        linger = outcome.lingering
        if linger is not None and not linger.done():
            active.linger = linger
            self.engine.admission.lingering[run.id] = active
            linger.add_done_callback(lambda _: self.engine.admission.release(active))
            self.engine.poke()
        else:
            self.engine.admission.release(active)
        # A removed job (current is None) is not retried: its retry would have no job.
        retrying = (
            not succeeded
            and status.retryable
            and run.attempt <= job.retries
            and current is not None
        )
        if retrying and not self.engine.stopping:
            self.engine.spawn(self.retry(active.record(), job))
        if self.engine.waits.waiting:
            self.engine.waits.check_dependencies_soon()
        if not retrying and not self.engine.stopping and self.engine.waits.downstream:
            self.engine.waits.fire_triggers_soon(job.id)

    def _log_outcome(self, run: Run) -> None:
        status = run.status
        if status is RunStatus.SUCCEEDED:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "run %s of job %s succeeded",
                    run.id,
                    run.job_id,
                    extra=extra(run.job_id, run.id),
                )
            return
        level = logging.INFO if status is RunStatus.CANCELLED else logging.WARNING
        logger.log(
            level,
            "run %s of job %s %s: %s",
            run.id,
            run.job_id,
            status.value,
            (run.error or "").split("\n", 1)[0],
            extra=extra(run.job_id, run.id),
        )

    async def retry(self, run: Run, job: Job) -> None:
        """Insert the next attempt of ``run``; if that fails, note it on the run's record."""
        try:
            await self._insert_retry(run, job)
        except Exception as exc:
            logger.error(
                "run %s of job %s could not be retried",
                run.id,
                run.job_id,
                exc_info=exc,
                extra=extra(run.job_id, run.id),
            )
            self.engine.save(noted(run, f"not retried: {format_error(exc)}"))

    async def _insert_retry(self, run: Run, job: Job) -> None:
        now = self.clock.now()
        attempt = retry_of(run, job, now)
        if attempt is None:
            return
        delay = due_time(attempt) - now
        stored = await self.engine.db(self.store.add_run, attempt)
        if stored is None and run.status is RunStatus.LOST:
            # expire_leases inserted the retry in the same transaction as the expiry, so a
            # crash could not drop it; it is announced here all the same.
            stored = await self.engine.db(self._inserted_retry, run)
            if stored is not None and stored.due_at is not None and stored.created_at:
                delay = stored.due_at - stored.created_at
        if stored is None:
            return  # another node retried this slot already
        logger.info(
            "job %s will retry slot %s (attempt %d) at %s",
            job.id,
            run.scheduled_for.isoformat(),
            stored.attempt,
            due_time(stored).isoformat(),
            extra=extra(job.id, stored.id),
        )
        self.engine.emit(EventType.RUN_RETRIED, stored, job, f"after {delay.total_seconds():.3g}s")
        self.engine.nudge()

    def _inserted_retry(self, run: Run) -> Run | None:
        for waiting in self.store.runs(run.job_id, RunStatus.SCHEDULED, limit=1000):
            if waiting.scheduled_for == run.scheduled_for and waiting.attempt == run.attempt + 1:
                return waiting
        return None

    async def shutdown(self, *, hurry: bool, abandoned: bool) -> None:
        """Shut every executor down: at once when hurried, and the thread executor at once
        when threads were left running (``abandoned``), since it would wait for them."""
        for name, executor in self.executors.items():
            threads = name == ThreadExecutor.name
            try:
                await executor.shutdown(wait=not (hurry or (abandoned and threads)))
            except Exception:
                logger.exception("executor %s failed to shut down", name)

    def arm_dispatch(self) -> None:
        """On the real clock, start due runs from a timer of their own.

        The main loop awaits the store (claims, lease renewals); runs falling due meanwhile
        would wait for it. A fake clock moves only through sleep_until, so there the main
        loop dispatches alone. The timer is set on DISPATCH_TICK boundaries: with slots
        spread over the second, a timer per slot made a turn of the event loop (and an
        epoll call) per run; one per tick starts all the runs that fell due within it.
        """
        if not self.engine.real_time or self.engine.stopping:
            return
        due = self.engine.admission.due.first()
        if due is None:
            return
        assert self.engine.loop is not None
        delay = max(0.0, (due - self.clock.now()).total_seconds())
        when = math.ceil((self.engine.loop.time() + delay) / DISPATCH_TICK) * DISPATCH_TICK
        timer = self._dispatch_timer
        if timer is not None:
            if timer.when() <= when:
                return  # a timer that fires no later is set already
            timer.cancel()
        self._dispatch_timer = self.engine.loop.call_at(when, self._dispatch_from_timer)
        if not self.engine.admission.ready:
            # Completions may wait for the tick only while no run waits for their places:
            # a place freed once per tick would cap max_running places at that many runs a
            # millisecond. Admission._enqueue withdraws the promise.
            self.defer_completions(when)

    def cancel_dispatch(self) -> None:
        """Drop the dispatch timer (at stop)."""
        if self._dispatch_timer is not None:
            self._dispatch_timer.cancel()
            self._dispatch_timer = None

    def _dispatch_from_timer(self) -> None:
        self._dispatch_timer = None
        self.poll_executors()
        if not self.engine.stopping:
            self.engine.dispatch_due(self.clock.now())
