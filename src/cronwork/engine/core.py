"""The engine: claim due runs, apply policies, dispatch to executors, record what happened.

One asyncio loop does all the work. The loop, in short: ``store.claim()`` takes the slots due
within a short look-ahead; the runs wait in due order (`DueRuns`) until their time; a due run
passes the overlap policy (`admission.overlap_verdict`) and then waits in a ready queue,
ordered by (due time, run id), for one of ``max_running`` places; it starts on its executor;
its outcome is recorded, events fire, and a retry is inserted if the policy says so. Run
records are written in batches by the `Writer`, never one transaction per run.

Why this module and its class are still over the size the package aims at: the admission
state (the run collections), launching, chores and dependency waits still live on `Engine`;
docs/architecture.md lists that split as the next step (launch.py, chores.py, waits.py, an
admission class owning the collections).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cronwork.clock import DrivesEngines
from cronwork.dependencies import (
    dependency_deadline,
    downstream_index,
    missing_message,
    stale_dependencies,
    triggered_run,
)
from cronwork.errors import CronworkError, JobError, JobNotFound, TargetError
from cronwork.events import FINAL_EVENTS, Event, EventType
from cronwork.executors import (
    CommandExecutor,
    CoroutineExecutor,
    Executor,
    Outcome,
    ProcessExecutor,
    ThreadExecutor,
    default_executor_name,
    format_error,
)
from cronwork.executors.base import BatchesCompletions
from cronwork.executors.procs import kill_runs, node_is_dead, run_of
from cronwork.jobs import Job
from cronwork.policies import OnTimeout, Overlap
from cronwork.runs import Run, RunStatus, due_time
from cronwork.stores.base import Claim, retry_of
from cronwork.targets import Command, Target, resolve_target

from . import gcfreeze
from .admission import overlap_verdict
from .dueruns import DueRuns, ReadyRuns
from .runstate import (
    BLANK_CONTEXT,
    BLANK_INVOCATION,
    Active,
    Verdict,
    Waiting,
    as_queued,
    as_unstarted,
    catching_up,
    extra,
    isolated,
    log_slot,
    logger,
    new_context,
    new_invocation,
    noted,
)
from .settings import (
    BROKEN_CHECK_EVERY,
    CLAIM_BATCH,
    CLAIM_LIMIT,
    DEFAULT_POLL,
    DISPATCH_TICK,
    MIN_SLEEP,
    PRUNE_EVERY,
    TRIGGERS_REFRESH_EVERY,
    Settings,
)
from .writer import Writer

__all__ = ["Engine"]

T = TypeVar("T")


class Engine:
    """The asyncio core behind both faces; create one per start."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.store = settings.store
        self.clock = settings.clock
        self.loop: asyncio.AbstractEventLoop | None = None
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cronwork-db")
        self._wake = asyncio.Event()
        self._idle_changed = asyncio.Event()
        self._idle_watchers = 0
        # Whether per-run debug records are wanted: logging's check is a Python call, and the
        # path of every run made two; refreshed at each dispatch.
        self._debug = logger.isEnabledFor(logging.DEBUG)
        self._stopping = False
        self._parked = False
        self._parked_until: datetime | None = None
        self._main: asyncio.Task[None] | None = None
        self._due = DueRuns()
        # Runs waiting for a place, in due order, with the moment they began to wait (kept
        # beside the run rather than copied into it: a Run copy per queued run was a
        # measurable share of the engine's time when every place is taken).
        self._ready = ReadyRuns()
        # Runs waiting for their job's current run to end: overlap=queue, and misfire
        # catch-up runs, which run one after another rather than skip each other.
        self._queued: dict[str, deque[tuple[Run, Job]]] = {}
        self._inflight: dict[str, set[str]] = {}
        self._active: dict[str, Active] = {}
        self._lingering: dict[str, Active] = {}
        self._dropped: set[str] = set()
        self._jobs: dict[str, Job] = {}
        self._targets: dict[
            str, tuple[Target, Callable[..., Any] | Command, Executor, str | None]
        ] = {}
        self._shared_targets: dict[
            tuple[int, str | None],
            tuple[Target, Callable[..., Any] | Command, Executor, str | None],
        ] = {}
        self._shared = self.store.shared
        self._real_time = self.clock.real_time
        self._writer = Writer(
            self.store, real_time=self._real_time, off_loop=self._off_loop, poke=self._poke
        )
        # Bound once: every run is saved two or three times.
        self._save = self._writer.save
        # Set by hurry(): a second, impatient stop request during a graceful stop.
        self._hurry = asyncio.Event()
        self._stop_started = False
        self._stopped = asyncio.Event()
        self._look = True
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cancel_ids: set[str] = set()
        self._executors: dict[str, Executor] = dict(settings.executors)
        # Executors whose completions the dispatch timer collects (see _arm_dispatch).
        self._polled: list[BatchesCompletions] = [
            e for e in self._executors.values() if isinstance(e, BatchesCompletions)
        ]
        self._detach_clock: Callable[[], None] | None = None
        now = self.clock.now()
        self._next_renew = now + settings.lease / 3
        self._next_expire = now + settings.lease
        self._next_broken = now + BROKEN_CHECK_EVERY
        self._next_prune = now + PRUNE_EVERY
        self._next_poll = now if settings.poll is None else now + settings.poll
        self._dispatch_timer: asyncio.TimerHandle | None = None
        # Dependencies: runs waiting for upstream successes, runs whose wait is over, and
        # which trigger jobs (after/on_failure/on_finish) each job's end may start.
        self._waiting: dict[str, Waiting] = {}
        self._deps_met: set[str] = set()
        self._dep_check: asyncio.Task[None] | None = None
        self._dep_again = False
        self._next_dep_poll = now
        self._downstream: dict[str, list[str]] = {}
        self._next_triggers = now + TRIGGERS_REFRESH_EVERY
        self._froze = False  # whether start() froze the collector's old objects (gcfreeze)
        self._settled = False  # whether the first claims' objects were frozen too

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover expired leases, check targets, then start the loop on the running loop."""
        self.loop = asyncio.get_running_loop()
        self.s.listeners.loop = self.loop
        self._writer.loop = self.loop
        if isinstance(self.clock, DrivesEngines):
            self._detach_clock = self.clock.attach(self)
        now = self.clock.now()
        # Before the first claim: a retry of a dead predecessor's run must not start while
        # that run's processes still live.
        await self._handle_lost(await self._off_loop(self._expire, now))
        await self._off_loop(self._check_targets, now)
        self._downstream = await self._off_loop(self._load_triggers)
        self._froze = self.s.freeze_gc and gcfreeze.hold()
        self._main = self.loop.create_task(self._run(), name="cronwork-engine")

    async def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop claiming, release unstarted runs, wait (up to ``timeout``), cancel the rest.

        Called again while a graceful stop is under way, ``wait=False`` cancels the running
        runs at once (`hurry`); either call returns when the stop is complete.
        """
        if self._stop_started:
            if not wait:
                self.hurry()
            await self._stopped.wait()
            return
        self._stop_started = True
        try:
            await self._stop(wait, timeout)
        finally:
            if self._froze:
                self._froze = False
                gcfreeze.release()
            self._stopped.set()

    def hurry(self) -> None:
        """Cut a graceful stop short: cancel every running run and stop waiting for threads."""
        self._hurry.set()
        for active in list(self._active.values()):
            active.cancel("the scheduler was told to stop at once")

    async def _stop(self, wait: bool, timeout: float | None) -> None:
        self._stopping = True
        if self._dispatch_timer is not None:
            self._dispatch_timer.cancel()
            self._dispatch_timer = None
        self._poll_executors()
        self._nudge()
        if self._main is not None:
            try:
                await self._main
            except Exception:
                logger.exception("the engine loop failed")
        released = [run for run in self._due if run.id not in self._dropped]
        released += [run for run, _, _ in self._ready]
        released += [run for waiting in self._queued.values() for run, _ in waiting]
        released += [w.run for w in self._waiting.values()]
        self._waiting.clear()
        self._due.clear()
        self._ready.clear()
        self._queued.clear()
        for run in released:
            # Handed back unowned, so the next start (or another node) claims it.
            self._save(run.replace(node=None, lease_until=None, queued_at=None))
        if self._active and wait and not self._hurry.is_set():
            with contextlib.suppress(TimeoutError):
                # hurry() cancels the runs, so the drain ends soon after it too.
                await asyncio.wait_for(self._drain(), timeout)
        for active in list(self._active.values()):
            active.cancel("the scheduler shut down")
        await self._drain()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        await self._writer.flush()
        waiting = [a.linger for a in self._lingering.values() if a.linger is not None]
        if waiting and wait and not self._hurry.is_set():
            logger.warning("waiting for %d job thread(s) that overran their run", len(waiting))
            hurried = asyncio.ensure_future(self._hurry.wait())
            everything = asyncio.ensure_future(asyncio.wait(waiting))
            await asyncio.wait(
                {hurried, everything}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            hurried.cancel()
            everything.cancel()
        abandoned = any(not f.done() for f in waiting)
        if abandoned:
            logger.warning(
                "%d job thread(s) ignored cancellation and are left running",
                sum(not f.done() for f in waiting),
            )
        for name, executor in self._executors.items():
            try:
                now_please = self._hurry.is_set()
                await executor.shutdown(wait=not (now_please or (abandoned and name == "thread")))
            except Exception:
                logger.exception("executor %s failed to shut down", name)
        self._worker.shutdown(wait=True)
        if self._detach_clock is not None:
            self._detach_clock()
        self.s.listeners.loop = None

    async def _drain(self) -> None:
        while self._active:
            self._idle_changed.clear()
            await self._watch_idle()

    async def _watch_idle(self) -> None:
        # Counted, so that _poke, called for every run, sets the event only for a watcher.
        self._idle_watchers += 1
        try:
            await self._idle_changed.wait()
        finally:
            self._idle_watchers -= 1

    def wake(self) -> None:
        """Make the loop look at the store now; callable from any thread."""
        self.call_soon(self._nudge)

    def _nudge(self) -> None:
        # Something changed (a job, a request, a retry): the loop must look at the store, not
        # only at its due runs. The loop's own sleep timer sets _wake without this flag.
        self._look = True
        self._wake.set()

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on the engine's loop; callable from any thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            func(*args)
        else:
            loop.call_soon_threadsafe(func, *args)

    def _is_idle(self, runs: bool = True) -> bool:
        return (
            (
                self._main is None
                or self._main.done()
                # Parked with a deadline still ahead: a clock moved past it is not idle yet.
                or (
                    self._parked
                    and self._parked_until is not None
                    and self._parked_until > self.clock.now()
                )
            )
            and not self._wake.is_set()
            and not (runs and self._active)
            and not (runs and self._ready)
            and not self._tasks
            and not self._writer.busy()
        )

    async def idle(self, runs: bool = True) -> None:
        """Return once everything due now has been processed and recorded.

        With ``runs=False`` runs still executing (or waiting for a place) do not count, so
        tests can step time while a job is held on purpose.
        """
        while True:
            if self._is_idle(runs):
                await asyncio.sleep(0)
                if self._is_idle(runs):
                    return
            self._idle_changed.clear()
            if self._is_idle(runs):
                continue
            await self._watch_idle()

    def _poke(self) -> None:
        if self._idle_watchers:
            self._idle_changed.set()

    # -- store access ---------------------------------------------------------------------

    async def _db(self, func: Callable[..., T], *args: Any) -> T:
        """Call the store: inline unless it is shared, else on the one store thread."""
        if not self._shared:
            return func(*args)
        return await self._off_loop(func, *args)

    async def _off_loop(self, func: Callable[..., T], *args: Any) -> T:
        assert self.loop is not None
        return await self.loop.run_in_executor(self._worker, func, *args)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                logger.error("engine task failed", exc_info=t.exception())
            self._poke()

        task.add_done_callback(done)
        return task

    # -- events ---------------------------------------------------------------------------

    def _emit(
        self, kind: EventType, run: Run, job: Job | None = None, detail: str | None = None
    ) -> None:
        if self.s.listeners.wants(kind):
            event = Event(kind, run.job_id, self.clock.now(), run=run, job=job, detail=detail)
            self.s.listeners.emit(event)

    # -- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        s = self.s
        # When the store next has something to claim; None means "look now". Wake-ups for a
        # run already claimed skip the store: with slots spread evenly the loop wakes for
        # nearly every run, and a claim per wake-up costs more than the run itself (on SQLite,
        # a transaction and an fsync each). Changes by other processes are seen at each poll.
        claim_at: datetime | None = None
        while not self._stopping:
            woken, self._look = self._look, False
            self._wake.clear()
            now = self.clock.now()
            full = False
            look = (
                woken
                or claim_at is None
                or now >= claim_at
                or (s.poll is not None and now >= self._next_poll)
            )
            try:
                await self._maintain(now)
                if look:
                    claim, jobs = await self._db(self._claim, now)
                    self._take(claim, jobs)
                    full = len(claim.runs) + len(claim.missed) >= CLAIM_LIMIT
                    claimed = bool(claim.runs or claim.missed)
                    claim_at = None if full else await self._next_claim(now, claimed)
                    if self._froze and not self._settled and not full:
                        # The first claims are done: what they loaded stays (gcfreeze).
                        self._settled = True
                        gcfreeze.settle()
            except Exception:
                logger.exception("claiming due runs failed; retrying")
                claim_at = None
                await self._sleep(now + (s.poll or DEFAULT_POLL))
                continue
            now = self.clock.now()
            self._dispatch_due(now)
            if full:
                await asyncio.sleep(0)
                continue
            assert claim_at is not None
            await self._sleep(self._next_wake(now, claim_at))

    def _take(self, claim: Claim, jobs: dict[str, Job]) -> None:
        self._jobs.update(jobs)
        if claim.missed:
            isolated(claim.missed, self._announce_missed, self._chore_fault)
        self._due.add(claim.runs)
        self._arm_dispatch()

    def _announce_missed(self, missed: Run) -> None:
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
        self._emit(kind, missed, self._jobs.get(missed.job_id), missed.error)

    def _claim(self, now: datetime) -> tuple[Claim, dict[str, Job]]:
        s = self.s
        claim = self.store.claim(now, s.horizon, s.node, s.lease, CLAIM_LIMIT)
        jobs = claim.jobs
        for run in [*claim.runs, *claim.missed]:
            # Runs adopted rather than planned (manual triggers, retries) may lack their job.
            if run.job_id not in jobs:
                # A job removed meanwhile is missing here; its run is dropped at dispatch.
                with contextlib.suppress(CronworkError):
                    jobs[run.job_id] = self.store.get_job(run.job_id)
        return claim, jobs

    async def _next_claim(self, now: datetime, claimed: bool) -> datetime:
        """When to claim next: once the store has a batch of slots inside the horizon."""
        upcoming = await self._db(self.store.next_wakeup)
        if upcoming is None:
            return now + timedelta(days=1)
        # Claiming each slot as soon as it enters the horizon would mean a claim per slot;
        # waiting a little longer takes CLAIM_BATCH worth of slots at once. Not much more:
        # a claim holds the loop, and half a second of slots at 5k runs/s held it for 60 ms.
        at = upcoming - self.s.horizon + min(self.s.horizon / 2, CLAIM_BATCH)
        if at <= now and not claimed:
            at = now + MIN_SLEEP
        return at

    def _next_wake(self, now: datetime, claim_at: datetime) -> datetime:
        wake_at = claim_at
        # On the real clock the dispatch timer starts the claimed runs (_arm_dispatch);
        # waking the loop for each run as well cost a turn of it per run.
        first = self._due.first()
        if first is not None and first < wake_at and not self._real_time:
            wake_at = first
        if self.s.poll is not None and self._next_poll < wake_at:
            wake_at = self._next_poll
        if self._owns_runs() and self._next_renew < wake_at:
            wake_at = self._next_renew
        dependency_wake = self._dependency_wake()
        if dependency_wake is not None and dependency_wake < wake_at:
            wake_at = max(dependency_wake, now + MIN_SLEEP)
        return wake_at

    async def _sleep(self, moment: datetime) -> None:
        if self._stopping or self._wake.is_set():
            return
        assert self.loop is not None
        if self._real_time:
            delay = (moment - self.clock.now()).total_seconds()
            if delay <= 0:
                return
            handle = self.loop.call_later(delay, self._wake.set)
            self._parked, self._parked_until = True, moment
            self._poke()
            try:
                await self._wake.wait()
            finally:
                self._parked = False
                handle.cancel()
            return
        sleeper = self.loop.create_task(self.clock.sleep_until(moment))
        waker = self.loop.create_task(self._wake.wait())
        # One turn of the loop lets the sleeper register with a fake clock before we count
        # as parked, so FakeClock.run_for sees our next wake-up.
        await asyncio.sleep(0)
        self._parked, self._parked_until = True, moment
        self._poke()
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._parked = False
            for task in (sleeper, waker):
                task.cancel()

    def _owns_runs(self) -> bool:
        return bool(self._due or self._ready or self._queued or self._active or self._waiting)

    # -- maintenance ----------------------------------------------------------------------

    async def _maintain(self, now: datetime) -> None:
        s = self.s
        if self._owns_runs() and now >= self._next_renew:
            self._next_renew = now + s.lease / 3
            await self._db(self.store.renew_leases, s.node, now + s.lease)
        elif not self._owns_runs():
            self._next_renew = now + s.lease / 3
        # The memory store has no other node whose leases could run out, and a scan of every
        # run would stall the loop; it is checked once at start.
        if self._shared and now >= self._next_expire:
            self._next_expire = now + s.lease
            await self._handle_lost(await self._db(self._expire, now))
        if s.poll is not None and now >= self._next_poll:
            self._next_poll = now + s.poll
            requested = await self._db(self.store.cancel_requests, s.node)
            isolated([run.id for run in requested], self._cancel_requested, self._chore_fault)
        if self._cancel_ids:
            ids, self._cancel_ids = self._cancel_ids, set()
            isolated(ids, self._cancel_requested, self._chore_fault)
        if now >= self._next_broken:
            self._next_broken = now + BROKEN_CHECK_EVERY
            self._spawn(self._off_loop(self._check_targets, now))
        if self._waiting:
            wake = self._dependency_wake()
            if wake is not None and now >= wake:
                self._next_dep_poll = now + (s.poll or DEFAULT_POLL)
                self._check_dependencies_soon()
        if self._shared and now >= self._next_triggers:
            self._next_triggers = now + TRIGGERS_REFRESH_EVERY
            self._spawn(self._refresh_triggers())
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            self._spawn(self._off_loop(self._prune, now))

    def _expire(self, now: datetime) -> list[Run]:
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

    def _check_targets(self, now: datetime) -> None:
        """Set aside jobs whose target cannot be resolved here; restore those that can again."""
        # Each distinct target is resolved once, and only broken jobs and jobs of a failing
        # target are loaded: loading all 100k jobs of a big store took most of a 4-5 s start,
        # and every 30 s it held the store thread, and with it claims, for as long.
        errors: dict[tuple[str, str], str | None] = {}
        for kind, ref in self.store.named_targets():
            errors[kind, ref] = self._target_error(Target(kind, ref))  # type: ignore[arg-type]
        failing = [pair for pair, error in errors.items() if error is not None]
        jobs = self.store.jobs_to_check(failing)
        isolated(jobs, functools.partial(self._check_target, errors, now), self._chore_fault)

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

    async def _handle_lost(self, lost: Sequence[Run]) -> None:
        if not lost:
            return
        jobs = await self._db(self._jobs_of, lost)
        retries: list[asyncio.Task[None]] = []
        isolated(lost, functools.partial(self._lost, jobs, retries), self._chore_fault)
        if retries:
            await asyncio.wait(retries)

    def _jobs_of(self, runs: Sequence[Run]) -> dict[str, Job]:
        """The stored jobs of these runs, by id; removed (or unreadable) ones are left out."""
        jobs: dict[str, Job] = {}

        def read(run: Run) -> None:
            if run.job_id not in jobs:
                with contextlib.suppress(JobNotFound):
                    jobs[run.job_id] = self.store.get_job(run.job_id)

        isolated(runs, read, self._chore_fault)
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
        self._emit(EventType.RUN_LOST, run, job)
        if job is not None and run.attempt <= job.retries:
            retries.append(self._spawn(self._retry(run, job)))
        elif job is not None:
            self._fire_triggers_soon(job.id)

    # -- dispatch -------------------------------------------------------------------------

    def _arm_dispatch(self) -> None:
        """On the real clock, start due runs from a timer of their own.

        The main loop awaits the store (claims, lease renewals); runs falling due meanwhile
        would wait for it. A fake clock moves only through sleep_until, so there the main
        loop dispatches alone. The timer is set on DISPATCH_TICK boundaries: with slots
        spread over the second, a timer per slot made a turn of the event loop (and an
        epoll call) per run; one per tick starts all the runs that fell due within it.
        """
        if not self._real_time or self._stopping:
            return
        due = self._due.first()
        if due is None:
            return
        assert self.loop is not None
        delay = max(0.0, (due - self.clock.now()).total_seconds())
        when = math.ceil((self.loop.time() + delay) / DISPATCH_TICK) * DISPATCH_TICK
        timer = self._dispatch_timer
        if timer is not None:
            if timer.when() <= when:
                return  # a timer that fires no later is set already
            timer.cancel()
        self._dispatch_timer = self.loop.call_at(when, self._dispatch_from_timer)
        if not self._ready:
            # Completions may wait for the tick only while no run waits for their places:
            # a place freed once per tick would cap max_running places at that many runs a
            # millisecond. _enqueue withdraws the promise.
            self._defer_completions(when)

    def _dispatch_from_timer(self) -> None:
        self._dispatch_timer = None
        self._poll_executors()
        if not self._stopping:
            self._dispatch_due(self.clock.now())

    def _defer_completions(self, until: float) -> None:
        """Let thread completions wait for a dispatch at loop time ``until`` (0.0: do not)."""
        for executor in self._polled:
            executor.defer_wakeups(until)

    def _poll_executors(self) -> None:
        # Completions first: they free places for the runs about to be started. The promise
        # is withdrawn before the drain; see WorkerPool.defer_wakeups.
        self._defer_completions(0.0)
        for executor in self._polled:
            executor.deliver()

    def _dispatch_due(self, now: datetime) -> None:
        # Looked up once a dispatch rather than once or twice per run (see _debug).
        self._debug = logger.isEnabledFor(logging.DEBUG)
        isolated(self._due.pop_due(now), functools.partial(self._arrive, now=now), self._fault)
        self._pump()
        self._arm_dispatch()

    def _arrive(self, run: Run, now: datetime) -> None:
        dropped = self._dropped
        if dropped and run.id in dropped:
            dropped.discard(run.id)  # cancelled while it waited to be due
            return
        job = self._jobs.get(run.job_id)
        if job is None:
            self._removed(run)
            return
        if run.cancel_requested:
            self._finish_unstarted(run, job, RunStatus.CANCELLED, "cancelled before start")
            return
        if job.paused and run.trigger != "manual":
            self._finish_unstarted(run, job, RunStatus.SKIPPED, "skipped: the job is paused")
            return
        if job.depends_on and not self._ready_to_run(run, job, now):
            return
        inflight = self._inflight.get(job.id)
        if inflight:
            queued = self._queued.get(job.id)
            if catching_up(run) and (
                job.overlap is not Overlap.ALLOW or len(inflight) >= job.max_instances
            ):
                # Catch-up runs wait for the job's current run rather than skip each other.
                self._queued.setdefault(job.id, deque()).append((run.replace(queued_at=now), job))
                return
            # overlap=queue keeps one run waiting; catch-up runs do not take its place.
            taken = queued is not None and not all(catching_up(r) for r, _ in queued)
            verdict = overlap_verdict(job, inflight, queue_taken=taken)
            action = verdict.action
            if action == "skip":
                self._skip(run, job, verdict.reason)
                return
            if action == "queue":
                self._queued.setdefault(job.id, deque()).append((run.replace(queued_at=now), job))
                return
            if action == "replace":
                self._replace(job, run, now)
        if len(self._active) + len(self._lingering) < self.s.max_running and not self._ready:
            # Nothing waits and a place is free: start now, without a trip through the queue.
            self._inflight.setdefault(job.id, set()).add(run.id)
            self._start(run, job)
            return
        self._enqueue(run, job, now)

    def _ready_to_run(self, run: Run, job: Job, now: datetime) -> bool:
        """False (and the run parked) while a ``depends_on`` job lacks a fresh success.

        Called only for jobs with ``depends_on``: the caller checks, sparing every other run
        the call.
        """
        if run.id in self._deps_met:
            self._deps_met.discard(run.id)
            return True
        if run.id not in self._waiting:
            run = run.replace(queued_at=run.queued_at or now, waited_for=job.depends_on)
            self._waiting[run.id] = Waiting(run, job, dependency_deadline(job, run, now))
        self._check_dependencies_soon()
        return False

    # -- dependencies ---------------------------------------------------------------------

    def _check_dependencies_soon(self) -> None:
        if self._dep_check is not None and not self._dep_check.done():
            self._dep_again = True  # the running check looks once more when it is done
            return
        self._dep_check = self._spawn(self._check_dependencies())

    async def _check_dependencies(self) -> None:
        while True:
            self._dep_again = False
            waiting = list(self._waiting.values())
            if not waiting:
                return
            await self._writer.write_now()
            verdicts = await self._db(self._dependency_verdicts, waiting, self.clock.now())
            now = self.clock.now()
            isolated(
                verdicts,
                functools.partial(self._apply_verdict, now),
                lambda verdict, exc: self._fault(verdict[0].run, exc),
            )
            self._pump()
            if not self._dep_again:
                return

    def _apply_verdict(self, now: datetime, verdict: Verdict) -> None:
        entry, missing, outcome = verdict
        run_id = entry.run.id
        if self._waiting.get(run_id) is not entry:
            return  # cancelled or released meanwhile
        if isinstance(outcome, Exception):
            raise outcome  # the store could not tell; the run fails with that error
        if not missing:
            del self._waiting[run_id]
            self._deps_met.add(run_id)
            self._arrive(entry.run, now)
        elif outcome is not None:
            del self._waiting[run_id]
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
        done = self._finish_unstarted(run, job, RunStatus.SKIPPED, message)
        # A run that never got its dependencies counts against the job's retries.
        if run.attempt <= job.retries and not self._stopping:
            self._spawn(self._retry(done, job))

    def _dependency_wake(self) -> datetime | None:
        if not self._waiting:
            return None
        earliest = min(w.deadline for w in self._waiting.values())
        if self._shared and self.s.poll is not None:
            earliest = min(earliest, self._next_dep_poll)
        return earliest

    def _load_triggers(self) -> dict[str, list[str]]:
        return downstream_index(self.store.triggered_jobs())

    async def _refresh_triggers(self) -> None:
        self._downstream = await self._off_loop(self._load_triggers)

    def _fire_triggers_soon(self, job_id: str) -> None:
        names = self._downstream.get(job_id)
        if names:
            self._spawn(self._fire_triggers(list(names)))

    async def _fire_triggers(self, names: list[str]) -> None:
        await self._writer.write_now()
        started = await self._db(self._insert_triggered, names, self.clock.now())
        for run, job in started:
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "job %s triggered by %s",
                    job.id,
                    job.schedule.describe(),
                    extra=extra(job.id, run.id),
                )
        if started:
            self._nudge()

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

        isolated(names, trigger, self._chore_fault)
        return started

    def _replace(self, job: Job, run: Run, now: datetime) -> None:
        for run_id in list(self._inflight.get(job.id, ())):
            active = self._active.get(run_id)
            if active is not None:
                active.cancel(f"replaced by run {run.id} (overlap=replace)")
                continue
            self._drop_ready(run_id, f"replaced by run {run.id} (overlap=replace)")

    def _fault(self, run: Run, exc: Exception) -> None:
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
        self._forget(run_id)
        active = self._active.pop(run_id, None)
        # What the engine had reached for the run before the fault, if anything.
        known = self._writer.dirty.get(run_id)
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
            record = as_unstarted(run, RunStatus.FAILED, self.clock.now(), error)
        self._leave(job_id, run_id)
        self._save(record)
        job = self._jobs.get(job_id)
        retry = job is not None and record.status.retryable and run.attempt <= job.retries
        if retry and not self._stopping:
            assert job is not None
            # An attempt inserted before the fault makes this one a no-op (one per slot).
            self._spawn(self._retry(record, job))
        self._pump_soon()
        self._emit(FINAL_EVENTS.get(record.status, EventType.RUN_FAILED), record, job, error)

    def _forget(self, run_id: str) -> None:
        """Take a run out of every queue of the engine (not out of ``_active``)."""
        self._ready.remove(run_id)
        self._waiting.pop(run_id, None)
        self._deps_met.discard(run_id)
        self._dropped.discard(run_id)
        for job_id, waiting in list(self._queued.items()):
            for entry in waiting:
                if entry[0].id == run_id:
                    waiting.remove(entry)
                    if not waiting:
                        del self._queued[job_id]
                    return

    def _chore_fault(self, item: object, exc: Exception) -> None:
        """Log an error in one item of a chore (an announcement, a check); the rest go on."""
        logger.error("the engine failed on %r; going on with the others", item, exc_info=exc)

    def _removed(self, run: Run) -> None:
        # The store leaves claimed runs of a removed job to us, so each keeps a record.
        self._finish_unstarted(run, None, RunStatus.CANCELLED, "cancelled: its job was removed")

    def _skip(self, run: Run, job: Job, reason: str) -> None:
        log_slot(run, "skipped", reason)
        self._finish_unstarted(run, job, RunStatus.SKIPPED, f"skipped: {reason}")

    def _finish_unstarted(self, run: Run, job: Job | None, status: RunStatus, why: str) -> Run:
        # Skips come in storms when the engine is behind; each must cost much less than a run.
        done = as_unstarted(run, status, self.clock.now(), why)
        self._save(done)
        self._emit(FINAL_EVENTS[status], done, job, why)
        return done

    def _enqueue(self, run: Run, job: Job, queued_at: datetime | None) -> None:
        if not self._ready:
            self._defer_completions(0.0)  # see _arm_dispatch
        self._inflight.setdefault(job.id, set()).add(run.id)
        self._ready.push(run, job, queued_at)

    def _drop_ready(self, run_id: str, why: str) -> bool:
        entry = self._ready.remove(run_id)
        if entry is None:
            return False
        run, job, queued_at = entry
        self._leave(job.id, run_id)
        run = as_queued(run, queued_at or run.queued_at)
        self._finish_unstarted(run, job, RunStatus.CANCELLED, why)
        return True

    def _leave(self, job_id: str, run_id: str) -> None:
        inflight = self._inflight.get(job_id)
        if inflight is not None:
            inflight.discard(run_id)
            if not inflight:
                del self._inflight[job_id]
        waiting = self._queued.get(job_id)
        if job_id not in self._inflight and waiting:
            run, job = waiting.popleft()
            if not waiting:
                del self._queued[job_id]
            self._enqueue(run, self._jobs.get(job_id, job), run.queued_at)

    def _pump(self) -> None:
        if self._ready:
            isolated(self._startable(), self._start_ready, self._fault_ready)

    def _startable(self) -> Iterator[tuple[Run, Job, datetime | None]]:
        """Waiting runs, earliest first, while a place is free."""
        limit = self.s.max_running
        # Places first: len() is cheaper than the queue's Python-level truth test.
        while len(self._active) + len(self._lingering) < limit and self._ready:
            yield self._ready.pop()

    def _start_ready(self, entry: tuple[Run, Job, datetime | None]) -> None:
        run, job, queued_at = entry
        current = self._jobs.get(job.id)
        if current is None:
            self._leave(job.id, run.id)
            self._removed(as_queued(run, queued_at or run.queued_at))
            return
        self._start(run, current, queued_at)

    def _fault_ready(self, entry: tuple[Run, Job, datetime | None], exc: Exception) -> None:
        self._fault(entry[0], exc)

    def _pump_soon(self) -> None:
        """Fill free places on the next turn of the loop (not from inside a fault)."""
        if self.loop is not None and not self._stopping:
            self.loop.call_soon(self._pump_unless_stopping)

    def _pump_unless_stopping(self) -> None:
        if not self._stopping:
            self._pump()

    def _resolve(self, job: Job) -> tuple[Callable[..., Any] | Command, Executor]:
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
        # function on its first run held up the first second of 20k jobs.
        key = (id(target.func), job.executor)
        shared = self._shared_targets.get(key) if target.kind == "callable" else None
        if shared is not None and shared[0].func is target.func:
            self._targets[job.id] = shared
            return shared[1], shared[2]
        func = resolve_target(target, self.s.tasks)
        executor = self._executor(job.executor or default_executor_name(func))
        entry = (target, func, executor, job.executor)
        if target.kind == "callable":
            self._shared_targets[key] = entry
        self._targets[job.id] = entry
        return func, executor

    def _start(self, run: Run, job: Job, queued_at: datetime | None = None) -> None:
        """Hand a run to its executor; an unexpected error propagates to the caller's
        `isolated` loop, whose `_fault` ends the run."""
        try:
            func, executor = self._resolve(job)
        except CronworkError as exc:  # a target that does not resolve, an unknown executor
            self._leave(job.id, run.id)
            self._finish_unstarted(run, job, RunStatus.FAILED, f"cannot start: {exc}")
            return
        # Read at the hand-over itself, not once per batch of starts: started_at is what
        # lateness is measured by.
        now = self.clock.now()
        timeout = job.timeout
        context = new_context(
            BLANK_CONTEXT,
            job.id,
            run.id,
            run.scheduled_for,
            run.attempt,
            now + timeout if timeout is not None else None,
        )
        invocation = new_invocation(
            BLANK_INVOCATION,
            func,
            job.args,
            job.kwargs,
            context,
            timeout.total_seconds() if timeout is not None else None,
            # By identity: an enum member's .value is a Python-level property, and a dict
            # keyed by members hashes them in Python too.
            "warn" if job.on_timeout is OnTimeout.WARN else "cancel",
            self.s.kill_grace,
        )
        active = Active(run, job, self.s.node, now, queued_at or run.queued_at or now)
        # Only a soft deadline ever calls on_overdue.
        overdue = None if timeout is None else lambda: self._overdue(active)
        execution = active.execution = executor.start(invocation, overdue)
        self._active[run.id] = active
        self._save(active)
        if self._debug:
            logger.debug("run %s of job %s started", run.id, job.id, extra=extra(job.id, run.id))
        if self.s.listeners.wants(EventType.RUN_STARTED):
            self._emit(EventType.RUN_STARTED, active.started(), job)
        add_done_callback = getattr(execution, "add_done_callback", None)
        if add_done_callback is not None:
            # A partial, not a lambda: one Python frame fewer on the path of every run.
            add_done_callback(functools.partial(self._finished, active))
        else:
            # Executors from elsewhere may only offer wait().
            assert self.loop is not None
            active.task = self.loop.create_task(self._watch(active))

    def _executor(self, name: str) -> Executor:
        executor = self._executors.get(name)
        if executor is None:
            if name == "thread":
                # Overrunning threads keep their place, so max_running workers are enough.
                executor = ThreadExecutor(max_workers=self.s.max_running + 1)
            elif name == "async":
                executor = CoroutineExecutor()
            elif name == "process":
                executor = ProcessExecutor(self.s.node)
            elif name == "command":
                executor = CommandExecutor(self.s.node)
            else:
                raise JobError(f"unknown executor {name!r}")
            self._executors[name] = executor
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
            self._emit(
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
            self._fault(active.run, exc)

    def _record_outcome(self, active: Active, outcome: Outcome) -> None:
        active.outcome = outcome
        active.finished_at = self.clock.now()
        run = active.run
        current = self._jobs.get(run.job_id)
        job = active.job if current is None else current
        del self._active[run.id]
        self._save(active)
        status = outcome.status
        # Compared by identity: hashing or comparing an enum member runs Python code, and
        # this is the path of every run.
        succeeded = status is RunStatus.SUCCEEDED
        if not succeeded or self._debug:
            self._log_outcome(active.record())
        if self.s.listeners.count:
            kind = FINAL_EVENTS.get(status, EventType.RUN_FAILED)
            if self.s.listeners.wants(kind):
                self._emit(kind, active.record(), job)
        linger = outcome.lingering
        if linger is not None and not linger.done():
            active.linger = linger
            self._lingering[run.id] = active
            linger.add_done_callback(lambda _: self._release(active))
            self._poke()
        else:
            self._release(active)
        # A removed job (current is None) is not retried: its retry would have no job.
        retrying = (
            not succeeded
            and status.retryable
            and run.attempt <= job.retries
            and current is not None
        )
        if retrying and not self._stopping:
            self._spawn(self._retry(active.record(), job))
        if self._waiting:
            self._check_dependencies_soon()
        if not retrying and not self._stopping and self._downstream:
            self._fire_triggers_soon(job.id)

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

    def _release(self, active: Active) -> None:
        self._lingering.pop(active.run.id, None)
        self._leave(active.job.id, active.run.id)
        if not self._stopping:
            self._pump()
        self._poke()

    async def _retry(self, run: Run, job: Job) -> None:
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
            self._save(noted(run, f"not retried: {format_error(exc)}"))

    async def _insert_retry(self, run: Run, job: Job) -> None:
        now = self.clock.now()
        attempt = retry_of(run, job, now)
        if attempt is None:
            return
        delay = due_time(attempt) - now
        stored = await self._db(self.store.add_run, attempt)
        if stored is None and run.status is RunStatus.LOST:
            # expire_leases inserted the retry in the same transaction as the expiry, so a
            # crash could not drop it; it is announced here all the same.
            stored = await self._db(self._inserted_retry, run)
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
        self._emit(EventType.RUN_RETRIED, stored, job, f"after {delay.total_seconds():.3g}s")
        self._nudge()

    def _inserted_retry(self, run: Run) -> Run | None:
        for waiting in self.store.runs(run.job_id, RunStatus.SCHEDULED, limit=1000):
            if waiting.scheduled_for == run.scheduled_for and waiting.attempt == run.attempt + 1:
                return waiting
        return None

    # -- requests from the faces ----------------------------------------------------------

    def job_changed(self, job_id: str, job: Job | None) -> None:
        """Refresh the cached job (None when removed); called on the loop."""
        if job is None:
            self._jobs.pop(job_id, None)
        else:
            self._jobs[job_id] = job
        for names in self._downstream.values():
            if job_id in names:
                names.remove(job_id)
        if job is not None:
            for name in downstream_index([job]):
                self._downstream.setdefault(name, []).append(job_id)
        self._nudge()

    def request_cancel(self, run_ids: Iterable[str]) -> None:
        """Cancel these runs if this engine holds them; called on the loop."""
        if self._stopping:
            # The main loop, which would pick the ids up, has ended or is ending.
            for run_id in run_ids:
                self._cancel_local(run_id, "cancel requested")
            return
        self._cancel_ids.update(run_ids)
        self._nudge()

    def _cancel_requested(self, run_id: str) -> None:
        self._cancel_local(run_id, "cancel requested")

    def _cancel_local(self, run_id: str, why: str) -> None:
        active = self._active.get(run_id)
        if active is not None:
            active.cancel(why)
            return
        entry = self._waiting.pop(run_id, None)
        if entry is not None:
            self._finish_unstarted(entry.run, entry.job, RunStatus.CANCELLED, why)
            return
        if self._drop_ready(run_id, why):
            return
        for job_id, waiting in list(self._queued.items()):
            for run, job in waiting:
                if run.id == run_id:
                    waiting.remove((run, job))
                    if not waiting:
                        del self._queued[job_id]
                    self._finish_unstarted(run, job, RunStatus.CANCELLED, why)
                    return
        for run in self._due:
            if run.id == run_id and run_id not in self._dropped:
                self._dropped.add(run_id)
                self._finish_unstarted(run, self._jobs.get(run.job_id), RunStatus.CANCELLED, why)
                return
