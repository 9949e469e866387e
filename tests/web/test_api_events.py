"""Live events from the store alone: what StorePoller reports between two polls."""

from __future__ import annotations

from datetime import UTC, datetime

from cronwork.events import Event
from cronwork.operations import Operations
from cronwork.runs import RunStatus
from cronwork.stores import MemoryStore
from cronwork.testing import FakeClock
from cronwork.web.events import EventHub, StorePoller, event_data

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Recorder(EventHub):
    """A hub that keeps what it is given instead of sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Event] = []

    def publish(self, event: Event) -> None:
        self.seen.append(event)


def kinds(hub: Recorder) -> list[tuple[str, str]]:
    found = [(event.type.value, event.job_id) for event in hub.seen]
    hub.seen.clear()
    return found


def test_runs_and_jobs_changed_by_other_processes_become_events() -> None:
    store = MemoryStore()
    store.open()
    other = Operations(store, FakeClock(NOW))  # another process, as far as the poller knows
    other.add_job("backup", "json:dumps", "0 3 * * *", timezone="UTC")
    hub = Recorder()
    poller = StorePoller(store, hub)
    poller.poll()
    assert kinds(hub) == []  # the first poll only learns the state

    run = other.trigger("backup")
    poller.poll()
    assert kinds(hub) == []  # scheduled, not started
    store.save_runs([run.replace(status=RunStatus.RUNNING, started_at=NOW, node="n1")])
    poller.poll()
    assert kinds(hub) == [("run_started", "backup")]
    store.save_runs([run.replace(status=RunStatus.FAILED, started_at=NOW, finished_at=NOW)])
    poller.poll()
    assert kinds(hub) == [("run_failed", "backup")]

    quick = other.trigger("backup")
    store.save_runs([quick.replace(status=RunStatus.SUCCEEDED, started_at=NOW, finished_at=NOW)])
    other.set_paused("backup", True, note="disk full")
    other.add_job("report", "json:dumps", "0 4 * * *", timezone="UTC")
    for _ in range(5):  # jobs are read every fifth poll
        poller.poll()
    assert kinds(hub) == [
        ("run_started", "backup"),
        ("run_succeeded", "backup"),
        ("job_paused", "backup"),
        ("job_added", "report"),
    ]
    other.remove_job("report")
    for _ in range(5):
        poller.poll()
    assert kinds(hub) == [("job_removed", "report")]


def test_an_event_is_sent_as_one_json_object_with_its_run() -> None:
    store = MemoryStore()
    store.open()
    ops = Operations(store, FakeClock(NOW))
    ops.add_job("backup", "json:dumps", "0 3 * * *", timezone="UTC")
    hub = Recorder()
    poller = StorePoller(store, hub)
    poller.poll()
    run = ops.trigger("backup")
    store.save_runs([run.replace(status=RunStatus.RUNNING, started_at=NOW)])
    poller.poll()
    data = event_data(hub.seen[0])
    assert data["type"] == "run_started" and data["job_id"] == "backup"
    assert data["run"]["id"] == run.id and data["run"]["status"] == "running"
    assert data["at"] == "2026-03-01T12:00:00Z"
