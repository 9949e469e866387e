"""What only the SQLite store promises: a readable file, versions, clear errors, threads."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from storekit import LEASE, T0, at, job, run

from cronwork.errors import StoreError
from cronwork.runs import RunStatus
from cronwork.stores import MemoryStore, SqliteStore, open_store
from cronwork.stores.sqlite import MIGRATIONS, SCHEMA_VERSION
from cronwork.timing import parse_schedule


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cronwork.db"


@pytest.fixture
def store(path: Path) -> SqliteStore:
    opened = SqliteStore(path)
    opened.open()
    yield opened  # type: ignore[misc]
    opened.close()


def raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


# -- opening ---------------------------------------------------------------------------


def test_urls_open_the_right_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///relative.db")
    assert isinstance(relative, SqliteStore)
    assert relative.path == Path("relative.db")
    relative.open()
    relative.close()
    assert (tmp_path / "relative.db").exists()
    absolute = open_store(f"sqlite:///{tmp_path}/absolute.db")
    assert isinstance(absolute, SqliteStore)
    assert absolute.path == tmp_path / "absolute.db"
    assert isinstance(open_store("memory://"), MemoryStore)
    for bad in ["sqlite://", "sqlite:///:memory:", "mysql://x", "sqlite:relative.db"]:
        with pytest.raises(StoreError):
            open_store(bad)


def test_the_file_uses_wal_full_sync_and_the_current_schema(store: SqliteStore) -> None:
    conn = store._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS) == 2
    assert raw(store.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_twice_and_reopening_keeps_everything(path: Path) -> None:
    first = SqliteStore(path)
    first.open()
    first.open()
    first.add_job(job("a"))
    (claimed,) = first.claim(T0, timedelta(0), "n1", LEASE).runs
    first.close()
    first.close()
    second = SqliteStore(path)
    second.open()
    assert second.jobs() == [job("a").replace(next_run_at=at(10))]
    assert second.get_run(claimed.id) == claimed
    second.close()


def test_a_file_from_a_newer_version_is_refused_and_left_untouched(path: Path) -> None:
    store = SqliteStore(path)
    store.open()
    store.add_job(job("a"))
    store.close()
    conn = raw(path)
    conn.execute("PRAGMA user_version = 7")
    conn.execute("PRAGMA journal_mode = DELETE")  # fold the WAL into the file before reading it
    conn.close()
    before = path.read_bytes()
    with pytest.raises(
        StoreError, match=rf"schema version 7.*versions up to {SCHEMA_VERSION}"
    ) as error:
        SqliteStore(path).open()
    assert "newer cronwork" in str(error.value)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_gives_a_clear_error(path: Path) -> None:
    path.write_bytes(b"this is a text file, not a database\n" * 200)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="corrupt or not a cronwork database"):
        SqliteStore(path).open()
    assert path.read_bytes() == before


def test_a_damaged_database_gives_a_clear_error(path: Path) -> None:
    store = SqliteStore(path)
    store.open()
    for i in range(300):
        store.add_job(job(f"job-{i:04}", args=["x" * 200]))
    store.close()
    conn = raw(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, 3 * page):
        data[offset : offset + page] = b"\xff" * page
    path.write_bytes(bytes(data))
    damaged = SqliteStore(path)
    with pytest.raises(StoreError, match="corrupt"):
        damaged.open()
        damaged.jobs()
    damaged.close()


def test_a_missing_folder_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        SqliteStore(tmp_path / "no" / "such" / "folder.db").open()


def test_a_database_locked_by_another_process_fails_instead_of_hanging(path: Path) -> None:
    store = SqliteStore(path, busy_timeout=0.3)
    store.open()
    store.add_job(job("a"))
    holder = raw(path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="is locked"):
            store.claim(T0, timedelta(0), "n1", LEASE)
        assert time.monotonic() - started < 3
        assert store.get_job("a").next_run_at == T0  # readers are not blocked by WAL writers
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(store.claim(T0, timedelta(0), "n1", LEASE).runs) == 1
    store.close()


def test_opening_a_file_locked_exclusively_fails_instead_of_hanging(path: Path) -> None:
    holder = raw(path)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="is locked"):
            SqliteStore(path, busy_timeout=0.3).open()
        assert time.monotonic() - started < 3
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_bad_synchronous_setting_is_refused(path: Path) -> None:
    with pytest.raises(StoreError, match="synchronous"):
        SqliteStore(path, synchronous="SOMETIMES")  # type: ignore[arg-type]


# -- readable rows ---------------------------------------------------------------------


def test_jobs_and_runs_are_stored_readable_without_pickles(store: SqliteStore) -> None:
    store.add_job(
        job(
            "a",
            "0 9 * * 1-5",
            tz="Europe/Berlin",
            args=[1, "two"],
            kwargs={"k": [3]},
            retries=2,
            timeout="30m",
            tags=["t"],
        )
    )
    store.claim(at(10**6), timedelta(0), "n1", LEASE)
    conn = raw(store.path)
    row = conn.execute("SELECT * FROM jobs").fetchone()
    assert row["schedule_text"] == "0 9 * * 1-5"
    assert row["timezone"] == "Europe/Berlin"
    assert (row["target_kind"], row["target_ref"]) == ("call", "os.path:join")
    assert row["args"] == '[1,"two"]'
    assert row["kwargs"] == '{"k":[3]}'
    assert row["timeout"] == 1800.0
    assert row["retries"] == 2
    assert row["tags"] == '["t"]'
    for table in ("jobs", "runs"):
        columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
        for column in columns:
            kinds = {k for (k,) in conn.execute(f"SELECT DISTINCT typeof({column}) FROM {table}")}
            assert "blob" not in kinds, f"{table}.{column}"
    run_row = conn.execute("SELECT * FROM runs").fetchone()
    assert run_row["status"] in ("scheduled", "missed")
    assert isinstance(run_row["scheduled_for"], int)
    conn.close()


def test_a_command_target_is_stored_as_argv_json(store: SqliteStore) -> None:
    from cronwork.targets import Command

    store.add_job(job("a", target=Command(["tar", "-czf", "b.tgz", "dir with space"], cwd="/x")))
    row = raw(store.path).execute("SELECT target_kind, command FROM jobs").fetchone()
    assert row["target_kind"] == "command"
    assert '"argv":["tar","-czf","b.tgz","dir with space"]' in row["command"]


def test_a_row_whose_schedule_no_longer_parses_is_kept_broken(path: Path) -> None:
    first = SqliteStore(path)
    first.open()
    first.add_job(job("a", "every 10s"))
    first.add_job(job("b", "every 10s"))
    first.close()
    conn = raw(path)
    conn.execute("UPDATE jobs SET schedule_text = 'every blue moon' WHERE id = 'a'")
    conn.close()
    store = SqliteStore(path)
    store.open()
    a, b = store.jobs()
    assert a.id == "a" and a.broken is not None and "every blue moon" in a.broken
    assert a.schedule.source == "every blue moon"
    assert a.schedule.next_after(T0) is None
    assert "cannot be parsed" in a.schedule.describe()
    assert b.broken is None
    taken = store.claim(at(5), timedelta(0), "n1", LEASE)
    assert [r.job_id for r in taken.runs] == ["b"]
    assert store.get_job("a").broken == a.broken  # set aside in the file, not deleted
    assert store.next_wakeup() == at(10)
    # Saving the broken job back keeps the stored text; a repaired schedule makes it run.
    store.update_job(store.get_job("a"))
    assert store.get_job("a").schedule.source == "every blue moon"
    fixed = a.replace(schedule=parse_schedule("every 10s", tz="UTC", job_id="a"), broken=None)
    store.update_job(fixed)
    assert [r.job_id for r in store.claim(at(5), timedelta(0), "n1", LEASE).runs] == ["a"]
    store.close()


def test_a_change_by_another_process_is_seen_despite_the_schedule_cache(path: Path) -> None:
    one, two = SqliteStore(path), SqliteStore(path)
    one.open()
    two.open()
    one.add_job(job("a", "every 10s"))
    assert two.get_job("a").schedule.source == "every 10s"
    one.add_job(job("a", "every 20s"), replace=True)
    assert two.get_job("a").schedule.source == "every 20s"
    one.close()
    two.close()


def test_a_claim_sees_a_definition_changed_by_another_process(path: Path) -> None:
    one, two = SqliteStore(path), SqliteStore(path)
    one.add_job(job("a", "every 10s", kwargs={"v": 1}))
    first = two.claim(T0, timedelta(0), "n1", LEASE)
    assert first.jobs["a"].kwargs == {"v": 1}
    changed = one.get_job("a")
    one.update_job(changed.replace(kwargs={"v": 2}))
    second = two.claim(at(10), timedelta(0), "n1", LEASE)
    assert [r.scheduled_for for r in second.runs] == [at(10)]
    assert second.jobs["a"].kwargs == {"v": 2}
    # Paused by another process: the next claim takes nothing and leaves the slot due.
    one.update_job(one.get_job("a").replace(paused=True))
    assert two.claim(at(20), timedelta(0), "n1", LEASE).runs == []
    assert two.get_job("a").next_run_at == at(20) and two.get_job("a").paused
    one.close()
    two.close()


def test_claims_hand_out_one_definition_object_per_revision(store: SqliteStore) -> None:
    # A copy per claim would keep thousands of short-lived Jobs a second for the collector.
    store.add_job(job("a", "every 10s"))
    store.add_job(job("b", "every 10s"))
    first = store.claim(T0, timedelta(0), "n1", LEASE)
    second = store.claim(at(10), timedelta(0), "n1", LEASE)
    assert second.jobs["a"] is first.jobs["a"]
    assert second.jobs["a"].target is second.jobs["b"].target
    store.update_job(store.get_job("a").replace(retries=3))
    third = store.claim(at(20), timedelta(0), "n1", LEASE)
    assert third.jobs["a"].retries == 3 and third.jobs["b"] is first.jobs["b"]


def test_a_full_claim_takes_overdue_slots_before_future_ones(store: SqliteStore) -> None:
    for i in range(6):
        store.add_job(job(f"j{i}", "every 10s"))
    # At 25 s every job is behind by three slots. A claim limited to 4 reaches two jobs,
    # which must not take their slot at 30 s (inside the look-ahead) while the others wait.
    first = store.claim(at(25), timedelta(seconds=10), "n1", LEASE, limit=4)
    assert sorted((r.job_id, r.scheduled_for) for r in first.runs) == [
        (j, at(s)) for j in ("j0", "j1") for s in (0, 10, 20)
    ]
    assert store.get_job("j0").next_run_at == at(30)
    rest = store.claim(at(25), timedelta(seconds=10), "n1", LEASE, limit=100)
    assert sorted((r.job_id, r.scheduled_for) for r in rest.runs) == sorted(
        [("j0", at(30)), ("j1", at(30))]
        + [(f"j{i}", at(s)) for i in range(2, 6) for s in (0, 10, 20, 30)]
    )
    assert all(r.trigger == "schedule" and r.due_at == r.scheduled_for for r in rest.runs)
    assert {store.get_job(f"j{i}").next_run_at for i in range(6)} == {at(40)}


# -- concurrency -----------------------------------------------------------------------


def test_threads_share_one_store_safely(store: SqliteStore) -> None:
    for i in range(40):
        store.add_job(job(f"j{i:02}", "every 1s"))
    claimed: list[tuple[str, object]] = []
    errors: list[BaseException] = []

    def claimer(node: str) -> None:
        try:
            for step in range(30):
                taken = store.claim(at(step * 0.5), timedelta(seconds=1), node, LEASE)
                claimed.extend((r.job_id, r.scheduled_for) for r in taken.runs)
                done = RunStatus.SUCCEEDED
                store.save_runs([r.replace(status=done, finished_at=at(step)) for r in taken.runs])
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(30):
                assert len(store.jobs()) == 40
                store.runs(limit=20)
                store.next_wakeup()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"n{i}",)) for i in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(claimed) == len(set(claimed))
    assert len(claimed) == 40 * 16  # slots 0..15s, claimed up to 14.5s + 1s look-ahead


def test_pending_runs_survive_a_restart_and_are_adopted(path: Path) -> None:
    first = SqliteStore(path)
    first.open()
    first.add_job(job("a", next_run_at=None))
    pending = first.add_run(run("a", at(5), trigger="manual"))
    first.close()
    second = SqliteStore(path)
    assert second.next_wakeup() == at(5)  # opens lazily on first use
    taken = second.claim(at(5), timedelta(0), "n2", LEASE)
    assert pending is not None and [r.id for r in taken.runs] == [pending.id]
    second.close()


def test_jobs_with_the_same_schedule_text_load_fresh_from_another_process(path: Path) -> None:
    writer = SqliteStore(path)
    originals = {}
    for i in range(20):
        bounds = {"start_at": at(i * 3600)} if i % 2 else {}
        plain = job(f"j{i:02}", "*/15 * * * *", tz="Europe/Berlin", **bounds)
        hashed = job(f"h{i:02}", "H */2 * * *", jitter="30s")
        for added in (plain, hashed):
            writer.add_job(added)
            originals[added.id] = added
    reader = SqliteStore(path)
    loaded = reader.jobs()
    assert loaded == sorted(originals.values(), key=lambda j: j.id)
    for got in loaded:
        assert got.schedule.upcoming(3, T0) == originals[got.id].schedule.upcoming(3, T0), got.id
    writer.close()
    reader.close()


# -- with the engine -------------------------------------------------------------------


def test_a_run_lost_by_a_dead_node_is_announced_as_retried(store: SqliteStore) -> None:
    from cronwork import Scheduler
    from cronwork.events import Event, EventType
    from cronwork.testing import FakeClock

    store.add_job(job("a", "every 1h", retries=2, next_run_at=T0))
    (claimed,) = store.claim(T0, timedelta(0), "dead-node", LEASE).runs
    clock = FakeClock(T0 + LEASE * 2)
    scheduler = Scheduler(store=store, clock=clock)
    seen: list[Event] = []
    scheduler.on(EventType.RUN_LOST, seen.append)
    scheduler.on(EventType.RUN_RETRIED, seen.append)
    scheduler.start()
    try:
        scheduler.idle(runs=False)
    finally:
        scheduler.shutdown()
    assert [e.type for e in seen] == [EventType.RUN_LOST, EventType.RUN_RETRIED]
    retry = seen[1].run
    assert retry is not None and retry.id != claimed.id
    assert (retry.scheduled_for, retry.attempt, retry.trigger) == (T0, 2, "retry")


def test_a_page_of_jobs_shows_what_another_process_changed(path: Path, store: SqliteStore) -> None:
    # A page reads whole rows only for definitions it has not cached at their revision.
    for job_id in ["a", "b", "c"]:
        store.add_job(job(job_id, retries=1))
    assert [j.retries for j in store.jobs_page()] == [1, 1, 1]
    other = SqliteStore(str(path))
    other.open()
    other.update_job(other.get_job("b").replace(retries=4))
    other.update_job(other.get_job("c").replace(paused=True))
    other.remove_job("a")
    other.close()
    page = store.jobs_page()
    assert [(j.id, j.retries, j.paused) for j in page] == [("b", 4, False), ("c", 1, True)]
