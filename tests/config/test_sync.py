"""Syncing a job file into a store: the file owns its jobs, others stay."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronwork.errors import StoreError
from cronwork.jobfile import JobFile, JobFileError, parse_job_file, plan_sync, sync_job_file
from cronwork.jobs import make_job
from cronwork.stores import MemoryStore, SqliteStore, Store
from cronwork.targets import Command, make_target

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
ORIGIN = "file:/srv/jobs.toml"


def job_file(*jobs: tuple[str, str]) -> JobFile:
    text = "".join(
        f'[[jobs]]\nid = "{job_id}"\nschedule = "{schedule}"\ncommand = ["true"]\ntz = "UTC"\n'
        for job_id, schedule in jobs
    )
    return parse_job_file(text, name="jobs.toml", origin=ORIGIN)


def test_a_first_sync_adds_every_job_with_its_next_slot() -> None:
    store = MemoryStore()
    report = sync_job_file(store, job_file(("a", "every 1m"), ("b", "0 * * * *")), NOW)
    assert report.added == ["a", "b"]
    assert store.get_job("a").next_run_at == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
    assert store.get_job("b").next_run_at == datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
    assert store.get_job("a").origin == ORIGIN


def test_the_same_file_again_changes_nothing() -> None:
    store = MemoryStore()
    sync_job_file(store, job_file(("a", "every 1m")), NOW)
    report = sync_job_file(store, job_file(("a", "every 1m")), NOW + timedelta(hours=1))
    assert report.unchanged == ["a"]
    assert report.summary() == "0 added, 0 updated, 1 unchanged, 0 removed"


def test_a_changed_setting_keeps_the_next_slot_when_the_schedule_is_the_same() -> None:
    store = MemoryStore()
    sync_job_file(store, job_file(("a", "every 1m")), NOW)
    slot = store.get_job("a").next_run_at
    text = '[[jobs]]\nid = "a"\nschedule = "every 1m"\ncommand = ["false"]\ntz = "UTC"\n'
    changed = parse_job_file(text, name="jobs.toml", origin=ORIGIN)
    report = sync_job_file(store, changed, NOW + timedelta(hours=1))
    assert report.updated == ["a"]
    assert store.get_job("a").next_run_at == slot
    assert store.get_job("a").target.ref == "false"


def test_a_changed_schedule_computes_the_next_slot_from_now() -> None:
    store = MemoryStore()
    sync_job_file(store, job_file(("a", "every 1m")), NOW)
    later = NOW + timedelta(hours=1)
    sync_job_file(store, job_file(("a", "0 */2 * * *")), later)
    assert store.get_job("a").next_run_at == datetime(2026, 1, 1, 14, 0, tzinfo=UTC)


def test_an_operators_pause_survives_a_sync() -> None:
    store = MemoryStore()
    sync_job_file(store, job_file(("a", "every 1m")), NOW)
    store.update_job(store.get_job("a").replace(paused=True))
    sync_job_file(store, job_file(("a", "every 2m")), NOW)
    assert store.get_job("a").paused


def test_jobs_the_file_dropped_are_removed_and_others_stay() -> None:
    store = MemoryStore()
    sync_job_file(store, job_file(("a", "every 1m"), ("b", "every 1m")), NOW)
    target = make_target(Command(["true"]))
    store.add_job(make_job("from-cli", target, "every 5m", tz="UTC"))
    store.add_job(make_job("other-file", target, "every 5m", tz="UTC", origin="file:/x.toml"))
    report = sync_job_file(store, job_file(("a", "every 1m")), NOW)
    assert report.removed == ["b"]
    assert [job.id for job in store.jobs()] == ["a", "from-cli", "other-file"]


def test_the_file_takes_over_a_job_with_its_id() -> None:
    store = MemoryStore()
    store.add_job(make_job("a", make_target(Command(["old"])), "every 5m", tz="UTC"))
    report = sync_job_file(store, job_file(("a", "every 1m")), NOW)
    assert report.updated == ["a"]
    assert store.get_job("a").origin == ORIGIN


def test_plan_sync_reports_without_writing() -> None:
    store = MemoryStore()
    sync_job_file(store, job_file(("a", "every 1m"), ("b", "every 1m")), NOW)
    report = plan_sync(store.jobs(), job_file(("a", "every 2m"), ("c", "every 1m")), NOW)
    assert (report.added, report.updated, report.removed) == (["c"], ["a"], ["b"])
    assert [job.id for job in store.jobs()] == ["a", "b"]


# -- one transaction ------------------------------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "jobs.db", busy_timeout=0.05)
    store.open()
    return store


def test_a_value_sqlite_cannot_hold_fails_the_whole_sync_naming_job_and_field(
    sqlite_store: SqliteStore,
) -> None:
    sync_job_file(sqlite_store, job_file(("old", "every 1m")), NOW)
    before = sqlite_store.jobs()
    three = job_file(("first", "every 1m"), ("second", "every 1m"), ("third", "every 1m"))
    # Built past the validator on purpose: the store is the last line of defence.
    huge = tuple(j.replace(retries=10**23) if j.id == "second" else j for j in three.jobs)
    with pytest.raises(StoreError) as raised:
        sync_job_file(sqlite_store, JobFile(three.path, ORIGIN, three.settings, huge), NOW)
    message = str(raised.value)
    assert message.startswith("jobs.toml: nothing was synced: job 'second': retries 1000")
    assert "too large" in message
    assert sqlite_store.jobs() == before


def test_a_locked_database_fails_the_sync_with_a_clear_error_and_changes_nothing(
    sqlite_store: SqliteStore,
) -> None:
    sync_job_file(sqlite_store, job_file(("old", "every 1m")), NOW)
    before = sqlite_store.jobs()
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match=r"^jobs.toml: nothing was synced: .* is locked"):
            sync_job_file(sqlite_store, job_file(("new", "every 1m")), NOW)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert sqlite_store.jobs() == before


# -- jobs that others depend on -------------------------------------------------------------


def _needing(store: Store, job_id: str, upstream: str, how: str) -> None:
    """Add ``job_id`` from outside the file, waiting for or triggered by ``upstream``."""
    target = make_target(Command(["true"]))
    if how == "depends_on":
        store.add_job(make_job(job_id, target, "every 5m", tz="UTC", depends_on=(upstream,)))
    else:
        store.add_job(make_job(job_id, target, f"after {upstream}", tz="UTC"))


@pytest.mark.parametrize("how", ["depends_on", "trigger"])
def test_a_sync_refuses_to_remove_a_job_others_need_and_changes_nothing(how: str) -> None:
    store = MemoryStore()
    sync_job_file(store, job_file(("a", "every 1m"), ("keep", "every 1m")), NOW)
    _needing(store, "b", "a", how)
    before = store.jobs()
    with pytest.raises(JobFileError) as raised:
        sync_job_file(store, job_file(("keep", "every 2m"), ("new", "every 1m")), NOW)
    assert raised.value.problems == [
        "jobs.toml: job 'a' is needed by b; to remove it anyway pass force=True "
        "(cronwork run --force)"
    ]
    assert store.jobs() == before


def test_force_lets_a_sync_remove_a_job_others_need() -> None:
    store = MemoryStore()
    sync_job_file(store, job_file(("a", "every 1m"), ("keep", "every 1m")), NOW)
    _needing(store, "b", "a", "depends_on")
    report = sync_job_file(store, job_file(("keep", "every 1m")), NOW, force=True)
    assert report.removed == ["a"]
    assert [job.id for job in store.jobs()] == ["b", "keep"]


def test_a_sync_removes_a_job_together_with_the_file_jobs_that_needed_it() -> None:
    store = MemoryStore()
    text = (
        '[[jobs]]\nid = "a"\nschedule = "every 1m"\ncommand = ["true"]\n'
        '[[jobs]]\nid = "b"\nschedule = "every 1m"\ncommand = ["true"]\ndepends_on = "a"\n'
    )
    sync_job_file(store, parse_job_file(text, name="jobs.toml", origin=ORIGIN), NOW)
    report = sync_job_file(store, job_file(("c", "every 1m")), NOW)
    assert sorted(report.removed) == ["a", "b"]


def test_plan_sync_names_the_removals_others_need() -> None:
    store = MemoryStore()
    sync_job_file(store, job_file(("a", "every 1m"), ("keep", "every 1m")), NOW)
    _needing(store, "b", "a", "depends_on")
    _needing(store, "c", "a", "trigger")
    report = plan_sync(store.jobs(), job_file(("keep", "every 1m")), NOW)
    assert report.needed == {"a": ["b", "c"]}
