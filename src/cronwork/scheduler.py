"""The two faces of the scheduler: `Scheduler` (blocking) and `AsyncScheduler` (asyncio).

Both run one `cronwork.engine.Engine`: ``AsyncScheduler`` on the caller's loop, ``Scheduler``
on a background thread behind blocking methods. Management calls (add, pause, trigger, ...)
are `cronwork.operations.Operations`: they only touch the store, so they work whether or not
the engine runs, and then wake the engine so it sees the change at once.

Why this module is over 500 lines: each face spells out every keyword of ``add_job`` and
``modify_job`` with its type and a line of docs (about 300 lines between the two faces), so
that editors and type checkers see them; the logic behind them is in `cronwork.operations`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import difflib
import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any, Never, TypeVar

from cronwork.clock import Clock, SystemClock
from cronwork.engine import Engine
from cronwork.engine.settings import (
    DEFAULT_HORIZON,
    DEFAULT_LEASE,
    DEFAULT_POLL,
    MEMORY_HORIZON,
    MEMORY_POLL,
    Settings,
    make_node_id,
)
from cronwork.errors import CronworkError, JobError, SettingError
from cronwork.events import EventType, Listener, Listeners
from cronwork.jobs import (
    DEFAULT_MISFIRE_GRACE,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_RETRY_BACKOFF_MAX,
    Job,
)
from cronwork.notifier import Notifier
from cronwork.notify import NotifyTarget, parse_notify
from cronwork.operations import UNCHANGED, Operations, Unchanged
from cronwork.policies import Misfire, OnTimeout, Overlap
from cronwork.runs import Run, RunStatus
from cronwork.stores import MemoryStore, Store, open_store
from cronwork.targets import TaskRegistry

__all__ = ["AsyncScheduler", "Scheduler"]

T = TypeVar("T")
# How long a stopping scheduler waits for queued notifications to be sent.
NOTIFY_DRAIN = 5.0
F = TypeVar("F", bound=Callable[..., Any])


def _refuse_settings(face: str, unknown: Mapping[str, object]) -> None:
    """Raise a SettingError naming the first unknown setting and its close match."""
    allowed = [
        name
        for name, p in inspect.signature(_Base.__init__).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY or name == "store"
    ]
    first = sorted(unknown)[0]
    close = difflib.get_close_matches(first, allowed, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise SettingError(
        f"{face}: unknown setting {', '.join(sorted(unknown))}{hint}; "
        f"use {', '.join(sorted(allowed))}",
        field=first,
        value=unknown[first],
    )


def _default_targets(value: object) -> tuple[NotifyTarget, ...]:
    """The scheduler's ``notify`` setting, parsed; a SettingError names what is wrong."""
    try:
        return parse_notify(value, "[scheduler]")
    except JobError as exc:
        problem = str(exc).removeprefix("job '[scheduler]': ")
        raise SettingError(problem, field=exc.field, value=exc.value) from None


def _base_url(value: object) -> str | None:
    """The ``base_url`` setting: None, or an http(s) URL (its trailing slash dropped)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        shown = value if isinstance(value, str) else type(value).__name__
        raise SettingError(
            f"base_url must be an http(s) URL, got {shown!r}", field="base_url", value=value
        )
    return value.rstrip("/")


class _Base:
    """What both faces share: settings, the store, and the store-only `Operations`."""

    def __init__(
        self,
        store: Store | str | None = None,
        *,
        max_running: int = 10,
        timezone: str | tzinfo | None = None,
        clock: Clock | None = None,
        tasks: TaskRegistry | None = None,
        node: str | None = None,
        lease: timedelta | float | str = DEFAULT_LEASE,
        poll_interval: timedelta | float | str | None = None,
        horizon: timedelta | float | str | None = None,
        keep_runs: int | None = 1000,
        keep_runs_for: timedelta | float | str | None = None,
        kill_grace: float = 5.0,
        freeze_gc: bool = False,
        celery_app: Any = None,
        notify: Iterable[str | Mapping[str, Any] | NotifyTarget] | None = None,
        base_url: str | None = None,
        **unknown: Never,
    ) -> None:
        """Set the scheduler up; nothing runs until ``start()``.

        - ``store``: a Store, a URL (``sqlite:///jobs.db``), or None for a memory store
        - ``max_running``: how many runs may execute at once, across all jobs
        - ``timezone``: the zone of schedules that name none (an IANA name or a tzinfo)
        - ``clock``: the source of time; tests pass ``cronwork.testing.FakeClock``
        - ``tasks``: a registry of named tasks to share between schedulers
        - ``node``: this scheduler's node id on the runs it executes; default: unique per process
        - ``lease``: how long a claimed run stays this node's without renewal
        - ``poll_interval``: how often a shared store is read for other processes' changes
        - ``horizon``: how far ahead due slots are claimed
        - ``keep_runs``: finished runs kept per job (None: all)
        - ``keep_runs_for``: finished runs older than this are pruned (None: kept)
        - ``kill_grace``: seconds between asking a timed-out process to stop and killing it
        - ``freeze_gc``: keep the collector's full passes off long-lived objects (see the guide)
        - ``celery_app``: the Celery app (or ``"package.module:app"``) of CeleryTask targets
          that name none (see docs/celery.md)
        - ``notify``: webhook targets told about every job's runs, besides each job's own
        - ``base_url``: the dashboard's address, for links to run pages in notifications
        """
        from cronwork.timing import parse_duration
        from cronwork.timing.zones import resolve_zone

        if unknown:
            _refuse_settings(type(self).__name__, unknown)
        if not isinstance(max_running, int) or isinstance(max_running, bool) or max_running < 1:
            raise CronworkError(f"max_running must be a whole number >= 1, got {max_running!r}")
        # A Store object belongs to the caller (tests reuse one across restarts).
        self._owns_store = store is None or isinstance(store, str)
        if store is None:
            self.store: Store = MemoryStore(keep_runs=keep_runs)
        else:
            self.store = open_store(store)
        if self._owns_store:
            self.store.open()
        self.timezone = resolve_zone(timezone) if timezone is not None else None
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.tasks = tasks if tasks is not None else TaskRegistry()
        self.listeners = Listeners()
        shared = self.store.shared
        poll: timedelta | None
        if poll_interval is None:
            poll = DEFAULT_POLL if shared else MEMORY_POLL
        else:
            poll = parse_duration(poll_interval, what="poll_interval")
        self._settings = Settings(
            store=self.store,
            clock=self.clock,
            listeners=self.listeners,
            tasks=self.tasks,
            max_running=max_running,
            node=node or make_node_id(),
            lease=parse_duration(lease, what="lease"),
            horizon=(DEFAULT_HORIZON if shared else MEMORY_HORIZON)
            if horizon is None
            else parse_duration(horizon, what="horizon", allow_zero=True),
            poll=poll,
            keep_runs=keep_runs,
            keep_runs_for=None
            if keep_runs_for is None
            else parse_duration(keep_runs_for, what="keep_runs_for"),
            kill_grace=float(kill_grace),
            freeze_gc=bool(freeze_gc),
            notify=_default_targets(notify),
            base_url=_base_url(base_url),
        )
        #: The management operations, over the store alone: usable with no engine running.
        self.operations = Operations(
            self.store,
            self.clock,
            tasks=self.tasks,
            listeners=self.listeners,
            timezone=self.timezone,
            celery_app=celery_app,
        )
        #: Sends the notifications of finished runs while the scheduler runs (its timeout,
        #: attempts and backoff may be tuned before start).
        self.notifier = Notifier(
            self._settings.notify, store=self.store, base_url=self._settings.base_url
        )
        self._stop_listening: Callable[[], None] | None = None
        self._face_init()

    def _face_init(self) -> None:
        """Set up what one face needs beside the shared settings."""

    @property
    def _engine(self) -> Engine | None:
        # Kept on the operations, which tell a running engine of each change.
        return self.operations.engine

    @_engine.setter
    def _engine(self, engine: Engine | None) -> None:
        self.operations.engine = engine

    @property
    def node(self) -> str:
        """This scheduler's node id, as recorded on the runs it executes."""
        return self._settings.node

    @property
    def max_running(self) -> int:
        """How many runs may execute at once, across all jobs."""
        return self._settings.max_running

    @property
    def running(self) -> bool:
        """True between start() and shutdown()."""
        return self._engine is not None

    # -- listeners and tasks --------------------------------------------------------------

    def on(self, event: str | EventType, callback: Listener) -> Callable[[], None]:
        """Call ``callback(event)`` on ``event`` (``"*"`` for all); return an unsubscriber."""
        return self.listeners.add(event, callback)

    def task(self, name: str | None = None) -> Callable[[F], F]:
        """Decorator: register a function as a named task, a target stores can persist."""

        def register(func: F) -> F:
            self.tasks.register(name or func.__name__, func)
            return func

        return register

    # -- management (sync, store-only) ----------------------------------------------------

    # -- management (sync, store-only; see cronwork.operations) -----------------------------

    def _job_decorator(
        self, schedule: object, job_id: str | None, settings: dict[str, Any]
    ) -> Callable[[F], F]:
        def register(func: F) -> F:
            self.operations.add_job(job_id or func.__name__, func, schedule, **settings)
            return func

        return register

    def _new_engine(self) -> Engine:
        if self._stop_listening is None:
            self._stop_listening = self.notifier.attach(self.listeners)
        return Engine(self._settings)

    def _stop_notifier(self) -> None:
        """Stop listening; send what is queued (a few seconds at most), then stop sending."""
        stop, self._stop_listening = self._stop_listening, None
        if stop is not None:
            stop()
        self.notifier.close(NOTIFY_DRAIN)

    def _close_store(self) -> None:
        if self._owns_store:
            self.store.close()


class Scheduler(_Base):
    """The blocking face: the engine runs on a background thread.

    Its settings are those of ``_Base.__init__``, listed there one per line.
    """

    def _face_init(self) -> None:
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._shutting_down = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the engine on a background thread; return once it runs."""
        with self._lock:
            if self._engine is not None:
                raise CronworkError("the scheduler is already running")
            loop = asyncio.new_event_loop()
            engine = self._new_engine()
            started: concurrent.futures.Future[None] = concurrent.futures.Future()

            def main() -> None:
                asyncio.set_event_loop(loop)

                async def boot() -> None:
                    try:
                        await engine.start()
                    except BaseException as exc:
                        started.set_exception(exc)
                        raise
                    started.set_result(None)

                try:
                    loop.run_until_complete(boot())
                except BaseException:
                    return
                finally:
                    if not started.done():
                        started.set_exception(CronworkError("the engine did not start"))
                loop.run_forever()

            thread = threading.Thread(target=main, name="cronwork-engine", daemon=True)
            thread.start()
            try:
                started.result()
            except BaseException:
                thread.join()
                self._close_loop(loop)
                raise
            self._engine, self._loop, self._thread = engine, loop, thread

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the engine; wait for running runs (at most ``timeout`` s), cancel the rest.

        ``shutdown(wait=False)`` while another thread's graceful shutdown is waiting for runs
        cancels them at once, and returns when that shutdown is complete.
        """
        engine = self._engine
        if not wait and engine is not None and self._shutting_down:
            engine.call_soon(engine.hurry)
        with self._lock:
            engine, loop, thread = self._engine, self._loop, self._thread
            if engine is None or loop is None or thread is None:
                return
            self._shutting_down = True
            try:
                future = asyncio.run_coroutine_threadsafe(engine.stop(wait, timeout), loop)
                future.result()
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join()
                self._close_loop(loop)
                self._engine = self._loop = self._thread = None
                self._shutting_down = False
                self._stop_notifier()

    @staticmethod
    def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
        if loop.is_closed():
            return
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    def close(self) -> None:
        """Shut down and close the store if the scheduler opened it."""
        self.shutdown()
        self._close_store()

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def idle(self, timeout: float | None = 30.0, runs: bool = True) -> None:
        """Block until the engine has processed and recorded everything due now."""
        engine, loop = self._engine, self._loop
        if engine is None or loop is None:
            return
        asyncio.run_coroutine_threadsafe(engine.idle(runs), loop).result(timeout)

    # -- jobs -----------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str,
        target: object,
        schedule: object,
        *,
        replace: bool = False,
        timezone: str | tzinfo | None = None,
        timeout: timedelta | float | str | None = None,
        on_timeout: OnTimeout | str = "cancel",
        retries: int = 0,
        retry_backoff: timedelta | float | str = DEFAULT_RETRY_BACKOFF,
        retry_backoff_max: timedelta | float | str = DEFAULT_RETRY_BACKOFF_MAX,
        overlap: Overlap | str = "skip",
        max_instances: int = 1,
        misfire: Misfire | str = "once",
        misfire_grace: timedelta | float | str = DEFAULT_MISFIRE_GRACE,
        start_at: datetime | str | None = None,
        end_at: datetime | str | None = None,
        jitter: timedelta | float | str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
        executor: str | None = None,
        depends_on: Iterable[str] | str | None = None,
        dependency_timeout: timedelta | float | str | None = None,
        paused: bool = False,
        notify: Iterable[str | Mapping[str, Any]] | None = None,
        **unknown: Never,
    ) -> Job:
        """Add a job; a duplicate id raises DuplicateJob unless ``replace=True``.

        ``target`` is a function, an import path ``"module:function"``, a task name, a
        `Command`, or a `CeleryTask` (sent to a Celery worker fleet); ``schedule`` a cron
        expression, a phrase (``"every 5m"``), a one-shot instant, a trigger
        (``after("extract")``) or a `Schedule`. Keywords:

        - ``replace``: overwrite a job with the same id instead of raising
        - ``timezone``: zone of the schedule (an IANA name); default: the scheduler's
        - ``timeout``: how long a run may take (seconds, ``timedelta`` or ``"30m"``)
        - ``on_timeout``: ``cancel`` the run at its timeout, or only ``warn``
        - ``retries``: how many times a failed run is tried again
        - ``retry_backoff``: the first retry's delay, doubled for each next one
        - ``retry_backoff_max``: the longest retry delay
        - ``overlap``: a run due while the last runs: ``skip``, ``queue``, ``allow``, ``replace``
        - ``max_instances``: with ``overlap="allow"``, how many runs may run at once
        - ``misfire``: what slots missed while stopped do: ``once``, ``all`` or ``skip``
        - ``misfire_grace``: how late a slot may still run as if on time
        - ``start_at``: no slot before this instant
        - ``end_at``: no slot after this instant
        - ``jitter``: a random delay of up to this much per slot
        - ``args``: positional arguments of each call (JSON for a persistent store)
        - ``kwargs``: keyword arguments of each call (JSON for a persistent store)
        - ``tags``: labels to find and filter jobs by
        - ``executor``: ``thread``, ``process``, ``async``, ``command`` or ``celery``; default:
          by target
        - ``depends_on``: ids of jobs that must have succeeded since this job's last slot
        - ``dependency_timeout``: how long a run waits for its dependencies
        - ``paused``: add the job paused
        - ``notify``: webhook URLs (or ``{"url": ..., "on": [...]}``) told of failed runs

        A misspelt keyword raises JobError naming it and its close match.
        """
        return self.operations.add_job(
            job_id,
            target,
            schedule,
            replace=replace,
            timezone=timezone,
            timeout=timeout,
            on_timeout=on_timeout,
            retries=retries,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            overlap=overlap,
            max_instances=max_instances,
            misfire=misfire,
            misfire_grace=misfire_grace,
            start_at=start_at,
            end_at=end_at,
            jitter=jitter,
            args=args,
            kwargs=kwargs,
            tags=tags,
            executor=executor,
            depends_on=depends_on,
            dependency_timeout=dependency_timeout,
            paused=paused,
            notify=notify,
            **unknown,
        )

    def job(
        self, schedule: object, *, job_id: str | None = None, **settings: Any
    ) -> Callable[[F], F]:
        """Decorator form of add_job; the job id defaults to the function's name."""
        return self._job_decorator(schedule, job_id, settings)

    def modify_job(
        self,
        job_id: str,
        *,
        schedule: object | Unchanged = UNCHANGED,
        target: object | Unchanged = UNCHANGED,
        timezone: str | tzinfo | Unchanged | None = UNCHANGED,
        timeout: timedelta | float | str | Unchanged | None = UNCHANGED,
        on_timeout: OnTimeout | str | Unchanged = UNCHANGED,
        retries: int | Unchanged = UNCHANGED,
        retry_backoff: timedelta | float | str | Unchanged = UNCHANGED,
        retry_backoff_max: timedelta | float | str | Unchanged = UNCHANGED,
        overlap: Overlap | str | Unchanged = UNCHANGED,
        max_instances: int | Unchanged = UNCHANGED,
        misfire: Misfire | str | Unchanged = UNCHANGED,
        misfire_grace: timedelta | float | str | Unchanged = UNCHANGED,
        start_at: datetime | str | Unchanged | None = UNCHANGED,
        end_at: datetime | str | Unchanged | None = UNCHANGED,
        jitter: timedelta | float | str | Unchanged | None = UNCHANGED,
        args: Iterable[Any] | Unchanged = UNCHANGED,
        kwargs: Mapping[str, Any] | Unchanged | None = UNCHANGED,
        tags: Iterable[str] | Unchanged = UNCHANGED,
        executor: str | Unchanged | None = UNCHANGED,
        depends_on: Iterable[str] | str | Unchanged | None = UNCHANGED,
        dependency_timeout: timedelta | float | str | Unchanged | None = UNCHANGED,
        paused: bool | Unchanged = UNCHANGED,
        notify: Iterable[str | Mapping[str, Any]] | Unchanged | None = UNCHANGED,
        **unknown: Never,
    ) -> Job:
        """Change settings of a job; the keywords not given keep their value.

        They are add_job's (``schedule`` and ``target`` too); a new schedule, time zone,
        ``start_at``, ``end_at`` or ``jitter`` recomputes the next run from now. A misspelt
        keyword raises JobError naming it and its close match.
        """
        changes = {
            name: value
            for name, value in (
                ("schedule", schedule),
                ("target", target),
                ("timezone", timezone),
                ("timeout", timeout),
                ("on_timeout", on_timeout),
                ("retries", retries),
                ("retry_backoff", retry_backoff),
                ("retry_backoff_max", retry_backoff_max),
                ("overlap", overlap),
                ("max_instances", max_instances),
                ("misfire", misfire),
                ("misfire_grace", misfire_grace),
                ("start_at", start_at),
                ("end_at", end_at),
                ("jitter", jitter),
                ("args", args),
                ("kwargs", kwargs),
                ("tags", tags),
                ("executor", executor),
                ("depends_on", depends_on),
                ("dependency_timeout", dependency_timeout),
                ("paused", paused),
                ("notify", notify),
            )
            if value is not UNCHANGED
        }
        return self.operations.modify_job(job_id, {**changes, **unknown})

    def remove_job(self, job_id: str, *, force: bool = False) -> None:
        """Remove a job; running runs finish, claimed ones end cancelled, history is kept.

        A job that others depend on is only removed with ``force=True``.
        """
        self.operations.remove_job(job_id, force)

    def pause_job(self, job_id: str, note: str | None = None) -> Job:
        """Stop claiming slots of a job until resume_job."""
        return self.operations.set_paused(job_id, True, note)

    def resume_job(self, job_id: str) -> Job:
        """Resume a paused job from its next slot after now (the pause is not replayed)."""
        return self.operations.set_paused(job_id, False)

    def get_job(self, job_id: str) -> Job:
        """Return one job as stored; raise JobNotFound."""
        return self.store.get_job(job_id)

    def jobs(self) -> list[Job]:
        """Return every job, ordered by id."""
        return self.store.jobs()

    # -- runs -----------------------------------------------------------------------------

    def trigger(self, job_id: str) -> Run:
        """Run a job now, outside its schedule; return the new (scheduled) run."""
        return self.operations.trigger(job_id)

    def backfill(
        self,
        job_id: str,
        start: datetime | str,
        end: datetime | str,
        *,
        overlap: str = "skip",
    ) -> list[Run]:
        """Record a run for each slot of the job's schedule from ``start`` to ``end`` (past).

        Slots that have a run keep it; at most 1,000 slots (a longer range raises JobError,
        and records nothing). Return the new runs, oldest first. Keywords:

        - ``overlap``: ``skip`` (nothing while the job runs), ``queue`` (after its running
          run) or ``allow`` (all at once); the runs of the first two start one by one
        """
        return self.operations.backfill(job_id, start, end, overlap)

    def cancel(self, run_id: str) -> Run:
        """Cancel one run, running or not yet started."""
        return self.operations.cancel(run_id)

    def stop(self, job_id: str) -> list[Run]:
        """Cancel every running run of a job."""
        return self.operations.stop(job_id)

    def runs(
        self,
        job_id: str | None = None,
        status: RunStatus | str | None = None,
        limit: int = 100,
    ) -> list[Run]:
        """Return run records, newest slot first."""
        return self.operations.runs(job_id, status, limit)

    def get_run(self, run_id: str) -> Run:
        """Return one run record; raise RunNotFound."""
        return self.store.get_run(run_id)


class AsyncScheduler(_Base):
    """The asyncio face: the engine runs on the caller's event loop.

    Store calls of persistent stores run on a worker thread so they never block the loop;
    ``job()`` and ``task()`` decorators stay synchronous.
    """

    async def _call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if not self._settings.store.shared:
            return func(*args, **kwargs)
        return await asyncio.to_thread(func, *args, **kwargs)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the engine on the running event loop."""
        if self._engine is not None:
            raise CronworkError("the scheduler is already running")
        engine = self._new_engine()
        await engine.start()
        self._engine = engine

    async def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the engine; wait for running runs (at most ``timeout`` s), cancel the rest."""
        engine = self._engine
        if engine is None:
            return
        try:
            await engine.stop(wait, timeout)
        finally:
            self._engine = None
            await asyncio.to_thread(self._stop_notifier)

    async def close(self) -> None:
        """Shut down and close the store if the scheduler opened it."""
        await self.shutdown()
        self._close_store()

    async def __aenter__(self) -> AsyncScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def idle(self, runs: bool = True) -> None:
        """Return once the engine has processed and recorded everything due now."""
        if self._engine is not None:
            await self._engine.idle(runs)

    # -- jobs -----------------------------------------------------------------------------

    async def add_job(
        self,
        job_id: str,
        target: object,
        schedule: object,
        *,
        replace: bool = False,
        timezone: str | tzinfo | None = None,
        timeout: timedelta | float | str | None = None,
        on_timeout: OnTimeout | str = "cancel",
        retries: int = 0,
        retry_backoff: timedelta | float | str = DEFAULT_RETRY_BACKOFF,
        retry_backoff_max: timedelta | float | str = DEFAULT_RETRY_BACKOFF_MAX,
        overlap: Overlap | str = "skip",
        max_instances: int = 1,
        misfire: Misfire | str = "once",
        misfire_grace: timedelta | float | str = DEFAULT_MISFIRE_GRACE,
        start_at: datetime | str | None = None,
        end_at: datetime | str | None = None,
        jitter: timedelta | float | str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
        executor: str | None = None,
        depends_on: Iterable[str] | str | None = None,
        dependency_timeout: timedelta | float | str | None = None,
        paused: bool = False,
        notify: Iterable[str | Mapping[str, Any]] | None = None,
        **unknown: Never,
    ) -> Job:
        """Add a job; a duplicate id raises DuplicateJob unless ``replace=True``.

        ``target`` is a function, an import path ``"module:function"``, a task name, a
        `Command`, or a `CeleryTask` (sent to a Celery worker fleet); ``schedule`` a cron
        expression, a phrase (``"every 5m"``), a one-shot instant, a trigger
        (``after("extract")``) or a `Schedule`. Keywords:

        - ``replace``: overwrite a job with the same id instead of raising
        - ``timezone``: zone of the schedule (an IANA name); default: the scheduler's
        - ``timeout``: how long a run may take (seconds, ``timedelta`` or ``"30m"``)
        - ``on_timeout``: ``cancel`` the run at its timeout, or only ``warn``
        - ``retries``: how many times a failed run is tried again
        - ``retry_backoff``: the first retry's delay, doubled for each next one
        - ``retry_backoff_max``: the longest retry delay
        - ``overlap``: a run due while the last runs: ``skip``, ``queue``, ``allow``, ``replace``
        - ``max_instances``: with ``overlap="allow"``, how many runs may run at once
        - ``misfire``: what slots missed while stopped do: ``once``, ``all`` or ``skip``
        - ``misfire_grace``: how late a slot may still run as if on time
        - ``start_at``: no slot before this instant
        - ``end_at``: no slot after this instant
        - ``jitter``: a random delay of up to this much per slot
        - ``args``: positional arguments of each call (JSON for a persistent store)
        - ``kwargs``: keyword arguments of each call (JSON for a persistent store)
        - ``tags``: labels to find and filter jobs by
        - ``executor``: ``thread``, ``process``, ``async``, ``command`` or ``celery``; default:
          by target
        - ``depends_on``: ids of jobs that must have succeeded since this job's last slot
        - ``dependency_timeout``: how long a run waits for its dependencies
        - ``paused``: add the job paused
        - ``notify``: webhook URLs (or ``{"url": ..., "on": [...]}``) told of failed runs

        A misspelt keyword raises JobError naming it and its close match.
        """
        return await self._call(
            functools.partial(
                self.operations.add_job,
                job_id,
                target,
                schedule,
                replace=replace,
                timezone=timezone,
                timeout=timeout,
                on_timeout=on_timeout,
                retries=retries,
                retry_backoff=retry_backoff,
                retry_backoff_max=retry_backoff_max,
                overlap=overlap,
                max_instances=max_instances,
                misfire=misfire,
                misfire_grace=misfire_grace,
                start_at=start_at,
                end_at=end_at,
                jitter=jitter,
                args=args,
                kwargs=kwargs,
                tags=tags,
                executor=executor,
                depends_on=depends_on,
                dependency_timeout=dependency_timeout,
                paused=paused,
                notify=notify,
                **unknown,
            )
        )

    def job(
        self, schedule: object, *, job_id: str | None = None, **settings: Any
    ) -> Callable[[F], F]:
        """Decorator form of add_job (synchronous); the id defaults to the function's name."""
        return self._job_decorator(schedule, job_id, settings)

    async def modify_job(
        self,
        job_id: str,
        *,
        schedule: object | Unchanged = UNCHANGED,
        target: object | Unchanged = UNCHANGED,
        timezone: str | tzinfo | Unchanged | None = UNCHANGED,
        timeout: timedelta | float | str | Unchanged | None = UNCHANGED,
        on_timeout: OnTimeout | str | Unchanged = UNCHANGED,
        retries: int | Unchanged = UNCHANGED,
        retry_backoff: timedelta | float | str | Unchanged = UNCHANGED,
        retry_backoff_max: timedelta | float | str | Unchanged = UNCHANGED,
        overlap: Overlap | str | Unchanged = UNCHANGED,
        max_instances: int | Unchanged = UNCHANGED,
        misfire: Misfire | str | Unchanged = UNCHANGED,
        misfire_grace: timedelta | float | str | Unchanged = UNCHANGED,
        start_at: datetime | str | Unchanged | None = UNCHANGED,
        end_at: datetime | str | Unchanged | None = UNCHANGED,
        jitter: timedelta | float | str | Unchanged | None = UNCHANGED,
        args: Iterable[Any] | Unchanged = UNCHANGED,
        kwargs: Mapping[str, Any] | Unchanged | None = UNCHANGED,
        tags: Iterable[str] | Unchanged = UNCHANGED,
        executor: str | Unchanged | None = UNCHANGED,
        depends_on: Iterable[str] | str | Unchanged | None = UNCHANGED,
        dependency_timeout: timedelta | float | str | Unchanged | None = UNCHANGED,
        paused: bool | Unchanged = UNCHANGED,
        notify: Iterable[str | Mapping[str, Any]] | Unchanged | None = UNCHANGED,
        **unknown: Never,
    ) -> Job:
        """Change settings of a job; the keywords not given keep their value.

        They are add_job's (``schedule`` and ``target`` too); a new schedule, time zone,
        ``start_at``, ``end_at`` or ``jitter`` recomputes the next run from now. A misspelt
        keyword raises JobError naming it and its close match.
        """
        changes = {
            name: value
            for name, value in (
                ("schedule", schedule),
                ("target", target),
                ("timezone", timezone),
                ("timeout", timeout),
                ("on_timeout", on_timeout),
                ("retries", retries),
                ("retry_backoff", retry_backoff),
                ("retry_backoff_max", retry_backoff_max),
                ("overlap", overlap),
                ("max_instances", max_instances),
                ("misfire", misfire),
                ("misfire_grace", misfire_grace),
                ("start_at", start_at),
                ("end_at", end_at),
                ("jitter", jitter),
                ("args", args),
                ("kwargs", kwargs),
                ("tags", tags),
                ("executor", executor),
                ("depends_on", depends_on),
                ("dependency_timeout", dependency_timeout),
                ("paused", paused),
                ("notify", notify),
            )
            if value is not UNCHANGED
        }
        return await self._call(self.operations.modify_job, job_id, {**changes, **unknown})

    async def remove_job(self, job_id: str, *, force: bool = False) -> None:
        """Remove a job; running runs finish, claimed ones end cancelled, history is kept.

        A job that others depend on is only removed with ``force=True``.
        """
        await self._call(self.operations.remove_job, job_id, force)

    async def pause_job(self, job_id: str, note: str | None = None) -> Job:
        """Stop claiming slots of a job until resume_job."""
        return await self._call(self.operations.set_paused, job_id, True, note)

    async def resume_job(self, job_id: str) -> Job:
        """Resume a paused job from its next slot after now (the pause is not replayed)."""
        return await self._call(self.operations.set_paused, job_id, False)

    async def get_job(self, job_id: str) -> Job:
        """Return one job as stored; raise JobNotFound."""
        return await self._call(self.store.get_job, job_id)

    async def jobs(self) -> list[Job]:
        """Return every job, ordered by id."""
        return await self._call(self.store.jobs)

    # -- runs -----------------------------------------------------------------------------

    async def trigger(self, job_id: str) -> Run:
        """Run a job now, outside its schedule; return the new (scheduled) run."""
        return await self._call(self.operations.trigger, job_id)

    async def backfill(
        self,
        job_id: str,
        start: datetime | str,
        end: datetime | str,
        *,
        overlap: str = "skip",
    ) -> list[Run]:
        """Record a run for each slot of the job's schedule from ``start`` to ``end`` (past).

        Slots that have a run keep it; at most 1,000 slots (a longer range raises JobError,
        and records nothing). Return the new runs, oldest first. Keywords:

        - ``overlap``: ``skip`` (nothing while the job runs), ``queue`` (after its running
          run) or ``allow`` (all at once); the runs of the first two start one by one
        """
        return await self._call(self.operations.backfill, job_id, start, end, overlap)

    async def cancel(self, run_id: str) -> Run:
        """Cancel one run, running or not yet started."""
        return await self._call(self.operations.cancel, run_id)

    async def stop(self, job_id: str) -> list[Run]:
        """Cancel every running run of a job."""
        return await self._call(self.operations.stop, job_id)

    async def runs(
        self,
        job_id: str | None = None,
        status: RunStatus | str | None = None,
        limit: int = 100,
    ) -> list[Run]:
        """Return run records, newest slot first."""
        return await self._call(self.operations.runs, job_id, status, limit)

    async def get_run(self, run_id: str) -> Run:
        """Return one run record; raise RunNotFound."""
        return await self._call(self.store.get_run, run_id)
