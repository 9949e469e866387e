"""The PostgreSQL store: one database shared by any number of scheduler processes.

A claim locks the due job rows with ``FOR UPDATE SKIP LOCKED`` in one short transaction,
inserts their runs and writes each job's next fire time; rows another process is claiming
are skipped rather than waited for. The unique index on runs (job, slot, attempt) makes a
slot fire once whatever races. The schema is versioned (``schema/postgres/*.sql``) and
migrated under ``pg_advisory_xact_lock``, so nodes may open an empty database at once.

Leases are on the server's clock, whatever the engine's (pgclock.py). Changes other nodes
should see before their next poll are notified and listened for (pglisten.py). A server
that cannot be reached is StoreUnavailable, which the engine waits out with backoff.
"""

from __future__ import annotations

import logging
import re
import secrets
import select
import threading
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from cronwork.errors import DuplicateJob, StoreError, StoreUnavailable
from cronwork.jobs import Job
from cronwork.runs import Run
from cronwork.stores.base import Claim
from cronwork.stores.rows import batch, from_micros, job_to_row, run_from_row, run_values, to_micros
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

MISSING_EXTRA = "the PostgreSQL store needs the psycopg driver: pip install 'cronwork[postgres]'"

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.rows import dict_row, tuple_row
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # the extra is not installed
    raise StoreError(MISSING_EXTRA) from exc

from cronwork.stores.pgclock import ServerClock, measure_offset  # noqa: E402 (needs psycopg)
from cronwork.stores.pglisten import Listener  # noqa: E402 (needs psycopg, checked above)

# The pooled connections of stores that the server cut (see _lend): the pool need not say so.
_DROPPED: weakref.WeakSet[Any] = weakref.WeakSet()


class _QuietAttempts(logging.Filter):
    """Drop the connection pool's warning per failed attempt to connect for a store's pool,
    and per cut connection a store dropped: the engine logs an outage once when it starts and
    once when it ends (backoff.py), and a cut the store rides out is no outage."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        message = str(record.msg)
        if not args:
            return True
        if message.startswith("error connecting"):
            return not str(args[0]).startswith("PostgresStore ")
        if message.startswith("discarding closed connection"):
            return args[0] not in _DROPPED
        return True


logging.getLogger("psycopg.pool").addFilter(_QuietAttempts())

Access = Literal["create", "existing", "read"]
Connection = psycopg.Connection[dict[str, Any]]

# pg_advisory_xact_lock key of schema migrations: "cronwork" as a big-endian integer.
_MIGRATION_LOCK = int.from_bytes(b"cronwork", "big")
_SCHEMA = "schema/postgres"
# A transaction that lost a deadlock race is tried again this many times.
_DEADLOCK_TRIES = 3


Q = load_queries(_SCHEMA)
MIGRATIONS = load_migrations(_SCHEMA)
SCHEMA_VERSION = len(MIGRATIONS)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for messages and logs."""
    if "://" not in url:  # a "key=value" connection string
        return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)
    parts = urlsplit(url)
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _text(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; a command's output may. Keep the rest readable.
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def _has_input(conn: Connection) -> bool:
    """True when the server wrote to an idle connection: it does so only when it ends it."""
    if conn.closed:
        return True
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    return bool(readable)


class _ConnectionCut(StoreUnavailable):
    """The server cut the connection of a call before it committed anything."""


class PostgresStore(SqlStore[Connection]):
    """Jobs and runs in a PostgreSQL database, shared safely by many processes.

    ``url`` is a libpq URL (``postgresql://user:password@host:5432/db``; ``postgres://``
    too). ``access`` is what opening may do, as for SqliteStore: ``create`` cronwork's schema
    in a database that lacks it and migrate an older one; only open an ``existing`` cronwork
    database (migrating an older one); or ``read`` one at the current version, in read-only
    transactions, writing nothing. ``pool_size`` bounds the connections this store holds.
    """

    Q = Q
    MARK = "%s"

    def __init__(
        self,
        url: str,
        *,
        access: Access = "create",
        pool_size: int = 4,
        connect_timeout: float = 10.0,
    ) -> None:
        if access not in ("create", "existing", "read"):
            raise StoreError(f"access must be create, existing or read, not {access!r}")
        if pool_size < 1:
            raise StoreError(f"pool_size must be at least 1, not {pool_size}")
        self._conninfo = url.strip()
        self.url = redact(self._conninfo)
        self.access = access
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        super().__init__()
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Connection] | None = None
        self._clock = ServerClock()
        # Sent with each notification, so that this store's own listeners skip it.
        self._token = secrets.token_hex(8)
        self._listeners: list[Listener] = []

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    @property
    def _connect_seconds(self) -> int:
        # libpq takes whole seconds and reads 0 as "wait forever".
        return max(1, round(self.connect_timeout))

    # -- connection ---------------------------------------------------------------------

    def open(self) -> None:
        """Connect, check (and, as ``access`` allows, create or migrate) the schema."""
        with self._lock:
            if self._pool is not None:
                return
            try:
                with psycopg.connect(
                    self._conninfo,
                    connect_timeout=self._connect_seconds,
                    row_factory=tuple_row,
                ) as conn:
                    self._prepare(conn)
                    self._clock.set(measure_offset(conn))
            except psycopg.Error as exc:
                raise self._error(exc) from None
            pool: ConnectionPool[Connection] = ConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=self.pool_size,
                kwargs={
                    "row_factory": dict_row,
                    "connect_timeout": self._connect_seconds,
                    # A call of one statement costs one round trip; calls of several open a
                    # transaction of their own (see _transaction).
                    "autocommit": True,
                },
                configure=self._configure,
                timeout=self.connect_timeout,
                # Named for the store, not "cronwork-...": the engine's own threads are, and
                # these outlive an engine that borrowed the store until the store is closed.
                name=f"PostgresStore {self.url}",
                open=False,
            )
            pool.open(wait=False)
            self._pool = pool

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        if self.access == "read":
            # A session default, so that statements outside a transaction block are read
            # only too.
            conn.execute("SET default_transaction_read_only = on")

    @contextmanager
    def _lend(self) -> Iterator[Connection]:
        """A pooled connection that the server has not cut while it sat in the pool.

        An idle connection receives nothing unless the server is ending it, so one that has
        nothing to read is taken as sound without a round trip: checking every call cost as
        much as a one-statement call itself. One that has is closed, so that the pool drops
        it and opens another, and the next is taken at once. After a cut every idle
        connection is dead, and the pool's own check (its ``check`` parameter) would wait a
        second before the next, two before the one after, and so on: 7 s with four. The
        pool's warning for each dropped connection, and for one cut during a call, is
        silenced (_QuietAttempts).
        """
        pool = self._pool_or_open()
        for tries_left in range(self.pool_size, -1, -1):
            with pool.connection() as conn:
                # Cut again and again: use the last one; the call fails and _retrying retries.
                if tries_left and _has_input(conn):
                    _DROPPED.add(conn)
                    conn.close()
                    continue
                try:
                    yield conn
                finally:
                    if conn.broken:
                        # Cut during the call: the caller says so (or runs it again).
                        _DROPPED.add(conn)
                return

    def _prepare(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        """Check the schema as ``access`` allows, migrating it unless only reading."""
        version = self._version(conn)
        conn.rollback()
        if self.access != "create":
            self._check_cronwork(conn, version)
        if self.access == "read" or version == SCHEMA_VERSION:
            return
        with conn.transaction():
            # One node migrates at a time; the others find the schema done when they get in.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            current = self._version(conn)
            if current == 0:
                self._refuse_foreign_tables(conn)
            for number, _name, script in MIGRATIONS:
                if number > current:
                    conn.execute(script.encode())
            conn.execute(Q["schema_set_version"], (SCHEMA_VERSION,))

    def _version(self, conn: psycopg.Connection[tuple[Any, ...]]) -> int:
        """The schema version (0 without cronwork's schema); newer than known is refused."""
        # The catalog, not to_regclass: its cache may not yet show a schema another node
        # created while this one waited for the migration lock.
        if "cronwork_schema" not in self._tables(conn):
            return 0
        row = conn.execute(Q["schema_version"]).fetchone()
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise newer_schema(self.url, version, SCHEMA_VERSION, "database")
        return version

    def _tables(self, conn: psycopg.Connection[tuple[Any, ...]]) -> list[str]:
        return [row[0] for row in conn.execute(Q["schema_tables"])]

    def _check_cronwork(self, conn: psycopg.Connection[tuple[Any, ...]], version: int) -> None:
        """Refuse a database without cronwork's schema, or (to read) an older schema."""
        if version == 0:
            names = self._tables(conn)
            conn.rollback()
            raise not_cronwork(self.url, names, "create one")
        if self.access == "read" and version < SCHEMA_VERSION:
            raise older_schema(self.url, version, SCHEMA_VERSION)

    def _refuse_foreign_tables(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        """Refuse to create cronwork's tables over someone else's of the same name."""
        clash = sorted({"jobs", "runs"} & set(self._tables(conn)))
        if clash:
            raise StoreError(
                f"database {self.url} has tables named {' and '.join(clash)} but is not a "
                "cronwork database; point the store at another database or schema"
            )

    def close(self) -> None:
        """Close the connections; idempotent. A later call opens them again."""
        with self._lock:
            pool, self._pool = self._pool, None
            listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.stop()
        if pool is not None:
            pool.close()

    def watch(self, changed: Callable[[], None]) -> Callable[[], None]:
        """Call ``changed()`` when another process changes what is due (see Watchable).

        Listens on a connection of its own (``LISTEN``, see pglisten.py), opened before this
        returns when the server can be reached; ``close`` stops every watch.
        """
        listener = Listener(
            self._conninfo,
            self.url,
            Q["changes_listen"],
            self._token,
            changed,
            self._connect_seconds,
        )
        listener.start()
        with self._lock:
            self._listeners.append(listener)

        def unwatch() -> None:
            with self._lock:
                if listener not in self._listeners:
                    return
                self._listeners.remove(listener)
            listener.stop()

        return unwatch

    @property
    def listening(self) -> bool:
        """True when every watch has its connection (False during an outage of one)."""
        return all(listener.listening for listener in self._listeners)

    @property
    def closed(self) -> bool:
        """True until ``open`` and again after ``close``."""
        return self._pool is None

    def schema_version(self) -> int:
        """The schema version of the database."""
        row = self._fetch_one(Q["schema_version"])
        return 0 if row is None else int(row["version"])

    def _error(self, exc: psycopg.Error) -> StoreError:
        text = str(exc).strip().replace("\n", " ")
        if isinstance(exc, psycopg.OperationalError):
            # No SQLSTATE: the client lost or could not make the connection; class 08 is a
            # connection exception, 57P an operator's (shutdown, restart, terminated).
            state = exc.sqlstate or ""
            cut = not state or state.startswith(("08", "57P"))
            kind = StoreUnavailable if cut else StoreError
            return kind(
                f"cannot reach PostgreSQL database {self.url}: {text}; check that the server "
                "runs and the URL's host, port, user and database"
            )
        if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
            return StoreError(f"database {self.url} was opened to read only: {text}")
        return StoreError(f"database {self.url}: {text}")

    def _pool_or_open(self) -> ConnectionPool[Connection]:
        pool = self._pool
        if pool is None:
            self.open()
            pool = self._pool
        assert pool is not None
        return pool

    @contextmanager
    def _transaction(self, atomic: bool = True) -> Iterator[Connection]:
        """A pooled connection in one transaction, committed (rolled back on error) at the end.

        Pass ``atomic=False`` for a call of one statement, or of reads that need not see one
        snapshot: each statement then commits on its own and the call saves the round trips
        of BEGIN and COMMIT.
        """
        conn = None
        committing = False
        try:
            with self._lend() as conn:
                if atomic:
                    with conn.transaction():
                        yield conn
                        committing = True
                else:
                    yield conn
        except psycopg.Error as exc:
            if conn is not None and conn.broken and not committing:
                raise _ConnectionCut(self._error(exc).args[0]) from exc
            raise self._error(exc) from exc
        except TimeoutError as exc:  # the pool's PoolTimeout
            raise StoreUnavailable(f"no connection to database {self.url}: {exc}") from exc

    def _retrying(self, work: Callable[[Connection], T], atomic: bool = True) -> T:
        """Run ``work`` in one transaction, again if it lost a deadlock to another node.

        Also again on a new connection when the server had cut the one it used before
        anything was committed (or, with ``atomic=False``, for work that may be repeated:
        reads and writes of whole values).
        """
        for attempt in range(1, _DEADLOCK_TRIES + 1):
            try:
                with self._transaction(atomic) as conn:
                    return work(conn)
            except _ConnectionCut:
                if attempt == _DEADLOCK_TRIES:
                    raise
            except StoreError as exc:
                lost_race = isinstance(exc.__cause__, pg_errors.DeadlockDetected)
                if not lost_race or attempt == _DEADLOCK_TRIES:
                    raise
        raise AssertionError("unreachable")

    def _writing(self, work: Callable[[Connection], T]) -> T:
        return self._retrying(work)

    def _statement(self, work: Callable[[Connection], T]) -> T:
        return self._retrying(work, atomic=False)

    def _reading(self, work: Callable[[Connection], T]) -> T:
        # Outside a transaction block: a read of one statement is one round trip.
        return self._retrying(work, atomic=False)

    # -- clocks (pgclock.py) --------------------------------------------------------------

    def _skew(self, now: datetime | None = None) -> timedelta:
        return self._clock.skew(now)

    def _lease_in(self, moment: datetime | None, skew: timedelta) -> int | None:
        """An engine instant as stored lease micros (server timeline)."""
        return None if moment is None else to_micros(moment + skew)

    def _run(self, row: dict[str, Any], skew: timedelta | None = None) -> Run:
        """The Run of ``row``, its lease back on the engine's clock."""
        lease = row["lease_until"]
        if lease is None:
            return run_from_row(row)
        shift = self._skew() if skew is None else skew
        return run_from_row(row, lease_until=from_micros(lease) - shift)

    def _values(self, run: Run, skew: timedelta) -> list[Any]:
        values = run_values(run)
        values[10] = self._lease_in(run.lease_until, skew)
        values[12] = _text(values[12])
        values[13] = _text(values[13])
        return values

    # -- the dialect's statements -------------------------------------------------------

    def _array(self, values: Sequence[Any]) -> Any:
        return list(values)

    def _put(self, conn: Connection, job: Job, replace: bool) -> None:
        if self._put_job(conn, Q["job_insert"], job) == 0:
            if not replace:
                raise DuplicateJob(f"job {job.id!r} exists already (pass replace=True)")
            self._put_job(conn, Q["job_update"], job)

    def _put_job(self, conn: Connection, query: str, job: Job) -> int:
        """Insert or update ``job``'s row; return the rows written. Too large is a StoreError."""
        row = job_to_row(job)
        try:
            return conn.execute(query, row).rowcount
        except psycopg.DataError as exc:
            raise StoreError(
                f"job {job.id!r}: {too_large(row)} cannot be stored in PostgreSQL ({exc})"
            ) from None

    def _changed(self, conn: Connection) -> None:
        conn.execute(Q["changes_notify"], (self._token,))

    def _lock_jobs(self, conn: Connection) -> None:
        conn.execute(Q["jobs_lock"])

    def _target_params(self, targets: Sequence[tuple[str, str]]) -> tuple[Any, ...]:
        return ([kind for kind, _ in targets], [ref for _, ref in targets])

    def _next_due(self) -> int | None:
        row = self._fetch_one(Q["next_due"])
        values = [] if row is None else [v for v in row.values() if v is not None]
        return min(values) if values else None

    def claim(
        self, now: datetime, horizon: timedelta, node: str, lease: timedelta, limit: int = 5000
    ) -> Claim:
        """Atomically claim due slots and unowned due runs up to ``now + horizon``."""
        self._clock.refresh(lambda: self._retrying(measure_offset, atomic=False))
        # Most claims of a polling engine find nothing due: one read (one round trip) says
        # so, where the claim's transaction takes four. It reads what the claim would lock,
        # so finding nothing is the claim's own answer at that moment.
        upcoming = self._next_due()
        if upcoming is None or from_micros(upcoming) > now + horizon:
            return Claim()
        return super().claim(now, horizon, node, lease, limit)

    def _due_keys(self, conn: Connection, until: int, limit: int) -> list[Any]:
        cursor = conn.cursor(row_factory=tuple_row)
        return cursor.execute(Q["jobs_due_keys"], (until, limit)).fetchall()

    def _insert_claimed_rows(
        self, conn: Connection, slots: list[tuple[str, int]], node: str, now: int, lease: int | None
    ) -> list[Any]:
        job_ids = [job_id for job_id, _ in slots]
        micros = [slot for _, slot in slots]
        cursor = conn.cursor(row_factory=tuple_row)
        params = (node, now, lease, job_ids, micros)
        return cursor.execute(Q["runs_insert_claimed"], params).fetchall()

    def _insert_rows(self, conn: Connection, rows: list[list[Any]]) -> list[Any]:
        cursor = conn.cursor(row_factory=tuple_row)
        return cursor.execute(Q["runs_insert"], (batch(rows),)).fetchall()

    def _set_next(self, conn: Connection, pairs: list[tuple[str, int | None]]) -> None:
        conn.execute(Q["jobs_set_next"], ([i for i, _ in pairs], [at for _, at in pairs]))

    def _adopt(
        self,
        conn: Connection,
        node: str,
        lease_until: datetime,
        until: int,
        room: int,
        skew: timedelta,
    ) -> list[Run]:
        lease = self._lease_in(lease_until, skew)
        params = {"node": node, "lease_until": lease, "until": until, "room": room}
        rows = conn.execute(Q["runs_adopt_due"], params).fetchall()
        rows.sort(key=lambda row: (row["due_at"] or row["scheduled_for"], row["id"]))
        return [self._run(row, skew) for row in rows]

    def _mark_lost(self, conn: Connection, now: datetime, lost: list[Run]) -> None:
        ids = [int(run.id) for run in lost]
        errors = [run.error for run in lost]
        conn.execute(Q["runs_mark_lost"], (to_micros(now), ids, errors))

    def _contended(self, conn: Connection, runs: list[Run], node: str, now: datetime) -> set[str]:
        job_ids = sorted({run.job_id for run in runs})
        cursor = conn.cursor(row_factory=tuple_row)
        rows = cursor.execute(Q["jobs_contended"], (job_ids, node, to_micros(now))).fetchall()
        return {row[0] for row in rows}

    def runs_elsewhere(self, job_ids: Collection[str], node: str, now: datetime) -> list[Run]:
        """Unfinished runs of these jobs owned by nodes other than ``node`` whose lease holds."""
        skew = self._skew(now)
        params = (sorted(job_ids), node, to_micros(now + skew))
        return [self._run(row, skew) for row in self._fetch(Q["runs_elsewhere"], params)]
