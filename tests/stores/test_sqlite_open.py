"""Opening the SQLite file: who may read a new one, and what reading or changing may create."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from storekit import job

from cronwork.errors import StoreError
from cronwork.scheduler import Scheduler
from cronwork.stores import SqliteStore
from cronwork.stores import sqlite as sqlite_module
from cronwork.stores.sqlite import SCHEMA_VERSION


@pytest.fixture
def umask() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o600), (0o002, 0o600), (0o077, 0o600)])
@pytest.mark.usefixtures("umask")
def test_a_new_database_and_its_wal_and_shm_are_readable_by_the_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mask: int, expected: int
) -> None:
    monkeypatch.chdir(tmp_path)
    os.umask(mask)
    scheduler = Scheduler("sqlite:///jobs.db")
    try:
        scheduler.add_job("backup", "json:dumps", "every 1h")
        for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm"):
            assert mode(tmp_path / name) == expected, name
    finally:
        scheduler.close()


@pytest.mark.usefixtures("umask")
def test_a_stricter_umask_makes_a_new_database_stricter_still(tmp_path: Path) -> None:
    os.umask(0o277)
    store = SqliteStore(tmp_path / "jobs.db")
    try:
        store.open()
    except StoreError:
        pass  # a non-root user cannot write a file the umask left read-only; root can
    finally:
        store.close()
    assert mode(tmp_path / "jobs.db") == 0o400


def test_an_existing_file_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first = SqliteStore(path)
    first.open()
    first.close()
    path.chmod(0o640)
    store = SqliteStore(path)
    store.open()
    store.add_job(job("backup"))
    assert mode(path) == 0o640
    assert mode(tmp_path / "shared.db-wal") == 0o640
    store.close()


def test_a_missing_folder_is_still_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does its folder exist"):
        SqliteStore(tmp_path / "nope" / "jobs.db").open()


@pytest.mark.parametrize("access", ["existing", "read"])
def test_only_create_access_makes_a_missing_file(tmp_path: Path, access: str) -> None:
    path = tmp_path / "typo.db"
    with pytest.raises(StoreError, match=f"no database file {path}"):
        SqliteStore(path, access=access).open()  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("access", ["existing", "read"])
def test_a_foreign_database_is_refused_unchanged(tmp_path: Path, access: str) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE foo (x)")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match=r"app.db is not a cronwork database \(its tables: foo\)"):
        SqliteStore(path, access=access).open()  # type: ignore[arg-type]
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_an_empty_file_is_not_a_cronwork_database_to_read(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StoreError, match=r"not a cronwork database \(it has no tables\)"):
        SqliteStore(path, access="read").open()
    assert path.stat().st_size == 0


def version_one(path: Path) -> None:
    store = SqliteStore(path)
    store.open()
    store.add_job(job("backup"))
    store.close()


def test_reading_an_older_schema_asks_for_a_writing_command_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    version_one(path)
    before = digest(path)
    now, later = SCHEMA_VERSION, SCHEMA_VERSION + 1
    monkeypatch.setattr(
        sqlite_module,
        "MIGRATIONS",
        [*sqlite_module.MIGRATIONS, (later, f"000{later}_extra.sql", "CREATE TABLE extra (x);")],
    )
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", later)
    with pytest.raises(
        StoreError, match=f"schema version {now}, older than this cronwork's {later}"
    ):
        SqliteStore(path, access="read").open()
    assert digest(path) == before

    changing = SqliteStore(path, access="existing")
    changing.open()
    assert changing.schema_version() == later
    assert changing.get_job("backup").id == "backup"
    changing.close()


def test_a_version_one_file_gains_notify_and_pause_note_and_keeps_its_jobs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    first = sqlite_module.MIGRATIONS[0]
    assert first[0] == 1
    conn.executescript(first[2])
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO jobs (id, rev, schedule_text, timezone, target_kind, target_ref, "
        "on_timeout, retries, retry_backoff, retry_backoff_max, overlap, max_instances, "
        "misfire, misfire_grace, paused) VALUES ('old', 1, '*/5 * * * *', 'UTC', 'call', "
        "'os:getcwd', 'cancel', 0, 10, 3600, 'skip', 1, 'once', 30, 1)"
    )
    conn.commit()
    conn.close()

    store = SqliteStore(path, access="existing")
    store.open()
    try:
        assert store.schema_version() == SCHEMA_VERSION
        old = store.get_job("old")
        assert (old.notify, old.pause_note, old.paused) == ((), None, True)
        noted = store.update_job(old.replace(pause_note="disk full"))
        assert store.get_job("old").pause_note == noted.pause_note == "disk full"
    finally:
        store.close()


def test_read_access_reads_and_refuses_to_write(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    version_one(path)
    reader = SqliteStore(path, access="read")
    reader.open()
    try:
        assert [j.id for j in reader.jobs()] == ["backup"]
        with pytest.raises(StoreError):
            reader.add_job(job("other"))
    finally:
        reader.close()


def test_an_unknown_access_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="access must be create, existing or read"):
        SqliteStore(tmp_path / "x.db", access="write")  # type: ignore[arg-type]
