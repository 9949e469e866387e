"""The engine: claim due runs, apply policies, dispatch to executors, record what happened.

One asyncio loop does all the work. The loop, in short: ``store.claim()`` takes the slots due
within a short look-ahead; the runs wait in due order (`DueRuns`) until their time; a due run
passes the overlap policy (`Admission.arrive`) and then waits in a ready queue,
ordered by (due time, run id), for one of ``max_running`` places; it starts on its executor;
its outcome is recorded, events fire, and a retry is inserted if the policy says so. Run
records are written in batches by the `Writer`, never one transaction per run. Each concern
lives in the module named after it; see docs/architecture.md. `Engine` is about 450
lines because the loop, the lifecycle and the stop sequence (which waits on every part in
turn) read best together.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cronwork.backoff import Backoff
from cronwork.clock import DrivesEngines
from cronwork.copiers import unstarted
from cronwork.errors import CronworkError, StoreUnavailable
from cronwork.events import FINAL_EVENTS, Event, EventType
from cronwork.jobs import Job
from cronwork.runs import Run, RunStatus
from cronwork.stores.base import Claim, Watchable

from . import gcfreeze
from .admission import Admission
from .chores import Chores
from .contention import Contention
from .launch import Launcher
from .runstate import isolated, logger
from .settings import (
    CLAIM_BATCH,
    CLAIM_LIMIT,
    CLUSTER_CLAIM_LIMIT,
    DEFAULT_POLL,
    MIN_SLEEP,
    OUTAGE_CAP,
    OUTAGE_FIRST,
    Settings,
)
from .waits import Waits
from .writer import Writer

__all__ = ["Engine"]

T = TypeVar("T")


class Engine:
    """The asyncio core behind both faces; create one per start.

    It keeps the lifecycle (start, stop, hurry, drain, idle), the loop (claim, sleep, next
    wake), wake-ups from other threads, events, and the recovery of a run after a fault; the
    run collections are the `Admission`'s, starting and finishing runs the `Launcher`'s,
    periodic chores the `Chores`', dependency waits and triggers the `Waits`', and writing
    records the `Writer`'s.
    """

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.store = settings.store
        self.clock = settings.clock
        self.loop: asyncio.AbstractEventLoop | None = None
        # Declared capabilities (see Store.shared and Clock.real_time), read once.
        self.shared = self.store.shared
        self.real_time = self.clock.real_time
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cronwork-db")
        self._wake = asyncio.Event()
        self._idle_changed = asyncio.Event()
        self._idle_watchers = 0
        # Whether per-run debug records are wanted: logging's check is a Python call, and the
        # path of every run made two; refreshed at each dispatch.
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.stopping = False
        self._parked = False
        self._parked_until: datetime | None = None
        self._main: asyncio.Task[None] | None = None
        # The current definition of each job the engine holds runs of.
        self.jobs: dict[str, Job] = {}
        # The store's outages (StoreUnavailable): one backoff and one log line each way, for
        # the loop and the writer alike.
        self.outage = Backoff("the store", logger, first=OUTAGE_FIRST, cap=OUTAGE_CAP)
        self.writer = Writer(
            self.store,
            real_time=self.real_time,
            off_loop=self.off_loop,
            poke=self.poke,
            outage=self.outage,
        )
        # Bound once: every run is saved two or three times.
        self.save = self.writer.save
        self.admission = Admission(self)
        self.contention = Contention(self)
        self._claim_limit = CLUSTER_CLAIM_LIMIT if self.contention.store else CLAIM_LIMIT
        self.launcher = Launcher(self)
        self.chores = Chores(self)
        self.waits = Waits(self)
        # Set by hurry(): a second, impatient stop request during a graceful stop.
        self._hurry = asyncio.Event()
        self._stop_started = False
        self._stopped = asyncio.Event()
        self._look = True
        self._tasks: set[asyncio.Task[Any]] = set()
        self._detach_clock: Callable[[], None] | None = None
        self._unwatch: Callable[[], None] | None = None
        self._froze = False  # whether start() froze the collector's old objects (gcfreeze)
        self._settled = False  # whether the first claims' objects were frozen too

    async def start(self) -> None:
        """Recover expired leases, check targets, then start the loop on the running loop."""
        self.loop = asyncio.get_running_loop()
        self.s.listeners.loop = self.loop
        self.writer.loop = self.loop
        if isinstance(self.clock, DrivesEngines):
            self._detach_clock = self.clock.attach(self)
        now = self.clock.now()
        # Before the first claim: a retry of a dead predecessor's run must not start while
        # that run's processes still live.
        await self.chores.handle_lost(await self.off_loop(self.chores.expire, now))
        await self.off_loop(self.chores.check_targets, now)
        self.waits.downstream = await self.off_loop(self.waits.load_triggers)
        if isinstance(self.store, Watchable):
            # Before the first claim, so that no change made after it goes unseen till a poll.
            self._unwatch = await self.off_loop(self.store.watch, self.changed_elsewhere)
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
        for active in list(self.admission.active.values()):
            active.cancel("the scheduler was told to stop at once")

    async def _stop(self, wait: bool, timeout: float | None) -> None:
        self.stopping = True
        if self._unwatch is not None:
            await self.off_loop(self._unwatch)
        self.launcher.cancel_dispatch()
        self.launcher.poll_executors()
        self.nudge()
        if self._main is not None:
            try:
                await self._main
            except Exception:
                logger.exception("the engine loop failed")
        for run in self.admission.hand_back():
            # Handed back unowned, so the next start (or another node) claims it.
            self.save(run.replace(node=None, lease_until=None, queued_at=None))
        if self.admission.active and wait and not self._hurry.is_set():
            with contextlib.suppress(TimeoutError):
                # hurry() cancels the runs, so the drain ends soon after it too.
                await asyncio.wait_for(self._drain(), timeout)
        for active in list(self.admission.active.values()):
            active.cancel("the scheduler shut down")
        await self._drain()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        await self.writer.flush()
        if self.writer.dirty:
            logger.error(
                "%d run record(s) are left unwritten: the store cannot be reached",
                len(self.writer.dirty),
            )
        waiting = [a.linger for a in self.admission.lingering.values() if a.linger is not None]
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
        await self.launcher.shutdown(hurry=self._hurry.is_set(), abandoned=abandoned)
        self._worker.shutdown(wait=True)
        if self._detach_clock is not None:
            self._detach_clock()
        self.s.listeners.loop = None

    async def _drain(self) -> None:
        while self.admission.active:
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
        self.call_soon(self.nudge)

    def changed_elsewhere(self) -> None:
        """Another process changed what is due (see Watchable): look at the store and poll
        for cancel requests and trigger jobs now; callable from any thread."""
        self.call_soon(self._look_elsewhere)

    def _look_elsewhere(self) -> None:
        self.chores.poll_now(self.clock.now())
        self.nudge()

    def nudge(self) -> None:
        # Something changed (a job, a request, a retry): the loop must look at the store, not
        # only at its due runs. The loop's own sleep timer sets _wake without this flag.
        """Make the loop look at the store on its next turn (on the loop)."""
        self._look = True
        self._wake.set()

    def output_so_far(self, run_id: str) -> str | None:
        """What run ``run_id``, running here, has printed so far; None when not known here.

        Callable from any thread: it only reads the execution's own copy of its output.
        """
        from cronwork.executors.base import ShowsOutput

        active = self.admission.active.get(run_id)
        execution: object = None if active is None else active.execution
        if isinstance(execution, ShowsOutput):
            return execution.output_so_far()
        return None

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
            and not (runs and self.admission.active)
            and not (runs and self.admission.ready)
            and not self._tasks
            and not self.writer.busy()
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

    def poke(self) -> None:
        """Tell idle() watchers that something changed."""
        if self._idle_watchers:
            self._idle_changed.set()

    async def db(self, func: Callable[..., T], *args: Any) -> T:
        """Call the store: inline unless it is shared, else on the one store thread."""
        if not self.shared:
            return func(*args)
        return await self.off_loop(func, *args)

    async def off_loop(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` on the store thread."""
        assert self.loop is not None
        return await self.loop.run_in_executor(self._worker, func, *args)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` as an engine task, logged if it fails and awaited at stop."""
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                logger.error("engine task failed", exc_info=t.exception())
            self.poke()

        task.add_done_callback(done)
        return task

    def emit(
        self, kind: EventType, run: Run, job: Job | None = None, detail: str | None = None
    ) -> None:
        """Emit a run event, if any listener wants it."""
        if self.s.listeners.wants(kind):
            event = Event(kind, run.job_id, self.clock.now(), run=run, job=job, detail=detail)
            self.s.listeners.emit(event)

    async def _run(self) -> None:
        s = self.s
        # When the store next has something to claim; None means "look now". Wake-ups for a
        # run already claimed skip the store: with slots spread evenly the loop wakes for
        # nearly every run, and a claim per wake-up costs more than the run itself (on SQLite,
        # a transaction and an fsync each). Changes by other processes are seen at each poll.
        claim_at: datetime | None = None
        while not self.stopping:
            woken, self._look = self._look, False
            self._wake.clear()
            now = self.clock.now()
            full = False
            look = (
                woken
                or claim_at is None
                or now >= claim_at
                or (s.poll is not None and now >= self.chores.next_poll)
            )
            try:
                await self.chores.maintain(now)
                if look:
                    claim, jobs = await self.db(self._claim, now)
                    self._take(claim, jobs, now)
                    full = len(claim.runs) + len(claim.missed) >= self._claim_limit
                    claimed = bool(claim.runs or claim.missed)
                    claim_at = None if full else await self._next_claim(now, claimed)
                    if self._froze and not self._settled and not full:
                        # The first claims are done: what they loaded stays (gcfreeze).
                        self._settled = True
                        gcfreeze.settle()
            except StoreUnavailable as exc:
                # Logged once per outage (the Backoff); the runs held go on, new ones wait
                # for the store while their leases could have run out (Chores.may_start).
                claim_at = None
                await self._sleep(now + timedelta(seconds=self.outage.failed(exc)))
                continue
            except Exception:
                logger.exception("claiming due runs failed; retrying")
                claim_at = None
                await self._sleep(now + (s.poll or DEFAULT_POLL))
                continue
            if look:
                self.outage.succeeded()
            now = self.clock.now()
            self.dispatch_due(now)
            if full:
                await asyncio.sleep(0)
                continue
            assert claim_at is not None
            await self._sleep(self._next_wake(now, claim_at))

    def _take(self, claim: Claim, jobs: dict[str, Job], now: datetime) -> None:
        if claim.runs:
            self.chores.claimed(now)
        self.jobs.update(jobs)
        self.contention.noted(claim)
        if claim.missed:
            isolated(claim.missed, self.admission.announce_missed, self.chore_fault)
        self.launcher.note_leads(jobs.values())
        self.admission.due.add(claim.runs, self.launcher.leads)
        self.launcher.arm_dispatch()

    def _claim(self, now: datetime) -> tuple[Claim, dict[str, Job]]:
        s = self.s
        claim = self.store.claim(now, s.horizon, s.node, s.lease, self._claim_limit)
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
        upcoming = await self.db(self.store.next_wakeup)
        if upcoming is None:
            return now + timedelta(days=1)
        # Claiming each slot as soon as it enters the horizon would mean a claim per slot;
        # waiting a little longer takes CLAIM_BATCH worth of slots at once. Not much more:
        # a claim holds the loop, and a batch of many slots holds it long enough to make the
        # runs due meanwhile late.
        at = upcoming - self.s.horizon + min(self.s.horizon / 2, CLAIM_BATCH)
        if at <= now and not claimed:
            at = now + MIN_SLEEP
        return at

    def _next_wake(self, now: datetime, claim_at: datetime) -> datetime:
        wake_at = claim_at
        # On the real clock the dispatch timer starts the claimed runs (_arm_dispatch);
        # waking the loop for each run as well would cost a turn of it per run.
        first = self.admission.due.first()
        if first is not None and first < wake_at and not self.real_time:
            wake_at = first
        if self.s.poll is not None and self.chores.next_poll < wake_at:
            wake_at = self.chores.next_poll
        if self.admission.owns_runs() and self.chores.next_renew < wake_at:
            wake_at = self.chores.next_renew
        if self.chores.tails and self.chores.next_output < wake_at:
            wake_at = self.chores.next_output
        dependency_wake = self.waits.dependency_wake()
        if dependency_wake is not None and dependency_wake < wake_at:
            wake_at = max(dependency_wake, now + MIN_SLEEP)
        return wake_at

    async def _sleep(self, moment: datetime) -> None:
        if self.stopping or self._wake.is_set():
            return
        assert self.loop is not None
        if self.real_time:
            delay = (moment - self.clock.now()).total_seconds()
            if delay <= 0:
                return
            handle = self.loop.call_later(delay, self._wake.set)
            self._parked, self._parked_until = True, moment
            self.poke()
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
        self.poke()
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._parked = False
            for task in (sleeper, waker):
                task.cancel()

    def dispatch_due(self, now: datetime) -> None:
        # Looked up once a dispatch rather than once or twice per run (see _debug).
        """Admit the runs due at ``now``, then fill free places."""
        self.debug = logger.isEnabledFor(logging.DEBUG)
        isolated(
            self.contention.admit_now(self.admission.due.pop_due(now)),
            functools.partial(self.admission.arrive, now=now),
            self.admission.fault,
        )
        self.admission.pump()
        self.launcher.arm_dispatch()

    def chore_fault(self, item: object, exc: Exception) -> None:
        """Log an error in one item of a chore (an announcement, a check); the rest go on."""
        logger.error("the engine failed on %r; going on with the others", item, exc_info=exc)

    def finish_unstarted(self, run: Run, job: Job | None, status: RunStatus, why: str) -> Run:
        # Skips come in storms when the engine is behind; each must cost much less than a run.
        """Record a run that ends without starting (skipped, cancelled, failed)."""
        done = unstarted(run, status=status, finished_at=self.clock.now(), error=why)
        self.save(done)
        self.emit(FINAL_EVENTS[status], done, job, why)
        return done

    def job_changed(self, job_id: str, job: Job | None) -> None:
        """Refresh the cached job (None when removed); called on the loop."""
        if job is None:
            self.jobs.pop(job_id, None)
            self.launcher.leads.pop(job_id, None)
        else:
            self.jobs[job_id] = job
        self.waits.job_changed(job_id, job)
        self.nudge()

    def request_cancel(self, run_ids: Iterable[str]) -> None:
        """Cancel these runs if this engine holds them; called on the loop."""
        if self.stopping:
            # The main loop, which would pick the ids up, has ended or is ending.
            for run_id in run_ids:
                self.admission.cancel_local(run_id, "cancel requested")
            return
        self.chores.cancel_ids.update(run_ids)
        self.nudge()

    def cancel_requested(self, run_id: str) -> None:
        """Cancel a run another process asked to cancel."""
        self.admission.cancel_local(run_id, "cancel requested")
