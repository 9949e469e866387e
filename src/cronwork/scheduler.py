"""The two faces of the scheduler: `Scheduler` (blocking) and `AsyncScheduler` (asyncio).

Both run one `cronwork.engine.Engine`: ``AsyncScheduler`` on the caller's loop, ``Scheduler``
on a background thread behind blocking methods. Management calls (add, pause, trigger, ...)
are `cronwork.operations.Operations`: they only touch the store, so they work whether or not
the engine runs, and then wake the engine so it sees the change at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

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
from cronwork.errors import CronworkError
from cronwork.events import EventType, Listener, Listeners
from cronwork.jobs import Job
from cronwork.operations import Operations
from cronwork.runs import Run, RunStatus
from cronwork.stores import MemoryStore, Store, open_store
from cronwork.targets import TaskRegistry

__all__ = ["AsyncScheduler", "Scheduler"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class _Base:
    """What both faces share: settings, the store, and the store-only `Operations`."""

    def __init__(
        self,
        store: Store | str | None = None,
        *,
        max_running: int = 10,
        timezone: Any = None,
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
    ) -> None:
        from cronwork.timing import parse_duration
        from cronwork.timing.zones import resolve_zone

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
        )
        #: The management operations, over the store alone: usable with no engine running.
        self.operations = Operations(
            self.store,
            self.clock,
            tasks=self.tasks,
            listeners=self.listeners,
            timezone=self.timezone,
        )

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
        return Engine(self._settings)

    def _close_store(self) -> None:
        if self._owns_store:
            self.store.close()


class Scheduler(_Base):
    """The blocking face: the engine runs on a background thread.

    ``Scheduler(store=None, *, max_running=10, timezone=None, clock=None)``; ``store`` is a
    Store, a URL (``sqlite:///jobs.db``) or None for the memory store.
    """

    def __init__(self, store: Store | str | None = None, **options: Any) -> None:
        super().__init__(store, **options)
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
        **settings: Any,
    ) -> Job:
        """Add a job; a duplicate id raises DuplicateJob unless ``replace=True``.

        Settings: timeout, on_timeout, retries, retry_backoff, retry_backoff_max, overlap,
        max_instances, misfire, misfire_grace, start_at, end_at, jitter, args, kwargs, tags,
        executor, depends_on, dependency_timeout, paused, timezone.
        """
        return self.operations.add_job(job_id, target, schedule, replace=replace, **settings)

    def job(
        self, schedule: object, *, job_id: str | None = None, **settings: Any
    ) -> Callable[[F], F]:
        """Decorator form of add_job; the job id defaults to the function's name."""
        return self._job_decorator(schedule, job_id, settings)

    def modify_job(self, job_id: str, **changes: Any) -> Job:
        """Change settings of a job; a new schedule recomputes its next run from now."""
        return self.operations.modify_job(job_id, changes)

    def remove_job(self, job_id: str, *, force: bool = False) -> None:
        """Remove a job; running runs finish, claimed ones end cancelled, history is kept.

        A job that others depend on is only removed with ``force=True``.
        """
        self.operations.remove_job(job_id, force)

    def pause_job(self, job_id: str) -> Job:
        """Stop claiming slots of a job until resume_job."""
        return self.operations.set_paused(job_id, True)

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
        **settings: Any,
    ) -> Job:
        """Add a job; a duplicate id raises DuplicateJob unless ``replace=True``."""
        return await self._call(
            self.operations.add_job, job_id, target, schedule, replace=replace, **settings
        )

    def job(
        self, schedule: object, *, job_id: str | None = None, **settings: Any
    ) -> Callable[[F], F]:
        """Decorator form of add_job (synchronous); the id defaults to the function's name."""
        return self._job_decorator(schedule, job_id, settings)

    async def modify_job(self, job_id: str, **changes: Any) -> Job:
        """Change settings of a job; a new schedule recomputes its next run from now."""
        return await self._call(self.operations.modify_job, job_id, changes)

    async def remove_job(self, job_id: str, *, force: bool = False) -> None:
        """Remove a job; running runs finish, claimed ones end cancelled, history is kept.

        A job that others depend on is only removed with ``force=True``.
        """
        await self._call(self.operations.remove_job, job_id, force)

    async def pause_job(self, job_id: str) -> Job:
        """Stop claiming slots of a job until resume_job."""
        return await self._call(self.operations.set_paused, job_id, True)

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
