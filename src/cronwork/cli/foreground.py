"""``cronwork run``: the scheduler in the foreground, with a log line per event.

The first SIGINT/SIGTERM shuts down gracefully (running jobs finish); a second one stops at
once (running jobs are cancelled and their processes killed).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from cronwork.errors import CronworkError
from cronwork.events import Event, EventType

if TYPE_CHECKING:
    from cronwork.jobfile import JobFile, Settings
    from cronwork.scheduler import Scheduler
    from cronwork.stores import Store

logger = logging.getLogger("cronwork.cli")

_LEVELS = {
    EventType.RUN_FAILED: logging.ERROR,
    EventType.RUN_TIMED_OUT: logging.ERROR,
    EventType.RUN_LOST: logging.ERROR,
    EventType.JOB_BROKEN: logging.ERROR,
    EventType.RUN_SKIPPED: logging.WARNING,
    EventType.RUN_MISSED: logging.WARNING,
    EventType.RUN_OVERDUE: logging.WARNING,
    EventType.RUN_CANCELLED: logging.WARNING,
}

# How long the main thread sleeps between checks; signals are handled between sleeps.
_TICK = 0.2
# After a second signal, how long to let cancelled runs end (their processes are killed).
_HARD_STOP_WAIT = 6.0


class HumanFormatter(logging.Formatter):
    """``2026-11-22 22:30:00 INFO    run succeeded  job=hello run=12 duration=0.05s``."""

    def format(self, record: logging.LogRecord) -> str:
        """Local time, level, message, then the record's fields as key=value."""
        moment = datetime.fromtimestamp(record.created).astimezone()
        line = f"{moment:%Y-%m-%d %H:%M:%S} {record.levelname:<7} {record.getMessage()}"
        fields: dict[str, Any] = getattr(record, "fields", {})
        for key, value in fields.items():
            if key in _JSON_ONLY or value is None or (key == "attempt" and value == 1):
                continue
            text = str(value)
            if key == "duration" and isinstance(value, float):
                text = f"{value:.2f}s"
            if not text or any(c.isspace() or c == '"' for c in text):
                text = json.dumps(text, ensure_ascii=False)
            line += f" {_HUMAN_KEYS.get(key, key)}={text}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


_HUMAN_KEYS = {"job_id": "job", "run_id": "run"}
# The message says these already ("run succeeded"); JSON keeps them for filters.
_JSON_ONLY = ("event", "status", "slot")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialize the record; fields use the Python API's names (job_id, run_id...)."""
        moment = datetime.fromtimestamp(record.created, UTC)
        data: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in getattr(record, "fields", {}).items() if v is not None})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(log_format: str, level: str) -> None:
    """Send the ``cronwork`` loggers (ours and the engine's) to stdout in ``log_format``."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    root = logging.getLogger("cronwork")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # A closed stdout (`cronwork run | head`) must not turn each later line into a traceback.
    logging.raiseExceptions = False
    # The engine narrates each run at INFO; our event lines say the same, once.
    engine = logging.getLogger("cronwork.scheduler")
    engine.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


def log(level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields``."""
    logger.log(level, message, extra={"fields": fields})


def on_event(event: Event) -> None:
    """The listener that turns every engine event into one log line."""
    fields: dict[str, Any] = {"event": event.type.value, "job_id": event.job_id}
    run = event.run
    if run is not None:
        fields["run_id"] = run.id
        fields["attempt"] = run.attempt
        fields["slot"] = run.scheduled_for.isoformat().replace("+00:00", "Z")
        if run.trigger != "schedule":
            fields["trigger"] = run.trigger
        if run.status.finished:
            fields["status"] = run.status.value
            fields["duration"] = run.duration
            fields["exit_code"] = run.exit_code
            if run.error and run.status.retryable:
                fields["error"] = _last_line(run.error)
    if event.detail:
        fields["detail"] = event.detail
    message = event.type.value.replace("_", " ")
    log(_LEVELS.get(event.type, logging.INFO), message, **fields)


def _last_line(text: str) -> str:
    # A traceback ends with the exception line, the part worth a log line.
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


class Signals:
    """Counts SIGINT/SIGTERM; the first asks for a graceful stop, the second for a hard one."""

    def __init__(self) -> None:
        self.count = 0
        self.last: int | None = None
        self.graceful = threading.Event()
        self.hard = threading.Event()

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.handle)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.last = signum
        name = signal.Signals(signum).name
        if self.count == 1:
            log(
                logging.INFO,
                f"received {name}: shutting down, waiting for running jobs "
                "(send it again to stop at once)",
            )
            self.graceful.set()
        else:
            log(logging.WARNING, f"received {name} again: stopping at once")
            self.hard.set()


def _cancel_running(scheduler: Scheduler) -> None:
    """Cancel this node's running runs, so a graceful shutdown in progress ends now."""
    from cronwork.runs import RunStatus

    for run in scheduler.runs(status=RunStatus.RUNNING, limit=10_000):
        if run.node == scheduler.node:
            try:
                scheduler.cancel(run.id)
            except CronworkError as exc:
                log(logging.WARNING, f"cannot cancel run {run.id}: {exc}", job_id=run.job_id)


def load_file(
    file: Path | None, *, log_format: str, log_level: str | None
) -> tuple[JobFile | None, Settings]:
    """Check the job file (if any) and set up logging by its settings and the options."""
    from cronwork.cli.importpaths import add_target_folders
    from cronwork.jobfile import Settings, load_job_file
    from cronwork.targets import TaskRegistry

    job_file = None
    if file is not None:
        add_target_folders(file)
        # The command line has no registered tasks: a task target could never run from here.
        job_file = load_job_file(file, check_imports=True, tasks=TaskRegistry())
    else:
        add_target_folders(None)
    settings = job_file.settings if job_file is not None else Settings()
    setup_logging(log_format, log_level or settings.log_level or "info")
    return job_file, settings


def sync_file(store: Store, job_file: JobFile | None, *, force: bool) -> None:
    """Sync the job file's jobs into ``store`` and log what changed."""
    from cronwork.jobfile import sync_job_file

    if job_file is None:
        return
    report = sync_job_file(store, job_file, force=force)
    log(logging.INFO, f"synced {job_file.path}: {report.summary()}", file=str(job_file.path))
    for job_id, needed_by in report.needed.items():
        log(
            logging.WARNING,
            f"removed {job_id} (--force), which {', '.join(needed_by)} depend on",
            job_id=job_id,
        )


def open_scheduler(
    file: Path | None,
    *,
    store: str | None,
    default_store: str,
    log_format: str,
    log_level: str | None,
    max_running: int | None,
    force: bool = False,
    base_url: str | None = None,
) -> Scheduler:
    """The scheduler of ``cronwork run`` (and ``serve``): file synced, events logged, not
    started yet."""
    job_file, settings = load_file(file, log_format=log_format, log_level=log_level)
    url = store or settings.store or default_store

    from cronwork.scheduler import Scheduler

    # The command owns its process, so it may tune the collector (see cronwork.engine.gcfreeze).
    scheduler = Scheduler(
        url,
        max_running=max_running or settings.max_running or 10,
        timezone=settings.timezone,
        freeze_gc=True,
        notify=settings.notify,
        base_url=base_url,
    )
    sync_file(scheduler.store, job_file, force=force)
    # Only the events whose lines the log level lets through: at "warning" the engine then
    # builds no event for a run that starts and succeeds.
    for kind in EventType:
        if logger.isEnabledFor(_LEVELS.get(kind, logging.INFO)):
            scheduler.on(kind, on_event)
    return scheduler


def started(scheduler: Scheduler) -> None:
    """Start ``scheduler`` and log it."""
    scheduler.start()
    log(
        logging.INFO,
        "scheduler started",
        store=scheduler.store.url,
        jobs=len(scheduler.jobs()),
        max_running=scheduler.max_running,
        pid=os.getpid(),
    )


def run_foreground(
    file: Path | None,
    *,
    store: str | None,
    default_store: str,
    log_format: str,
    log_level: str | None,
    max_running: int | None,
    force: bool = False,
) -> int:
    """Sync ``file`` into the store, run the scheduler until signalled; return the exit code.

    ``force`` lets the sync remove jobs that other jobs depend on.
    """
    scheduler = open_scheduler(
        file,
        store=store,
        default_store=default_store,
        log_format=log_format,
        log_level=log_level,
        max_running=max_running,
        force=force,
    )
    signals = Signals()
    signals.install()
    started(scheduler)
    while not signals.graceful.wait(_TICK):
        pass
    return shut_down(scheduler, signals)


def shut_down(scheduler: Scheduler, signals: Signals) -> int:
    """Stop ``scheduler`` gracefully (a second signal: at once); return the exit code."""
    # Shut down on another thread so that a second signal can still cut the wait short.
    done = threading.Event()

    def graceful() -> None:
        try:
            scheduler.close()
        finally:
            done.set()

    threading.Thread(target=graceful, name="cronwork-shutdown", daemon=True).start()
    while not done.wait(_TICK):
        if signals.hard.is_set():
            _cancel_running(scheduler)
            # Cancelled runs end within the executors' kill grace (5 s); do not wait longer.
            done.wait(_HARD_STOP_WAIT)
            log(logging.INFO, "stopped at once")
            return 128 + (signals.last or signal.SIGTERM)
    log(logging.INFO, "stopped")
    return 0
