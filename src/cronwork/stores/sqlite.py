"""The SQLite store: one file, WAL mode, safe for several processes and threads.

Writers serialize on ``BEGIN IMMEDIATE``, and the unique index on runs (job, slot, attempt)
makes a slot fire once however many processes claim from the file. Each store object holds one
connection behind a lock, so any thread may call it. See docs/persistence.md for the choices
(durability, instants as integer microseconds, retention).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cronwork.errors import DuplicateJob, StoreError
from cronwork.jobs import Job
from cronwork.runs import Run
from cronwork.stores.rows import batch, job_to_row, run_from_row, to_micros
from cronwork.stores.sqlstore import (
    SqlStore,
    T,
    load_migrations,
    load_queries,
    newer_schema,
    not_cronwork,
    older_schema,
    too_large,
)

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
Access = Literal["create", "existing", "read"]

# A new file holds command env values (passwords), kwargs and output: owner only. The umask
# may narrow it further; SQLite gives the -wal and -shm files the mode of the database.
_NEW_FILE_MODE = 0o600
_TABLE_NAMES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
)


def _statements(script: str) -> Iterator[str]:
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()
    ):
        raise RuntimeError(f"incomplete SQL statement at the end of a migration: {buffer!r}")


Q = load_queries("schema")
# BEGIN IMMEDIATE holds the whole file: reading a run is locking it.
Q["run_lock"] = Q["run_get"]
MIGRATIONS = load_migrations("schema")
SCHEMA_VERSION = len(MIGRATIONS)


class SqliteStore(SqlStore[sqlite3.Connection]):
    """Jobs and runs in one SQLite file.

    ``busy_timeout`` is how long to wait for another process's write before failing with
    StoreError; ``synchronous`` is SQLite's durability setting (FULL by default: a committed
    claim survives power loss, so a slot never fires twice even then). ``access`` is what
    opening may do: ``create`` a missing file (readable by its owner only) and migrate it;
    only open an ``existing`` cronwork database, migrating an older one; or ``read`` an
    existing one at the current version without writing anything.
    """

    Q = Q
    MARK = "?"

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 5.0,
        synchronous: Synchronous = "FULL",
        access: Access = "create",
    ) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.busy_timeout = busy_timeout
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        if access not in ("create", "existing", "read"):
            raise StoreError(f"access must be create, existing or read, not {access!r}")
        self.synchronous = synchronous
        self.access = access
        super().__init__()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- connection ---------------------------------------------------------------------

    def open(self) -> None:
        """Open the file as ``access`` allows; a file from a newer cronwork is refused untouched."""
        with self._lock:
            if self._conn is not None:
                return
            if self.access == "create":
                self._create_private()
            elif not self.path.exists():
                raise StoreError(
                    f"no database file {self.path.absolute()}: check the store URL "
                    "(only `cronwork add` and `cronwork run` create one)"
                )
            conn = self._connect()
            try:
                conn.row_factory = sqlite3.Row
                # Read the version before anything that writes, so a newer file stays as it is.
                version = self._check_version(conn)
                if self.access != "create":
                    self._check_cronwork(conn, version)
                if self.access == "read":
                    conn.execute("PRAGMA query_only = ON")
                else:
                    conn.execute("PRAGMA journal_mode = WAL").fetchone()
                    conn.execute(f"PRAGMA synchronous = {self.synchronous}")
                conn.execute("PRAGMA foreign_keys = OFF")
                conn.execute("PRAGMA cache_size = -65536")
                if self.access != "read":
                    self._migrate(conn)
            except sqlite3.Error as exc:
                conn.close()
                raise self._error(exc) from None
            except BaseException:
                conn.close()
                raise
            self._conn = conn

    def _create_private(self) -> None:
        """Create a missing file readable by its owner only; an existing file keeps its mode."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)
        except FileExistsError:
            return  # another process may have just created it: its mode is its creator's
        except OSError as exc:
            raise StoreError(
                f"cannot open database {self.path} ({exc.strerror}): does its folder exist "
                "and is it writable?"
            ) from None
        # An empty file is an empty SQLite database; SQLite writes the header on first use.
        os.close(fd)

    def _connect(self) -> sqlite3.Connection:
        target: str | Path = self.path
        if self.access == "read":
            # mode=ro: SQLite never writes the file. On a WAL file nobody has open it may
            # still create an empty -wal and the -shm index (with the file's mode), which a
            # reader needs and which hold no data.
            target = self.path.resolve().as_uri() + "?mode=ro"
        elif self.access == "existing":
            target = self.path.resolve().as_uri() + "?mode=rw"
        try:
            return sqlite3.connect(
                target,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=self.access != "create",
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _check_cronwork(self, conn: sqlite3.Connection, version: int) -> None:
        """Refuse a file that is not a cronwork database, or (to read) an older schema."""
        names = [row[0] for row in conn.execute(_TABLE_NAMES)]
        if version == 0 or not {"jobs", "runs"} <= set(names):
            raise not_cronwork(str(self.path), names, "at a new file")
        if self.access == "read" and version < SCHEMA_VERSION:
            raise older_schema(str(self.path), version, SCHEMA_VERSION)

    def close(self) -> None:
        """Close the connection; idempotent. A later call opens it again."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def schema_version(self) -> int:
        """The schema version of the open file."""
        with self._read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self, conn: sqlite3.Connection) -> int:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise newer_schema(str(self.path), version, SCHEMA_VERSION, "file")
        return version

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if self._check_version(conn) == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            current = self._check_version(conn)
            for number, _name, script in MIGRATIONS:
                if number > current:
                    for statement in _statements(script):
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.open()
        assert self._conn is not None
        return self._conn

    def _error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(
                f"database {self.path} is locked: another process held it for more than "
                f"{self.busy_timeout:g}s ({text}); check for a stuck process or raise busy_timeout"
            )
        if isinstance(exc, sqlite3.DatabaseError) and (
            "not a database" in text or "malformed" in text or "corrupt" in text
        ):
            return StoreError(
                f"database {self.path} is corrupt or not a cronwork database ({text}); restore "
                "it from a backup or point the store at a new file"
            )
        if "unable to open" in text:
            return StoreError(
                f"cannot open database {self.path} ({text}): does its folder exist and is it "
                "writable?"
            )
        return StoreError(f"database {self.path}: {text}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    # The original error says more than a failed rollback would.
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._error(exc) from exc
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._write()

    def _reading(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._read() as conn:
            return work(conn)

    # -- the dialect's statements -------------------------------------------------------

    def _put(self, conn: sqlite3.Connection, job: Job, replace: bool) -> None:
        exists = conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone()
        if exists and not replace:
            raise DuplicateJob(f"job {job.id!r} exists already (pass replace=True)")
        self._put_job(conn, Q["job_update"] if exists else Q["job_insert"], job)

    def _put_job(self, conn: sqlite3.Connection, query: str, job: Job) -> int:
        """Insert or update ``job``'s row; a value too large for SQLite is a StoreError."""
        row = job_to_row(job)
        try:
            return conn.execute(query, row).rowcount
        except OverflowError:
            raise StoreError(
                f"job {job.id!r}: {too_large(row)} is too large to store (SQLite integers "
                f"end at {2**63 - 1})"
            ) from None

    def _next_due(self) -> int | None:
        with self._read() as conn:
            conn.execute("BEGIN")
            try:
                job_due = conn.execute(Q["next_job_due"]).fetchone()[0]
                run_due = conn.execute(Q["next_pending_due"]).fetchone()[0]
            finally:
                conn.execute("COMMIT")
        candidates = [value for value in (job_due, run_due) if value is not None]
        return min(candidates) if candidates else None

    def _due_keys(self, conn: sqlite3.Connection, until: int, limit: int) -> list[Any]:
        return self._tuples(conn, Q["jobs_due_keys"], (until, limit))

    @staticmethod
    def _tuples(conn: sqlite3.Connection, query: str, params: Sequence[Any]) -> list[Any]:
        """Rows as plain tuples: cheaper to build and read than sqlite3.Row in a hot loop."""
        cursor = conn.cursor()
        cursor.row_factory = None
        try:
            return cursor.execute(query, params).fetchall()
        finally:
            cursor.close()

    def _insert_claimed_rows(
        self,
        conn: sqlite3.Connection,
        slots: list[tuple[str, int]],
        node: str,
        now: int,
        lease: int | None,
    ) -> list[Any]:
        # Inside the write transaction nobody else inserts, and new rowids count up from the
        # largest, so the rows above it are exactly ours. One statement and one select are
        # much faster than a RETURNING statement per run.
        before = conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
        conn.execute(Q["runs_insert_claimed"], (node, now, lease, batch(slots)))
        return self._tuples(conn, Q["runs_claimed_after"], (before,))

    def _insert_rows(self, conn: sqlite3.Connection, rows: list[list[Any]]) -> list[Any]:
        # As in _insert_claimed_rows, the rows above the largest id are exactly ours.
        before = conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
        conn.execute(Q["runs_insert"], (batch(rows),))
        return self._tuples(conn, Q["runs_inserted_after"], (before,))

    def _set_next(self, conn: sqlite3.Connection, pairs: list[tuple[str, int | None]]) -> None:
        conn.execute(Q["jobs_set_next"], (batch(pairs),))

    def _adopt(
        self,
        conn: sqlite3.Connection,
        node: str,
        lease_until: datetime,
        until: int,
        room: int,
        skew: timedelta,
    ) -> list[Run]:
        runs = [
            run_from_row(row, node=node, lease_until=lease_until)
            for row in conn.execute(Q["runs_pending_due"], (until, room)).fetchall()
        ]
        if runs:
            ids = batch([int(run.id) for run in runs])
            conn.execute(Q["runs_adopt"], (node, to_micros(lease_until), ids))
        return runs

    def _mark_lost(self, conn: sqlite3.Connection, now: datetime, lost: list[Run]) -> None:
        at = to_micros(now)
        conn.executemany(Q["run_mark_lost"], [(at, run.error, int(run.id)) for run in lost])
