"""The sender of notifications: POSTs a small JSON document when a run ends a way a target asks.

A `Notifier` listens to the engine's final run events (`attach`). The listener runs on the
engine's path, so it only looks at the job's targets and puts the run on a bounded queue; a few
worker threads (started on first use) do the rest off that path: decide the outcome
(``recovered`` needs the job's previous outcome, read from the store), build the document and
POST it with a timeout, retrying a few times with a growing pause. A receiver that fails, hangs
or is unreachable costs one worker its timeouts and one log line per run and target, never a
delay or an error in scheduling. URLs carry secrets (webhook tokens): logs show them masked.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from cronwork.events import Event, EventType, Listeners
from cronwork.notify import NotifyTarget, masked_url
from cronwork.runs import Run, RunStatus

if TYPE_CHECKING:
    from cronwork.jobs import Job
    from cronwork.stores import Store

__all__ = ["Notifier", "notification", "outcome_of"]

logger = logging.getLogger("cronwork.notify")

# The final events a target may ask about; ``recovered`` is a ``succeeded`` after a failure.
WATCHED = (
    EventType.RUN_SUCCEEDED,
    EventType.RUN_FAILED,
    EventType.RUN_TIMED_OUT,
    EventType.RUN_MISSED,
    EventType.RUN_LOST,
)
FAILING = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST, RunStatus.MISSED})
# Outcomes that say how a job is doing; skipped and cancelled runs say nothing about it.
_TELLING = FAILING | {RunStatus.SUCCEEDED}
# How many of the job's newest runs are searched for the outcome before a success.
_HISTORY = 50
ERROR_HEAD = 300
QUEUE_SIZE = 1000
WORKERS = 4


@dataclass(frozen=True, slots=True)
class _Pending:
    """A finished run waiting to be announced, with the targets that may want it."""

    run: Run
    job: Job | None
    targets: tuple[NotifyTarget, ...]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A receiver's redirect is not followed: the document goes where it was configured to."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def outcome_of(run: Run, job: Job | None) -> str | None:
    """The notify outcome of a finished run; None for a failed attempt that will be retried.

    The job's targets hear about a failing slot once, when its last attempt has failed.
    ``recovered`` is decided apart (`Notifier`), from the job's previous outcome.
    """
    status = run.status
    if status is RunStatus.SUCCEEDED:
        return "succeeded"
    if status not in FAILING:
        return None
    if status.retryable and job is not None and run.attempt <= job.retries:
        return None
    return status.value


def notification(event: str, run: Run, base_url: str | None = None) -> dict[str, Any]:
    """The JSON document POSTed for ``run``: what happened, when, and a link to the run page."""
    link = f"{base_url.rstrip('/')}/runs/{run.id}" if base_url else None
    error = _error_head(run.error) if event != "succeeded" and event != "recovered" else None
    words = "recovered: it succeeded" if event == "recovered" else event.replace("_", " ")
    text = f"cronwork: job {run.job_id} {words} (run {run.id}, attempt {run.attempt})"
    if error:
        text += f": {error}"
    # Slack reads &, < and > as markup; the link is the one piece of markup meant.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if link:
        text += f" <{link}|run {run.id}>"
    return {
        "event": event,
        "job": run.job_id,
        "run": run.id,
        "status": run.status.value,
        "attempt": run.attempt,
        "trigger": run.trigger,
        "error": error,
        "scheduled_for": _iso(run.scheduled_for),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "url": link,
        # Slack and the services that copy its incoming webhooks show this field.
        "text": text,
    }


class Notifier:
    """Announces finished runs to their job's targets and to the scheduler's default targets.

    - ``defaults``: targets told about every job's runs, besides each job's own
    - ``store``: where the previous outcome of a job is read, to tell ``recovered``
    - ``base_url``: the dashboard's address; links to ``{base_url}/runs/{id}`` when given
    - ``timeout``: seconds one POST may take
    - ``attempts``: how many times a POST is tried before giving up
    - ``backoff``: seconds before the second try, doubled for each next one
    """

    def __init__(
        self,
        defaults: Iterable[NotifyTarget] = (),
        *,
        store: Store | None = None,
        base_url: str | None = None,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 1.0,
        queue_size: int = QUEUE_SIZE,
        workers: int = WORKERS,
    ) -> None:
        self.defaults = tuple(defaults)
        self.store = store
        self.base_url = base_url
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.workers = max(1, workers)
        self._queue: queue.Queue[_Pending | None] = queue.Queue(queue_size)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._full_warned = False

    # -- the engine's side: cheap, never raises, never blocks ------------------------------

    def attach(self, listeners: Listeners) -> Callable[[], None]:
        """Listen to ``listeners``' final run events; return a function that stops listening."""
        removers = [listeners.add(kind, self.on_event, only=self.may_notify) for kind in WATCHED]

        def detach() -> None:
            for remove in removers:
                remove()

        return detach

    def may_notify(self, job: Job | None) -> bool:
        """True if a run of ``job`` may be announced: it, or the scheduler, has targets."""
        return bool(self.defaults) or (job is not None and bool(job.notify))

    def on_event(self, event: Event) -> None:
        """Queue the event's run if any target may want it; drop it if the queue is full."""
        run = event.run
        if run is None:
            return
        job = event.job
        own = job.notify if job is not None else ()
        if not own and not self.defaults:
            return
        targets = (*own, *self.defaults) if self.defaults else own
        self._start_workers()
        try:
            self._queue.put_nowait(_Pending(run, job, targets))
        except queue.Full:
            if not self._full_warned:
                self._full_warned = True
                logger.warning(
                    "notifications are dropped: %d wait to be sent (receivers are slow)",
                    self._queue.maxsize,
                )
            return
        self._full_warned = False

    # -- lifecycle --------------------------------------------------------------------------

    def _start_workers(self) -> None:
        if self._threads:
            return
        with self._lock:
            if self._threads:
                return
            self._stopping = threading.Event()
            for number in range(self.workers):
                thread = threading.Thread(
                    target=self._work,
                    args=(self._queue, self._stopping),
                    name=f"cronwork-notify-{number}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued for up to ``timeout`` seconds, then stop the workers.

        Notifications still queued then are dropped with one log line. A worker in the middle
        of a POST ends after it (the threads are daemons and never hold up an exit); a later
        event starts new workers.
        """
        with self._lock:
            threads, self._threads = self._threads, []
            pending, self._queue = self._queue, queue.Queue(self._queue.maxsize)
            stopping = self._stopping
        if not threads:
            return
        done = threading.Event()

        def drained() -> None:
            pending.join()
            done.set()

        threading.Thread(target=drained, name="cronwork-notify-drain", daemon=True).start()
        done.wait(timeout)
        stopping.set()
        dropped = 0
        while True:
            try:
                item = pending.get_nowait()
            except queue.Empty:
                break
            pending.task_done()
            dropped += item is not None
        for _ in threads:
            pending.put(None)
        for thread in threads:
            thread.join(0.1)
        if dropped:
            logger.warning("%d notification(s) not sent: the scheduler stopped", dropped)

    # -- the workers' side --------------------------------------------------------------------

    def _work(self, pending: queue.Queue[_Pending | None], stopping: threading.Event) -> None:
        while True:
            item = pending.get()
            try:
                if item is None:
                    return
                self._announce(item, stopping)
            except Exception:
                # A bug here must not end the worker; the run's id is enough to find it.
                logger.exception("cannot announce run %s", item.run.id if item else None)
            finally:
                pending.task_done()

    def _announce(self, pending: _Pending, stopping: threading.Event) -> None:
        run, job = pending.run, pending.job
        outcome = outcome_of(run, job)
        if outcome is None:
            return
        recovered = (
            outcome == "succeeded"
            and any("recovered" in t.on for t in pending.targets)
            and self._after_failure(run, job)
        )
        sent: set[str] = set()
        for target in pending.targets:
            if recovered and "recovered" in target.on:
                event = "recovered"
            elif outcome in target.on:
                event = outcome
            else:
                continue
            if target.url in sent:
                continue  # a job's target that is also a default hears once
            sent.add(target.url)
            self._post(target.url, notification(event, run, self.base_url), run, stopping)

    def _after_failure(self, run: Run, job: Job | None) -> bool:
        """True when the job's outcome before ``run`` was a failure its targets heard of."""
        if self.store is None:
            return False
        found = self.store.runs(job_id=run.job_id, limit=_HISTORY)
        last = self.store.last_finished(run.job_id)
        if last is not None:
            found.append(last)
        retries = job.retries if job is not None else 0
        previous: Run | None = None
        latest: datetime | None = None
        for other in found:
            if other.id == run.id or other.status not in _TELLING or other.finished_at is None:
                continue
            if run.finished_at is not None and other.finished_at > run.finished_at:
                continue
            if other.status.retryable and other.attempt <= retries:
                continue  # a failed attempt that was retried was not announced
            if latest is None or other.finished_at > latest:
                previous, latest = other, other.finished_at
        return previous is not None and previous.status in FAILING

    def _post(
        self, url: str, document: dict[str, Any], run: Run, stopping: threading.Event
    ) -> None:
        body = json.dumps(document).encode()
        address, headers = _address(url)
        problem = ""
        for attempt in range(self.attempts):
            if attempt and stopping.wait(self.backoff * 2 ** (attempt - 1)):
                problem += " (the scheduler stopped)"
                break
            request = urllib.request.Request(address, data=body, method="POST", headers=headers)
            try:
                with _OPENER.open(request, timeout=self.timeout) as response:
                    response.read(1024)
                return
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
                exc.close()
            except Exception as exc:  # any failure of one receiver stays its own
                problem = _describe(exc, url)
        logger.warning(
            "notification of run %s of job %s to %s failed after %d attempt(s): %s",
            run.id,
            run.job_id,
            masked_url(url),
            self.attempts,
            problem,
            extra={"job_id": run.job_id, "run_id": run.id},
        )


def _address(url: str) -> tuple[str, dict[str, str]]:
    """The URL to open and the request's headers; ``user:password@`` becomes Basic auth."""
    headers = {"Content-Type": "application/json", "User-Agent": "cronwork"}
    parts = urlsplit(url)
    if parts.username is None:
        return url, headers
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc)), headers


def _describe(exc: Exception, url: str) -> str:
    """What went wrong, without the URL or any part of its path: those hold secrets."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    text = f"{type(reason).__name__}: {reason}" if isinstance(reason, Exception) else str(reason)
    try:
        parts = urlsplit(url)
        secrets = [url, parts.path, parts.query, parts.fragment, parts.netloc]
    except ValueError:
        secrets = [url]
    for secret in sorted((s for s in secrets if len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "…")
    return text[:200]


def _error_head(error: str | None) -> str | None:
    # A traceback ends with the exception line, the part worth a message.
    if not error:
        return None
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    head = lines[-1] if lines and lines[0].startswith("Traceback") else (lines or [""])[0]
    return head[:ERROR_HEAD] or None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
