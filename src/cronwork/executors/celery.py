"""Run a `CeleryTask` as one Celery task on an existing worker fleet.

The Celery task id is made of the run's id and its key in the store (job, slot, attempt),
``<run id>-<job id>-<slot>-<attempt>``: a run sent again after a crash keeps its task id, and
the run ids of another store (or of this one made afresh), which count from 1 again, never
meet a task of this one in the fleet's result backend.
The executor sends the task, then follows it through the app's result backend: one polling
thread per executor reads the state of every run it follows, once per ``poll_interval``.

Stopping is done twice, on purpose. The job's timeout travels with the task as its own
``time_limit`` (and a ``soft_time_limit`` a little before), so the worker's pool kills the very
child that runs it; that cannot hit another task. At the deadline plus ``kill_grace`` (or at
once for a cancel) the executor also revokes the task with ``terminate=True``: that covers a
worker whose clock started late, and a cancel. See docs/celery.md.

Celery is imported only when an executor is made or an app is resolved: the target type
`CeleryTask` lives in cronwork.targets and imports without the extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwork.errors import TargetError
from cronwork.executors.base import (
    BaseExecution,
    Invocation,
    Outcome,
    TaskExecutor,
    log_extra,
)
from cronwork.executors.celeryapp import (
    _require_celery,
    broker_address,
    check_app,
    import_app,
    remote_error,
    render_result,
    task_id_of,
    warn_redelivery,
    warn_untracked,
)
from cronwork.runs import RunStatus
from cronwork.targets import CeleryTask

logger = logging.getLogger("cronwork.executors.celery")


# The backend's states (celery.states), spelled out so this module imports without celery.
_PENDING = "PENDING"
_STARTED = "STARTED"
_SUCCESS = "SUCCESS"
_FAILURE = "FAILURE"
_REVOKED = "REVOKED"
# Raised in the task by the worker at its soft and hard time limits.
_TIME_LIMIT_ERRORS = ("SoftTimeLimitExceeded", "TimeLimitExceeded")
_WORKER_LOST = "WorkerLostError"


@dataclass(slots=True)
class _Meta:
    """What the result backend says about one task."""

    state: str
    result: Any = None
    traceback: str | None = None

    @property
    def ready(self) -> bool:
        return self.state in (_SUCCESS, _FAILURE, _REVOKED)

    @property
    def hostname(self) -> str | None:
        # A started task's result is {"pid": ..., "hostname": ...} (task_track_started).
        if self.state == _STARTED and isinstance(self.result, Mapping):
            name = self.result.get("hostname")
            return name if isinstance(name, str) else None
        return None


class CeleryExecution(BaseExecution):
    """One cronwork run as one Celery task, followed through the result backend."""

    def __init__(
        self,
        invocation: Invocation,
        on_overdue: Callable[[], None] | None,
        executor: CeleryExecutor,
        task: CeleryTask,
        app: Any,
    ) -> None:
        super().__init__(invocation, on_overdue)
        self.executor = executor
        self.celery_task = task
        self.app = app
        self.task_id = task_id_of(invocation.context)
        # True once the backend showed the task started (or finished) on a worker.
        self.started = False
        # When the backend last said the task had not started (time.monotonic), and who is
        # told when it has (BeginsLater).
        self._pending_seen = 0.0
        self._begun_callbacks: list[Callable[[float], None]] = []
        self.hostname: str | None = None
        self.expires = executor.expiry(invocation)
        # Set by the sending thread once the task is on the fleet (sent, or known already).
        self.on_fleet = False
        # When the run is to start (time.monotonic), and as the worker's eta: its due time
        # when the engine handed it over ahead (StartsAhead), else None (at once).
        self.start_at = time.monotonic() + invocation.start_in
        self.eta = (
            datetime.now(UTC) + timedelta(seconds=invocation.start_in)
            if invocation.start_in > 0
            else None
        )
        self.sent_at = 0.0
        self._changed = asyncio.Event()
        self._meta = _Meta(_PENDING)
        self.task = self.loop.create_task(self._run())

    # -- the poller hands states in here, on the loop ---------------------------------------

    def on_begun(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(seconds_ago)`` once a worker has started the task."""
        self._begun_callbacks.append(callback)

    def update(self, meta: _Meta) -> None:
        """Take the backend's latest word on the task (called on the event loop)."""
        self._meta = meta
        now = time.monotonic()
        if meta.state == _PENDING:
            self._pending_seen = now
        elif not self.started:
            self.started = True
            # The worker started it after the backend last said it had not, and not before
            # its moment (its eta).
            ago = now - max(self._pending_seen, self.start_at)
            for callback in self._begun_callbacks:
                try:
                    callback(ago)
                except Exception:  # the poller must go on for the other runs
                    logger.exception(
                        "a begun callback failed", extra=log_extra(self.invocation.context)
                    )
        if meta.hostname is not None:
            self.hostname = meta.hostname
        self._changed.set()

    async def _next_meta(self, timeout: float | None) -> _Meta:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        return self._meta

    # -- the run -------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            outcome = await self._follow()
        except asyncio.CancelledError:
            if self.on_fleet:
                self.executor.revoke(self.app, self.task_id, terminate=True)
            self._finish(Outcome(RunStatus.CANCELLED, error="event loop shut down"))
            raise
        except Exception as exc:  # a bug here must still end the run, not hang the engine
            logger.exception("Celery runner failed", extra=log_extra(self.invocation.context))
            outcome = Outcome(RunStatus.FAILED, error=f"cronwork could not run the task: {exc}")
        finally:
            self.executor.unwatch(self)
        self._finish(outcome)

    async def _follow(self) -> Outcome:
        error = await self.executor.send(self)
        if error is not None:
            return Outcome(RunStatus.FAILED, error=error)
        stopping = self._stop_request()
        if stopping is not None:
            # Stopped while it was being sent.
            return await self._stopped(*stopping)
        self.executor.watch(self)
        next_ping = self.loop.time() + self.executor.liveness_interval
        missed = 0
        while True:
            meta = await self._next_meta(self.executor.poll_interval * 4)
            # An end the worker reported first stands, even if a stop came meanwhile.
            if meta.ready:
                return self._ended(meta)
            stopping = self._stop_request()
            if stopping is not None:
                return await self._stopped(*stopping)
            now = self.loop.time()
            if meta.state == _PENDING and self.expires is not None and now > self._expiry_at():
                self.executor.revoke(self.app, self.task_id, terminate=False)
                return Outcome(
                    RunStatus.TIMED_OUT,
                    error=f"no worker started the task within its expiry of {self.expires:g}s "
                    f"({self._where()}); it was revoked",
                )
            if meta.state == _STARTED and self.hostname is not None and now >= next_ping:
                next_ping = now + self.executor.liveness_interval
                alive = await self.executor.ping(self.app, self.hostname)
                missed = 0 if alive else missed + 1
                if missed >= 2:
                    # Cannot run again after we gave up on it (a redelivery with acks_late).
                    self.executor.revoke(self.app, self.task_id, terminate=True)
                    return Outcome(
                        RunStatus.LOST,
                        error=f"worker {self.hostname} stopped answering while running the "
                        "task; its outcome is unknown",
                    )

    def _stop_request(self) -> tuple[RunStatus, str] | None:
        # A method, not the attribute: cancel() sets it while _follow awaits.
        return self._stopping

    def _expiry_at(self) -> float:
        assert self.expires is not None
        return self.sent_at + self.expires + self.executor.poll_interval * 4

    def _where(self) -> str:
        queue = self.celery_task.queue
        where = f"queue {queue!r}" if queue else "its queue"
        return f"is a worker consuming {where} on {broker_address(self.app)}?"

    def _ended(self, meta: _Meta) -> Outcome:
        limit = self.invocation.output_limit
        if meta.state == _SUCCESS:
            return Outcome(RunStatus.SUCCEEDED, output=render_result(meta.result, limit))
        if meta.state == _REVOKED:
            return Outcome(RunStatus.CANCELLED, error="the task was revoked on the Celery fleet")
        kind = type(meta.result).__name__
        error = remote_error(meta.result, meta.traceback)
        if kind in _TIME_LIMIT_ERRORS:
            return Outcome(
                RunStatus.TIMED_OUT,
                error=f"timed out after {self.invocation.timeout:g}s on the worker: {error}",
            )
        if kind == _WORKER_LOST:
            return Outcome(
                RunStatus.FAILED,
                error=f"the worker child running the task died: {error}",
            )
        return Outcome(RunStatus.FAILED, error=error)

    async def _stopped(self, status: RunStatus, reason: str) -> Outcome:
        """Stop the task on the fleet, wait (bounded) for the worker to let go; end ``status``."""
        executor, grace = self.executor, self.invocation.kill_grace
        # The last poll may predate the worker's start: ask once more before choosing.
        self.update(await executor.refresh(self))
        if self._meta.ready:
            return Outcome(status, error=reason)
        if not self.started:
            # Never taken by a worker: a plain revoke drops it when one receives it.
            executor.revoke(self.app, self.task_id, terminate=False)
            if status is RunStatus.TIMED_OUT:
                reason += f"; no worker started the task ({self._where()})"
            return Outcome(status, error=reason)
        if status is RunStatus.CANCELLED:
            executor.revoke(self.app, self.task_id, terminate=True, signal="SIGTERM")
        else:
            # The task's own time limits act first; a plain revoke keeps a late start away.
            executor.revoke(self.app, self.task_id, terminate=False)
        worker = f"worker {self.hostname or '?'}"
        meta = await self._settled(grace)
        if meta.ready:
            if status is RunStatus.TIMED_OUT and type(meta.result).__name__ in _TIME_LIMIT_ERRORS:
                reason += f"; the task's time limit stopped it on {worker}"
            return Outcome(status, error=reason)
        executor.revoke(self.app, self.task_id, terminate=True, signal="SIGKILL")
        meta = await self._settled(grace)
        if meta.ready:
            if status is RunStatus.TIMED_OUT:
                reason += f"; revoked with SIGKILL on {worker}"
        else:
            reason += f"; {worker} did not confirm the task stopped"
        return Outcome(status, error=reason)

    async def _settled(self, within: float) -> _Meta:
        """The task's state once the worker reports it ended, or after ``within`` seconds."""
        give_up = self.loop.time() + within
        meta = self._meta
        while not meta.ready and self.loop.time() < give_up:
            meta = await self._next_meta(max(0.0, give_up - self.loop.time()))
        return meta

    def _stop(self, status: RunStatus, reason: str) -> None:
        # _follow sees _stopping on its next wake-up.
        self._changed.set()


class CeleryExecutor(TaskExecutor):
    """Runs `CeleryTask` targets on a Celery worker fleet.

    ``app`` (an app or its import path) serves tasks that name none. ``poll_interval`` is how
    often the result backend is read; ``liveness_interval`` how often the worker running a
    task is pinged (two missed pings end the run ``lost``); ``default_expires`` drops a task no
    worker started within it when the job has no timeout. ``lead`` is how many seconds before
    its slot the engine hands a run over (`StartsAhead`): the backend read and the send are
    made then, with the slot as the task's eta, so the worker starts it at the slot.
    """

    name = "celery"

    def __init__(
        self,
        app: Any = None,
        *,
        poll_interval: float = 0.25,
        liveness_interval: float = 15.0,
        default_expires: float = 3600.0,
        send_retries: int = 2,
        lead: float = 0.015,
    ) -> None:
        super().__init__()
        _require_celery()
        self.app = app
        self.lead = lead
        self.poll_interval = poll_interval
        self.liveness_interval = liveness_interval
        self.default_expires = default_expires
        self.send_retries = send_retries
        self._apps: dict[str, Any] = {}
        self._apps_lock = threading.Lock()
        self._watched: dict[str, CeleryExecution] = {}
        self._poller: asyncio.Task[None] | None = None
        # One thread reads the backend for every run; sends and control messages get their
        # own, so a broker that hangs a send never delays the polls.
        self._poll_thread = ThreadPoolExecutor(1, thread_name_prefix="cronwork-celery-poll")
        self._send_threads = ThreadPoolExecutor(4, thread_name_prefix="cronwork-celery-send")

    # -- targets ----------------------------------------------------------------------------

    def resolve_app(self, task: CeleryTask) -> Any:
        """The Celery app ``task`` runs on, imported once per path, checked for a backend."""
        ref = task.app if task.app is not None else self.app
        if ref is None:
            raise TargetError(
                f"Celery task {task.name!r} names no app and the executor has none: "
                "give CeleryTask(app=...) or CeleryExecutor(app=...)"
            )
        if not isinstance(ref, str):
            check_app(ref)
            warn_untracked(ref)
            return ref
        with self._apps_lock:
            app = self._apps.get(ref)
            if app is None:
                app = import_app(ref)
                check_app(app)
                warn_untracked(app)
                self._apps[ref] = app
        return app

    def expiry(self, invocation: Invocation) -> float | None:
        """Seconds after which a task no worker started is dropped."""
        if invocation.timeout is not None and invocation.on_timeout == "cancel":
            return max(invocation.timeout, 0.001)
        return self.default_expires

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> CeleryExecution:
        """Send the task of ``invocation`` to the fleet and return its execution."""
        self._open()
        target: object = invocation.target
        if not isinstance(target, CeleryTask):
            raise TargetError(f"the Celery executor runs CeleryTask targets, not {target!r}")
        app = self.resolve_app(target)
        warn_redelivery(app, invocation.timeout)
        return self._track(CeleryExecution(invocation, on_overdue, self, target, app))

    # -- talking to the fleet -----------------------------------------------------------

    def _options(self, execution: CeleryExecution) -> dict[str, Any]:
        invocation = execution.invocation
        options: dict[str, Any] = {
            "task_id": execution.task_id,
            "retry": True,
            "retry_policy": {
                "max_retries": self.send_retries,
                "interval_start": 0,
                "interval_step": 0.5,
                "interval_max": 1,
            },
        }
        if execution.celery_task.queue is not None:
            options["queue"] = execution.celery_task.queue
        if execution.expires is not None:
            options["expires"] = execution.expires
        timeout = invocation.timeout
        if timeout is not None and invocation.on_timeout == "cancel" and timeout > 0:
            options["time_limit"] = timeout
            options["soft_time_limit"] = max(timeout - min(invocation.kill_grace, timeout / 10), 0)
        return options

    def _send_now(self, execution: CeleryExecution) -> str | None:
        app, task = execution.app, execution.celery_task
        invocation = execution.invocation
        try:
            args = json.loads(json.dumps(list(invocation.args)))
            kwargs = json.loads(json.dumps(dict(invocation.kwargs)))
        except (TypeError, ValueError) as exc:
            return f"the arguments of Celery task {task.name!r} are not JSON: {exc}"
        # A resend of a run the backend already knows (a restart after a crash) follows it.
        if self._read(app, execution.task_id).state != _PENDING:
            execution.on_fleet = True
            return None
        options = self._options(execution)
        # Handed over ahead: the task goes to the broker now, with its start as its eta, so
        # the worker has it in hand when it falls due and the send and the broker's delivery
        # cost no lateness. Its expiry counts from that start too.
        eta = execution.eta
        if eta is not None and (ahead := (eta - datetime.now(UTC)).total_seconds()) > 0:
            options["eta"] = eta
            if "expires" in options:
                options["expires"] += ahead
        try:
            app.send_task(task.name, args=args, kwargs=kwargs, **options)
        except Exception as exc:
            return (
                f"cannot send Celery task {task.name!r} to the broker "
                f"{broker_address(app)}: {type(exc).__name__}: {exc}"
            )
        execution.on_fleet = True
        return None

    async def send(self, execution: CeleryExecution) -> str | None:
        """Send the task (or find it already known); return an error, or None once sent."""
        loop = asyncio.get_running_loop()
        execution.sent_at = loop.time() + max(0.0, execution.start_at - time.monotonic())
        try:
            return await loop.run_in_executor(self._send_threads, self._send_now, execution)
        except Exception as exc:  # the backend read may fail too: the broker's sibling
            return f"cannot send Celery task {execution.celery_task.name!r}: {exc}"

    def revoke(self, app: Any, task_id: str, terminate: bool, signal: str = "SIGKILL") -> None:
        """Revoke ``task_id`` on every worker, from a thread; failures are logged."""

        def send() -> None:
            try:
                app.control.revoke(task_id, terminate=terminate, signal=signal)
            except Exception:
                logger.warning("could not revoke Celery task %s", task_id, exc_info=True)

        self._send_threads.submit(send)

    async def ping(self, app: Any, hostname: str) -> bool:
        """True if worker ``hostname`` answers a ping within a second."""

        def ping() -> bool:
            try:
                return bool(app.control.ping(destination=[hostname], timeout=1.0))
            except Exception:
                return False

        return await asyncio.get_running_loop().run_in_executor(self._send_threads, ping)

    async def refresh(self, execution: CeleryExecution) -> _Meta:
        """Read ``execution``'s task state now (on the polling thread)."""
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(
            self._poll_thread, self._read_all, [(execution.task_id, execution.app)]
        )
        return found.get(execution.task_id, execution._meta)

    @staticmethod
    def _read(app: Any, task_id: str) -> _Meta:
        meta = app.backend.get_task_meta(task_id, cache=False)
        return _Meta(meta.get("status", _PENDING), meta.get("result"), meta.get("traceback"))

    # -- the poller ---------------------------------------------------------------------

    def watch(self, execution: CeleryExecution) -> None:
        """Follow ``execution``'s task until it is unwatched."""
        self._watched[execution.task_id] = execution
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    def unwatch(self, execution: CeleryExecution) -> None:
        """Stop following ``execution``'s task."""
        if self._watched.get(execution.task_id) is execution:
            del self._watched[execution.task_id]

    def _read_all(self, wanted: list[tuple[str, Any]]) -> dict[str, _Meta]:
        found: dict[str, _Meta] = {}
        for task_id, app in wanted:
            try:
                found[task_id] = self._read(app, task_id)
            except Exception:
                # A backend hiccup: the next round tries again; the run's timeout still holds.
                logger.warning("could not read Celery task %s", task_id, exc_info=True)
        return found

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while self._watched:
            wanted = [(task_id, e.app) for task_id, e in self._watched.items()]
            started = time.monotonic()
            found = await loop.run_in_executor(self._poll_thread, self._read_all, wanted)
            for task_id, meta in found.items():
                execution = self._watched.get(task_id)
                if execution is not None:
                    execution.update(meta)
            # A slow backend stretches the period rather than piling up reads.
            await asyncio.sleep(max(self.poll_interval - (time.monotonic() - started), 0.01))

    async def shutdown(self, wait: bool = True) -> None:
        """Refuse new runs; wait for running tasks, or stop them when ``wait`` is False."""
        await self._stop_running(wait)
        if self._poller is not None:
            await self._poller
        self._poll_thread.shutdown(wait=False)
        # Revokes already submitted still go out.
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._send_threads.shutdown(wait=True)
        )
