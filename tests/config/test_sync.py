"""Syncing a job file into a store: the file owns its jobs, others stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronwork.config import JobFile, parse_job_file, plan_sync, sync_job_file
from cronwork.jobs import make_job
from cronwork.stores import MemoryStore
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
