"""Live events for ``GET /api/v1/events``: server-sent events, one JSON object each.

``EventHub`` hands each event to every connected client. Its events come from the engine
running in this process (a listener, attached only while a client listens, so the engine
builds no events for nobody), or, on a server without a scheduler, from ``StorePoller``,
which reads the store every second and turns what changed into the same events: runs that
started or ended on other nodes, jobs added, changed, paused or removed by other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from cronwork.events import FINAL_EVENTS, Event, EventType
from cronwork.jobs import Job
from cronwork.runs import RunStatus
from cronwork.stores import Store
from cronwork.stores.paging import RunFilter
from cronwork.web.shapes import iso, job_shape, job_table, run_shape

logger = logging.getLogger("cronwork.web")

# Events a slow client has not read yet, beyond which it misses the oldest.
QUEUE_SIZE = 1000
# Seconds between comments that keep idle connections (and proxies) open.
KEEPALIVE = 15.0
_CLOSED = object()


def event_data(event: Event) -> dict[str, Any]:
    """An event as the JSON object a client receives."""
    return {
        "type": event.type.value,
        "job_id": event.job_id,
        "at": iso(event.at),
        "run": None if event.run is None else run_shape(event.run),
        "job": None if event.job is None else job_shape(event.job, None),
        "detail": event.detail,
    }


class EventHub:
    """The connected clients' queues; ``publish`` may be called from any thread."""

    def __init__(
        self,
        attach: Callable[[EventHub], Callable[[], None]] | None = None,
        prepare: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``attach`` connects a source when the first client comes (returns its undo);
        ``prepare`` is awaited before each client is told it is connected."""
        self._lock = threading.Lock()
        self.prepare = prepare
        self._queues: set[asyncio.Queue[object]] = set()
        self._attach = attach
        self._detach: Callable[[], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    @property
    def listening(self) -> int:
        """How many clients are connected."""
        return len(self._queues)

    def publish(self, event: Event) -> None:
        """Send ``event`` to every client (dropped for a client whose queue is full)."""
        loop = self.loop
        if not self._queues or loop is None or loop.is_closed():
            return
        text = json.dumps(event_data(event), ensure_ascii=False)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._deliver, (event.type.value, text))

    def _deliver(self, item: object) -> None:
        for queue in list(self._queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(item)

    def close(self) -> None:
        """End every client's stream (the server is stopping); call on the hub's loop."""
        self.closed = True
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_CLOSED)
        self._stop_listening()

    def _stop_listening(self) -> None:
        with self._lock:
            detach, self._detach = self._detach, None
        if detach is not None:
            detach()

    async def stream(self) -> AsyncIterator[str]:
        """The text/event-stream of one client, until it leaves or the server stops."""
        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            self._queues.add(queue)
            first = len(self._queues) == 1 and self._detach is None
        if first and self._attach is not None:
            detach = self._attach(self)
            with self._lock:
                self._detach = detach
        try:
            if self.prepare is not None:
                # Every event after "connected" reaches this client: the source is ready.
                await self.prepare()
            yield "retry: 3000\n: connected\n\n"
            while not self.closed:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if item is _CLOSED:
                    return
                assert isinstance(item, tuple)
                kind, text = item
                yield f"event: {kind}\ndata: {text}\n\n"
        finally:
            with self._lock:
                self._queues.discard(queue)
                last = not self._queues
            if last:
                self._stop_listening()


# -- the store as the source of events --------------------------------------------------------

# How many of the newest runs each poll reads, besides the unfinished runs it follows.
RECENT = 200
JOB_POLL_EVERY = 5  # polls between two reads of every job


class StorePoller:
    """Turns what changed in the store between two polls into events on ``hub``."""

    def __init__(self, store: Store, hub: EventHub, interval: float = 1.0) -> None:
        self.store = store
        self.hub = hub
        self.interval = interval
        self._runs: dict[str, RunStatus] | None = None
        self._jobs: dict[str, tuple[Any, ...]] | None = None
        self._polls = 0
        self._lock = threading.Lock()
        hub.prepare = self.ready

    async def run(self) -> None:
        """Poll while the server runs; the store is read only while clients listen."""
        while not self.hub.closed:
            if self.hub.listening:
                try:
                    await asyncio.to_thread(self.poll)
                except Exception:
                    logger.exception("cannot read the store for live events")
            else:
                with self._lock:  # start afresh when a client comes
                    self._runs = self._jobs = None
                    self._polls = 0
            await asyncio.sleep(self.interval)

    async def ready(self) -> None:
        """Read the store's state now if no poll has: what changes after it is an event."""
        await asyncio.to_thread(self._first_poll)

    def _first_poll(self) -> None:
        with self._lock:
            if self._runs is None:
                self._poll()

    def poll(self) -> None:
        """Read the store once and publish what changed since the last poll."""
        with self._lock:
            self._poll()

    def _poll(self) -> None:
        now = datetime.now(UTC)
        for event in self._run_events(now):
            self.hub.publish(event)
        if self._polls % JOB_POLL_EVERY == 0:
            for event in self._job_events(now):
                self.hub.publish(event)
        self._polls += 1

    def _run_events(self, now: datetime) -> list[Event]:
        recent = {run.id: run for run in self.store.runs_page(RunFilter(), RECENT)}
        previous = self._runs
        if previous is not None:
            for run_id, status in previous.items():
                if run_id not in recent and not status.finished:
                    with contextlib.suppress(LookupError):
                        recent[run_id] = self.store.get_run(run_id)
        self._runs = {run_id: run.status for run_id, run in recent.items()}
        if previous is None:
            return []
        events: list[Event] = []
        for run in sorted(recent.values(), key=lambda r: r.started_at or r.scheduled_for):
            before = previous.get(run.id)
            if before is run.status:
                continue
            if run.started_at is not None and before in (None, RunStatus.SCHEDULED):
                events.append(Event(EventType.RUN_STARTED, run.job_id, run.started_at, run=run))
            final = FINAL_EVENTS.get(run.status)
            if final is not None:
                events.append(Event(final, run.job_id, run.finished_at or now, run=run))
        return events

    def _job_events(self, now: datetime) -> list[Event]:
        jobs = {job.id: job for job in self.store.jobs()}
        seen = {job_id: _fingerprint(job) for job_id, job in jobs.items()}
        previous, self._jobs = self._jobs, seen
        if previous is None:
            return []
        events: list[Event] = []
        for job_id, job in jobs.items():
            old = previous.get(job_id)
            if old == seen[job_id]:
                continue
            events.append(Event(_job_change(old, job), job_id, now, job=job))
        events += [
            Event(EventType.JOB_REMOVED, job_id, now) for job_id in previous if job_id not in jobs
        ]
        return events


def _fingerprint(job: Job) -> tuple[Any, ...]:
    """What a job event reports on: its definition and state, but not its next slot, which
    moves by itself."""
    return (json.dumps(job_table(job), sort_keys=True), job.paused, job.broken, job.pause_note)


def _job_change(old: tuple[Any, ...] | None, job: Job) -> EventType:
    if old is None:
        return EventType.JOB_ADDED
    if old[1] != job.paused:
        return EventType.JOB_PAUSED if job.paused else EventType.JOB_RESUMED
    if job.broken is not None and old[2] is None:
        return EventType.JOB_BROKEN
    return EventType.JOB_MODIFIED
