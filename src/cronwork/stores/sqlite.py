"""The SQLite store: one file, WAL mode, safe for several processes and threads.

Writers serialize on ``BEGIN IMMEDIATE``, and the unique index on runs (job, slot, attempt)
makes a slot fire once however many processes claim from the file. Each store object holds one
connection behind a lock, so any thread may call it. See docs/persistence.md for the choices
(durability, instants as integer microseconds, retention).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from cronwork.copiers import advanced, claimed_on_time, with_id
from cronwork.errors import DuplicateJob, JobNotFound, RunNotFound, StoreError
from cronwork.jobs import Job
from cronwork.runs import Run, RunStatus
from cronwork.stores.base import (
    Claim,
    SyncPlan,
    lost_error,
    next_attempt,
    unplannable,
)
from cronwork.stores.paging import RunFilter, page_query
from cronwork.stores.rows import (
    JobCache,
    batch,
    from_micros,
    job_to_row,
    run_from_row,
    run_values,
    to_micros,
)
from cronwork.stores.slots import on_time_slots, plan_claim
from cronwork.timing.triggers import TriggeredSchedule

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
Access = Literal["create", "existing", "read"]

# A new file holds command env values (passwords), kwargs and output: owner only. The umask
# may narrow it further; SQLite gives the -wal and -shm files the mode of the database.
_NEW_FILE_MODE = 0o600
_TABLE_NAMES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
)


# Deleting in slices keeps the write lock short, so claims of other processes are not held up
# by a large prune.
_PRUNE_SLICE = 2000


def _load_queries() -> dict[str, str]:
    text = resources.files("cronwork.stores").joinpath("schema/queries.sql").read_text("utf-8")
    queries: dict[str, str] = {}
    name = None
    lines: list[str] = []
    for line in [*text.splitlines(), "-- name: <end>"]:
        if line.startswith("-- name:"):
            if name is not None:
                queries[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = line.split(":", 1)[1].strip(), []
        elif name is not None:
            lines.append(line)
    return queries


def _load_migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("cronwork.stores").joinpath("schema")
    found = []
    for entry in folder.iterdir():
        prefix = entry.name.partition("_")[0]
        if entry.name.endswith(".sql") and prefix.isdigit():
            found.append((int(prefix), entry.name, entry.read_text("utf-8")))
    found.sort()
    for index, (number, name, _) in enumerate(found, start=1):
        if number != index:
            raise RuntimeError(f"schema migrations are not numbered 1, 2, ...: {name}")
    return found


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


Q = _load_queries()
MIGRATIONS = _load_migrations()
SCHEMA_VERSION = len(MIGRATIONS)

# SQLite stores integers in 8 bytes; the driver raises a bare OverflowError beyond them.
_SQLITE_INT = range(-(2**63), 2**63)


def _put_job(conn: sqlite3.Connection, query: str, job: Job, row: dict[str, Any]) -> None:
    """Insert or update ``job``'s row; a value too large for SQLite is a StoreError."""
    try:
        conn.execute(query, row)
    except OverflowError:
        too_large = [
            f"{key} {value}"
            for key, value in row.items()
            if isinstance(value, int) and value not in _SQLITE_INT
        ]
        what = ", ".join(too_large) or "a value"
        raise StoreError(
            f"job {job.id!r}: {what} is too large to store (SQLite integers end at "
            f"{_SQLITE_INT.stop - 1})"
        ) from None


class SqliteStore:
    """Jobs and runs in one SQLite file.

    ``busy_timeout`` is how long to wait for another process's write before failing with
    StoreError; ``synchronous`` is SQLite's durability setting (FULL by default: a committed
    claim survives power loss, so a slot never fires twice even then). ``access`` is what
    opening may do: ``create`` a missing file (readable by its owner only) and migrate it;
    only open an ``existing`` cronwork database, migrating an older one; or ``read`` an
    existing one at the current version without writing anything.
    """

    #: Other processes (the CLI, other nodes) open the same file (see Store.shared).
    shared = True

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
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._cache = JobCache()

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
            tables = f"its tables: {', '.join(names)}" if names else "it has no tables"
            raise StoreError(
                f"database {self.path} is not a cronwork database ({tables}); point the "
                "store at a cronwork database, or at a new file with `cronwork add` or "
                "`cronwork run`"
            )
        if self.access == "read" and version < SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {version}, older than this "
                f"cronwork's {SCHEMA_VERSION}: a command that writes (such as `cronwork run` "
                "or `cronwork pause`) migrates it; reading commands leave it as it is"
            )

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
            raise StoreError(
                f"database {self.path} has schema version {version}, but this cronwork knows "
                f"versions up to {SCHEMA_VERSION}: it was written by a newer cronwork. Upgrade "
                "cronwork to open it; the file was not changed"
            )
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

    # -- jobs ---------------------------------------------------------------------------

    def _job(self, row: sqlite3.Row) -> Job:
        return self._cache.load(row)

    def add_job(self, job: Job, *, replace: bool = False) -> Job:
        """Insert ``job``; an existing id raises DuplicateJob unless ``replace``."""
        row = job_to_row(job)
        with self._write() as conn:
            exists = conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone()
            if exists and not replace:
                raise DuplicateJob(f"job {job.id!r} exists already (pass replace=True)")
            _put_job(conn, Q["job_update"] if exists else Q["job_insert"], job, row)
        return job

    def update_job(self, job: Job) -> Job:
        """Overwrite the stored job with the same id (definition and state)."""
        row = job_to_row(job)
        with self._write() as conn:
            if conn.execute(Q["job_update"], row).rowcount == 0:
                raise JobNotFound(f"no job {job.id!r}")
        return job

    def remove_job(self, job_id: str) -> None:
        """Delete the job and its unclaimed pending runs; history is kept."""
        with self._write() as conn:
            if conn.execute(Q["job_delete"], (job_id,)).rowcount == 0:
                raise JobNotFound(f"no job {job_id!r}")
            conn.execute(Q["runs_delete_pending_of_job"], (job_id,))

    def get_job(self, job_id: str) -> Job:
        """Return the stored job."""
        with self._read() as conn:
            row = conn.execute(Q["job_get"], (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(f"no job {job_id!r}")
            return self._job(row)

    def jobs(self) -> list[Job]:
        """Return every stored job, ordered by id; unparsable ones come back broken."""
        with self._read() as conn:
            return [self._job(row) for row in conn.execute(Q["jobs_all"])]

    def jobs_page(self, after: str | None = None, limit: int = 100) -> list[Job]:
        """Up to ``limit`` jobs by id whose id comes after ``after``."""
        with self._read() as conn:
            rows = conn.execute(Q["jobs_page"], (after or "", limit)).fetchall()
        return [self._job(row) for row in rows]

    def sync_jobs(self, plan: SyncPlan) -> None:
        """Read every job, apply the writes and removals ``plan`` returns, in one transaction."""
        with self._write() as conn:
            # Read under BEGIN IMMEDIATE, so no other process writes between plan and apply.
            writes, removals = plan([self._job(row) for row in conn.execute(Q["jobs_all"])])
            for job in writes:
                row = job_to_row(job)
                exists = conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone()
                _put_job(conn, Q["job_update"] if exists else Q["job_insert"], job, row)
            for job_id in removals:
                # remove_job's statements, inside this transaction instead of one of its own.
                if conn.execute(Q["job_delete"], (job_id,)).rowcount == 0:
                    raise JobNotFound(f"no job {job_id!r}")
                conn.execute(Q["runs_delete_pending_of_job"], (job_id,))

    def named_targets(self) -> list[tuple[str, str]]:
        """The distinct (kind, ref) of stored jobs whose target is found by name."""
        with self._read() as conn:
            return sorted((kind, ref) for kind, ref in conn.execute(Q["named_targets"]))

    def jobs_to_check(self, targets: Sequence[tuple[str, str]]) -> list[Job]:
        """Broken jobs, and jobs whose named target is one of ``targets``, ordered by id."""
        document = batch([list(pair) for pair in targets])
        with self._read() as conn:
            return [self._job(row) for row in conn.execute(Q["jobs_to_check"], (document,))]

    def triggered_jobs(self) -> list[Job]:
        """Jobs with a trigger schedule, without loading every job."""
        with self._read() as conn:
            jobs = [self._job(row) for row in conn.execute(Q["jobs_triggered_maybe"])]
        return [job for job in jobs if isinstance(job.schedule, TriggeredSchedule)]

    def next_wakeup(self) -> datetime | None:
        """Earliest instant anything becomes due: a job's next slot or an unowned run."""
        with self._read() as conn:
            conn.execute("BEGIN")
            try:
                job_due = conn.execute(Q["next_job_due"]).fetchone()[0]
                run_due = conn.execute(Q["next_pending_due"]).fetchone()[0]
            finally:
                conn.execute("COMMIT")
        candidates = [value for value in (job_due, run_due) if value is not None]
        return from_micros(min(candidates)) if candidates else None

    # -- claiming and running -----------------------------------------------------------

    def claim(
        self, now: datetime, horizon: timedelta, node: str, lease: timedelta, limit: int = 5000
    ) -> Claim:
        """Atomically claim due slots and unowned due runs up to ``now + horizon``."""
        claim = Claim()
        limit_at = now + horizon
        until = to_micros(limit_at)
        lease_until = now + lease
        with self._write() as conn:
            due = self._tuples(conn, Q["jobs_due_keys"], (until, limit))
            jobs = self._claimable(conn, due)
            # As many due jobs as the limit make a full claim, which the engine follows at
            # once with the next one; so it takes no slot past the last job it reached (or
            # now). When the engine has fallen behind, the overdue slots of the jobs further
            # down are then claimed before the look-ahead slots of these: catching up takes
            # one pass over the jobs instead of several, each longer than the last.
            cut = limit_at
            if len(due) >= limit:
                cut = min(limit_at, max(now, from_micros(due[-1][2])))
            on_time: list[list[Any]] = []  # [job id, slot]
            planned: list[Run] = []
            missed: list[Run] = []
            next_times: list[list[Any]] = []
            broken: list[tuple[str, str]] = []
            for job_id, _rev, next_micros in due:
                if len(on_time) + len(planned) >= limit:
                    break
                job = jobs[job_id]
                if job.broken is not None:
                    # The schedule no longer parses: set the job aside instead of selecting
                    # it again on every claim.
                    broken.append((job.broken, job_id))
                    continue
                slot = from_micros(next_micros)
                next_at: datetime | None
                # Planned into locals first, so that a job whose arithmetic raises (a date
                # beyond the calendar, a schedule that fails) costs its slot, not the claim.
                runs: list[Run] = []
                late: list[Run] = []
                pairs: list[list[Any]] = []
                try:
                    if slot < now and slot < now - job.misfire_grace:
                        # Misfires: the shared planner applies the policy and words the records.
                        if job.next_run_at != slot:
                            job = advanced(job, next_run_at=slot)
                        runs, late, next_at = plan_claim(job, now, horizon, node, lease)
                    else:
                        # Every slot on time, the common case: one [job, slot] pair per slot.
                        slots, next_at = on_time_slots(job.schedule, slot, cut)
                        pairs = [[job_id, to_micros(later)] for later in slots]
                    following = to_micros(next_at)
                except Exception as exc:
                    failed, next_at = unplannable(job, slot, now, exc)
                    runs, late, pairs = [], [failed], []
                    following = to_micros(next_at)
                on_time += pairs
                planned += runs
                missed += late
                next_times.append([job_id, following])
                # The definition, as the engine needs it; its next_run_at may lag behind.
                claim.jobs[job_id] = jobs[job_id]
            claim.runs = self._insert_claimed(conn, on_time, node, now, lease_until)
            claim.runs += self._insert(conn, planned)
            claim.missed = self._insert(conn, missed)
            if next_times:
                conn.execute(Q["jobs_set_next"], (batch(next_times),))
            conn.executemany(Q["job_set_broken"], broken)
            room = limit - len(claim.runs)
            if room > 0:
                adopted = []
                for row in conn.execute(Q["runs_pending_due"], (until, room)).fetchall():
                    run = run_from_row(row, node=node, lease_until=lease_until)
                    adopted.append(int(run.id))
                    claim.runs.append(run)
                if adopted:
                    owner = to_micros(lease_until)
                    conn.execute(Q["runs_adopt"], (node, owner, batch(adopted)))
        return claim

    @staticmethod
    def _tuples(conn: sqlite3.Connection, query: str, params: Sequence[Any]) -> list[Any]:
        """Rows as plain tuples: cheaper to build and read than sqlite3.Row in a hot loop."""
        cursor = conn.cursor()
        cursor.row_factory = None
        try:
            return cursor.execute(query, params).fetchall()
        finally:
            cursor.close()

    def _claimable(self, conn: sqlite3.Connection, due: Sequence[Any]) -> dict[str, Job]:
        """The definitions of the due jobs: cached ones as they are, the others read in full."""
        jobs: dict[str, Job] = {}
        missing = []
        for job_id, rev, _next in due:
            job = self._cache.claimable(job_id, rev)
            if job is None:
                missing.append(job_id)
            else:
                jobs[job_id] = job
        if missing:
            for row in conn.execute(Q["jobs_by_ids"], (batch(missing),)):
                jobs[row["id"]] = self._job(row)
        return jobs

    def _insert_claimed(
        self,
        conn: sqlite3.Connection,
        slots: list[list[Any]],
        node: str,
        now: datetime,
        lease_until: datetime,
    ) -> list[Run]:
        """Insert the runs of on-time ``slots`` ([job id, slot micros]); return those inserted."""
        if not slots:
            return []
        # As in _insert, the rows above the largest id are exactly ours.
        before = conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
        params = (node, to_micros(now), to_micros(lease_until), batch(slots))
        conn.execute(Q["runs_insert_claimed"], params)
        runs = []
        for run_id, job_id, micros in self._tuples(conn, Q["runs_claimed_after"], (before,)):
            slot = from_micros(micros)
            runs.append(
                claimed_on_time(
                    id=str(run_id),
                    job_id=job_id,
                    scheduled_for=slot,
                    node=node,
                    created_at=now,
                    lease_until=lease_until,
                    due_at=slot,
                )
            )
        return runs

    def _insert(self, conn: sqlite3.Connection, runs: Sequence[Run]) -> list[Run]:
        """Insert ``runs``, skipping existing slots; return those inserted, with their ids."""
        if not runs:
            return []
        # Inside the write transaction nobody else inserts, and new rowids count up from the
        # largest, so the rows above it are exactly ours. One executemany and one select are
        # much faster than a RETURNING statement per run.
        before = conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
        rows = [run_values(run) for run in runs]
        conn.execute(Q["runs_insert"], (batch(rows),))
        ids = {
            (job_id, slot, attempt): run_id
            for run_id, job_id, slot, attempt in conn.execute(Q["runs_inserted_after"], (before,))
        }
        inserted = []
        for run, row in zip(runs, rows, strict=True):
            run_id = ids.pop((run.job_id, row[2], run.attempt), None)
            if run_id is not None:
                inserted.append(with_id(run, id=str(run_id)))
        return inserted

    def add_run(self, run: Run) -> Run | None:
        """Insert ``run`` with a new id; None if (job_id, scheduled_for, attempt) exists."""
        with self._write() as conn:
            inserted = self._insert(conn, [run])
        return inserted[0] if inserted else None

    def save_runs(self, runs: Sequence[Run]) -> None:
        """Write the mutable fields of existing runs in one transaction."""
        if not runs:
            return
        # The last write of a run wins, as it would one statement at a time.
        latest = {run.id: run for run in runs}
        document = batch([run_values(run) for run in latest.values()])
        with self._write() as conn:
            conn.execute(Q["runs_save"], (document,))

    def get_run(self, run_id: str) -> Run:
        """Return one run."""
        try:
            key = int(run_id)
        except (TypeError, ValueError):
            raise RunNotFound(f"no run {run_id!r}") from None
        with self._read() as conn:
            row = conn.execute(Q["run_get"], (key,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id!r}")
        return run_from_row(row)

    def runs(
        self, job_id: str | None = None, status: RunStatus | None = None, limit: int = 100
    ) -> list[Run]:
        """Return runs, newest slot first, optionally of one job and/or one status."""
        params: tuple[object, ...]
        if job_id is not None and status is not None:
            query, params = Q["runs_of_job_with_status"], (job_id, status.value, limit)
        elif job_id is not None:
            query, params = Q["runs_of_job"], (job_id, limit)
        elif status is not None:
            query, params = Q["runs_with_status"], (status.value, limit)
        else:
            query, params = Q["runs_all"], (limit,)
        with self._read() as conn:
            rows = conn.execute(query, params).fetchall()
        return [run_from_row(row) for row in rows]

    def runs_page(self, wanted: RunFilter, limit: int = 100) -> list[Run]:
        """Up to ``limit`` runs matching ``wanted``, newest first (see ``stores/paging.py``)."""
        query, params = page_query(wanted, limit, "?")
        with self._read() as conn:
            rows = conn.execute(query, params).fetchall()
        return [run_from_row(row) for row in rows]

    def last_finished(self, job_id: str, status: RunStatus | None = None) -> Run | None:
        """The run of ``job_id`` that finished last (optionally with ``status``)."""
        with self._read() as conn:
            if status is None:
                row = conn.execute(Q["run_last_finished"], (job_id,)).fetchone()
            else:
                row = conn.execute(
                    Q["run_last_finished_with_status"], (job_id, status.value)
                ).fetchone()
        return None if row is None else run_from_row(row)

    def renew_leases(self, node: str, until: datetime) -> int:
        """Extend the lease of every unfinished run owned by ``node``; return how many."""
        with self._write() as conn:
            return conn.execute(Q["runs_renew"], (to_micros(until), node)).rowcount

    def owners(self) -> list[str]:
        """The nodes that own unfinished runs."""
        with self._read() as conn:
            return sorted(row[0] for row in conn.execute(Q["run_owners"]))

    def unfinished_runs(self, node: str) -> list[Run]:
        """The unfinished runs owned by ``node``."""
        with self._read() as conn:
            rows = conn.execute(Q["runs_unfinished_of_node"], (node,)).fetchall()
        return [run_from_row(row) for row in rows]

    def expire_leases(self, now: datetime, dead: Collection[str] = ()) -> list[Run]:
        """Mark unfinished owned runs whose lease ran out, or of a dead node, as lost."""
        at = to_micros(now)
        lost = []
        with self._write() as conn:
            rows = conn.execute(Q["runs_expired"], (at, batch(sorted(dead)))).fetchall()
            for row in rows:
                run = run_from_row(row)
                assert run.node is not None
                lost.append(
                    run.replace(
                        status=RunStatus.LOST, finished_at=now, error=lost_error(run.node, dead)
                    )
                )
            conn.executemany(Q["run_mark_lost"], [(at, r.error, int(r.id)) for r in lost])
            jobs = {}
            for job_id in {r.job_id for r in lost}:
                row = conn.execute(Q["job_get"], (job_id,)).fetchone()
                if row is not None:
                    jobs[job_id] = self._job(row)
            retries = []
            for run in lost:
                job = jobs.get(run.job_id)
                retry = next_attempt(run, job, now) if job is not None else None
                if retry is not None:
                    retries.append(retry)
            self._insert(conn, retries)
        return lost

    def request_cancel(self, run_id: str, now: datetime) -> Run:
        """Ask for a run to be cancelled; an unowned scheduled run is cancelled at once."""
        with self._write() as conn:
            run = self.get_run(run_id)
            if run.status.finished:
                return run
            if run.status is RunStatus.SCHEDULED and run.node is None:
                conn.execute(Q["run_cancel_now"], (to_micros(now), int(run.id)))
            else:
                conn.execute(Q["run_flag_cancel"], (int(run.id),))
            return self.get_run(run_id)

    def cancel_requests(self, node: str) -> list[Run]:
        """Unfinished runs owned by ``node`` that someone asked to cancel."""
        with self._read() as conn:
            rows = conn.execute(Q["runs_cancel_requests"], (node,)).fetchall()
        return [run_from_row(row) for row in rows]

    def prune(
        self, now: datetime, keep_last: int | None = None, older_than: timedelta | None = None
    ) -> int:
        """Delete finished runs beyond the newest ``keep_last`` per job or older than the age.

        Deletes in short transactions so claims of other processes can interleave.
        """
        doomed: set[int] = set()
        with self._read() as conn:
            if keep_last is not None:
                rows = conn.execute(Q["prune_beyond_count"], (keep_last,)).fetchall()
                doomed.update(row[0] for row in rows)
            if older_than is not None:
                cutoff = to_micros(now - older_than)
                rows = conn.execute(Q["prune_older_than"], (cutoff,)).fetchall()
                doomed.update(row[0] for row in rows)
        ids = sorted(doomed)
        removed = 0
        for start in range(0, len(ids), _PRUNE_SLICE):
            chunk = ids[start : start + _PRUNE_SLICE]
            with self._write() as conn:
                removed += conn.execute(Q["prune_delete"], (json.dumps(chunk),)).rowcount
        return removed
