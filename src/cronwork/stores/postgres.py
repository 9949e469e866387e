"""The PostgreSQL store: one database shared by any number of scheduler processes.

A claim locks the due job rows with ``FOR UPDATE SKIP LOCKED`` in one short transaction,
inserts their runs and writes each job's next fire time; rows another process is claiming
are skipped rather than waited for. The unique index on runs (job, slot, attempt) makes a
slot fire once whatever races. The schema is versioned (``schema/postgres/*.sql``) and
migrated under ``pg_advisory_xact_lock``, so nodes may open an empty database at once.

Whose clock: the Store protocol hands the store instants of the engine's clock (a fake one
in tests), while leases must be judged on one clock for the whole cluster, the server's, so
that nodes whose clocks drift apart still agree on which lease ran out. Both hold: the store
keeps ``runs.lease_until`` on the server's timeline, and translates each engine instant by
the engine's offset to it. That offset is two measured parts: the engine clock against the
local clock, measured once at the first call that passes ``now`` (zero for the real clock, a
constant for a fake one, so fake time still moves leases exactly as it moves), and the local
clock against the server's ``clock_timestamp()``, measured at open and again every minute,
and adopted when it moved by more than a quarter second (so noise does not shift leases the
store hands back). Lease deadlines written by a node and expiries judged by another thus
compare on the server's clock; lease values read back come in the reader's engine clock.
Every other instant (slots, start and finish times) is the engine's, as in other stores.
"""

from __future__ import annotations

import re
import select
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

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

MISSING_EXTRA = "the PostgreSQL store needs the psycopg driver: pip install 'cronwork[postgres]'"

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.rows import dict_row, tuple_row
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # the extra is not installed
    raise StoreError(MISSING_EXTRA) from exc

Access = Literal["create", "existing", "read"]
T = TypeVar("T")

# pg_advisory_xact_lock key of schema migrations: "cronwork" as a big-endian integer.
_MIGRATION_LOCK = int.from_bytes(b"cronwork", "big")
_SCHEMA = "schema/postgres"
# Deleting in slices keeps each transaction short.
_PRUNE_SLICE = 2000
# How often the local clock's offset to the server's is measured again, and by how much it
# must have moved to be adopted (smaller moves are measurement noise).
_OFFSET_EVERY = 60.0
_OFFSET_STEP = timedelta(milliseconds=250)
# A transaction that lost a deadlock race is tried again this many times.
_DEADLOCK_TRIES = 3


def _load_queries() -> dict[str, str]:
    text = resources.files("cronwork.stores").joinpath(f"{_SCHEMA}/queries.sql")
    queries: dict[str, str] = {}
    name = None
    lines: list[str] = []
    for line in [*text.read_text("utf-8").splitlines(), "-- name: <end>"]:
        if line.startswith("-- name:"):
            if name is not None:
                queries[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = line.split(":", 1)[1].strip(), []
        elif name is not None and not line.startswith("--"):
            lines.append(line)
    return queries


def _load_migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("cronwork.stores").joinpath(_SCHEMA)
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


Q = _load_queries()
MIGRATIONS = _load_migrations()
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


class _ConnectionCut(StoreError):
    """The server cut the connection of a call before it committed anything."""


class PostgresStore:
    """Jobs and runs in a PostgreSQL database, shared safely by many processes.

    ``url`` is a libpq URL (``postgresql://user:password@host:5432/db``; ``postgres://``
    too). ``access`` is what opening may do, as for SqliteStore: ``create`` cronwork's schema
    in a database that lacks it and migrate an older one; only open an ``existing`` cronwork
    database (migrating an older one); or ``read`` one at the current version, in read-only
    transactions, writing nothing. ``pool_size`` bounds the connections this store holds.
    """

    #: Other processes may write this store's database (see the Store protocol).
    shared = True

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
        self._lock = threading.Lock()
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] | None = None
        self._cache = JobCache()
        self._cache_lock = threading.Lock()
        # Engine clock minus local clock; None until a call passes ``now``.
        self._engine_offset: timedelta | None = None
        # Server clock minus local clock, and when (monotonic) it was measured.
        self._server_offset = timedelta(0)
        self._measured_at = float("-inf")

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
                    self._server_offset = self._measure_offset(conn)
                    self._measured_at = time.monotonic()
            except psycopg.Error as exc:
                raise self._error(exc) from None
            pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
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
                check=self._check,
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

    @staticmethod
    def _check(conn: psycopg.Connection[Any]) -> None:
        """Check a pooled connection before lending it; raise if the server cut it.

        An idle connection receives nothing unless the server is ending it, so one that has
        nothing to read is taken as sound without a round trip: checking every call cost as
        much as a one-statement call itself.
        """
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
        if readable:
            ConnectionPool.check_connection(conn)

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
            raise StoreError(
                f"database {self.url} has schema version {version}, but this cronwork knows "
                f"versions up to {SCHEMA_VERSION}: it was written by a newer cronwork. Upgrade "
                "cronwork to open it; the database was not changed"
            )
        return version

    def _tables(self, conn: psycopg.Connection[tuple[Any, ...]]) -> list[str]:
        return [row[0] for row in conn.execute(Q["schema_tables"])]

    def _check_cronwork(self, conn: psycopg.Connection[tuple[Any, ...]], version: int) -> None:
        """Refuse a database without cronwork's schema, or (to read) an older schema."""
        if version == 0:
            names = self._tables(conn)
            conn.rollback()
            tables = f"its tables: {', '.join(names)}" if names else "it has no tables"
            raise StoreError(
                f"database {self.url} is not a cronwork database ({tables}); point the "
                "store at a cronwork database, or create one with `cronwork add` or "
                "`cronwork run`"
            )
        if self.access == "read" and version < SCHEMA_VERSION:
            raise StoreError(
                f"database {self.url} has schema version {version}, older than this "
                f"cronwork's {SCHEMA_VERSION}: a command that writes (such as `cronwork run` "
                "or `cronwork pause`) migrates it; reading commands leave it as it is"
            )

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
        if pool is not None:
            pool.close()

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
            return StoreError(
                f"cannot reach PostgreSQL database {self.url}: {text}; check that the server "
                "runs and the URL's host, port, user and database"
            )
        if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
            return StoreError(f"database {self.url} was opened to read only: {text}")
        return StoreError(f"database {self.url}: {text}")

    def _pool_or_open(self) -> ConnectionPool[psycopg.Connection[dict[str, Any]]]:
        pool = self._pool
        if pool is None:
            self.open()
            pool = self._pool
        assert pool is not None
        return pool

    @contextmanager
    def _transaction(self, atomic: bool = True) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection in one transaction, committed (rolled back on error) at the end.

        Pass ``atomic=False`` for a call of one statement, or of reads that need not see one
        snapshot: each statement then commits on its own and the call saves the round trips
        of BEGIN and COMMIT.
        """
        conn = None
        committing = False
        try:
            with self._pool_or_open().connection() as conn:
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
            raise StoreError(f"no connection to database {self.url}: {exc}") from exc

    def _retrying(
        self, work: Callable[[psycopg.Connection[dict[str, Any]]], T], atomic: bool = True
    ) -> T:
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

    def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of one reading statement, outside a transaction block (one round trip)."""
        return self._retrying(lambda conn: conn.execute(query, params).fetchall(), False)

    def _fetch_one(self, query: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        """The first row of one reading statement, outside a transaction block."""
        return self._retrying(lambda conn: conn.execute(query, params).fetchone(), False)

    # -- clocks -------------------------------------------------------------------------

    @staticmethod
    def _measure_offset(conn: psycopg.Connection[Any]) -> timedelta:
        """The server's clock minus the local clock, from one round trip."""
        before = time.time()
        cursor = conn.cursor(row_factory=tuple_row)
        (server,) = cursor.execute("SELECT clock_timestamp()").fetchone() or (None,)
        after = time.time()
        conn.rollback()
        local = datetime.fromtimestamp((before + after) / 2, UTC)
        return timedelta(0) if server is None else server - local

    def _skew(self, now: datetime | None = None) -> timedelta:
        """What to add to an engine instant to place it on the server's timeline."""
        if self._engine_offset is None:
            if now is None:
                return self._server_offset  # no engine instant seen: take it as the real clock
            self._engine_offset = now - datetime.now(UTC)
        return self._server_offset - self._engine_offset

    def _refresh_offset(self) -> None:
        """Measure the local clock against the server's again, at most once a minute."""
        if time.monotonic() - self._measured_at < _OFFSET_EVERY:
            return
        offset = self._retrying(self._measure_offset, False)
        self._measured_at = time.monotonic()
        if abs(offset - self._server_offset) > _OFFSET_STEP:
            self._server_offset = offset

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

    # -- jobs ---------------------------------------------------------------------------

    def _job(self, row: dict[str, Any]) -> Job:
        with self._cache_lock:
            return self._cache.load(row)

    def _put_job(self, conn: psycopg.Connection[Any], query: str, job: Job) -> int:
        """Insert or update ``job``'s row; return the rows written. Too large is a StoreError."""
        row = job_to_row(job)
        try:
            return conn.execute(query, row).rowcount
        except psycopg.DataError as exc:
            too_large = [
                f"{key} {value}"
                for key, value in row.items()
                if isinstance(value, int) and not -(2**63) <= value < 2**63
            ]
            what = ", ".join(too_large) or "a value"
            raise StoreError(
                f"job {job.id!r}: {what} cannot be stored in PostgreSQL ({exc})"
            ) from None

    def add_job(self, job: Job, *, replace: bool = False) -> Job:
        """Insert ``job``; an existing id raises DuplicateJob unless ``replace``."""
        self._retrying(lambda conn: self._add(conn, job, replace))
        return job

    def _add(self, conn: psycopg.Connection[Any], job: Job, replace: bool) -> None:
        if self._put_job(conn, Q["job_insert"], job) == 0:
            if not replace:
                raise DuplicateJob(f"job {job.id!r} exists already (pass replace=True)")
            self._put_job(conn, Q["job_update"], job)

    def update_job(self, job: Job) -> Job:
        """Overwrite the stored job with the same id (definition and state)."""
        # One statement that overwrites: sent again whole if the connection was cut.
        written = self._retrying(lambda conn: self._put_job(conn, Q["job_update"], job), False)
        if written == 0:
            raise JobNotFound(f"no job {job.id!r}")
        return job

    def remove_job(self, job_id: str) -> None:
        """Delete the job and its unclaimed pending runs; history is kept."""
        self._retrying(lambda conn: self._remove(conn, job_id))

    @staticmethod
    def _remove(conn: psycopg.Connection[Any], job_id: str) -> None:
        if conn.execute(Q["job_delete"], (job_id,)).rowcount == 0:
            raise JobNotFound(f"no job {job_id!r}")
        conn.execute(Q["runs_delete_pending_of_job"], (job_id,))

    def get_job(self, job_id: str) -> Job:
        """Return the stored job."""
        row = self._fetch_one(Q["job_get"], (job_id,))
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return self._job(row)

    def jobs(self) -> list[Job]:
        """Return every stored job, ordered by id; unparsable ones come back broken."""
        rows = self._fetch(Q["jobs_all"])
        return [self._job(row) for row in rows]

    def jobs_page(self, after: str | None = None, limit: int = 100) -> list[Job]:
        """Up to ``limit`` jobs by id whose id comes after ``after``."""
        return [self._job(row) for row in self._fetch(Q["jobs_page"], (after or "", limit))]

    def sync_jobs(self, plan: SyncPlan) -> None:
        """Read every job, apply the writes and removals ``plan`` returns, in one transaction."""
        with self._transaction() as conn:
            conn.execute(Q["jobs_lock"])
            rows = conn.execute(Q["jobs_all"]).fetchall()
            writes, removals = plan([self._job(row) for row in rows])
            for job in writes:
                self._add(conn, job, replace=True)
            for job_id in removals:
                self._remove(conn, job_id)

    def named_targets(self) -> list[tuple[str, str]]:
        """The distinct (kind, ref) of stored jobs whose target is found by name."""
        rows = self._fetch(Q["named_targets"])
        return sorted((row["target_kind"], row["target_ref"]) for row in rows)

    def jobs_to_check(self, targets: Sequence[tuple[str, str]]) -> list[Job]:
        """Broken jobs, and jobs whose named target is one of ``targets``, ordered by id."""
        kinds = [kind for kind, _ in targets]
        refs = [ref for _, ref in targets]
        rows = self._fetch(Q["jobs_to_check"], (kinds, refs))
        return [self._job(row) for row in rows]

    def triggered_jobs(self) -> list[Job]:
        """Jobs with a trigger schedule, without loading every job."""
        rows = self._fetch(Q["jobs_triggered_maybe"])
        jobs = [self._job(row) for row in rows]
        return [job for job in jobs if isinstance(job.schedule, TriggeredSchedule)]

    def next_wakeup(self) -> datetime | None:
        """Earliest instant anything becomes due: a job's next slot or an unowned run."""
        upcoming = self._next_due()
        return None if upcoming is None else from_micros(upcoming)

    def _next_due(self) -> int | None:
        """The micros of next_wakeup, or None."""
        row = self._fetch_one(Q["next_due"])
        values = [] if row is None else [v for v in row.values() if v is not None]
        return min(values) if values else None

    # -- claiming and running -----------------------------------------------------------

    def claim(
        self, now: datetime, horizon: timedelta, node: str, lease: timedelta, limit: int = 5000
    ) -> Claim:
        """Atomically claim due slots and unowned due runs up to ``now + horizon``."""
        self._refresh_offset()
        # Most claims of a polling engine find nothing due: one read (one round trip) says
        # so, where the claim's transaction takes four. It reads what the claim would lock,
        # so finding nothing is the claim's own answer at that moment.
        upcoming = self._next_due()
        if upcoming is None or from_micros(upcoming) > now + horizon:
            return Claim()
        return self._retrying(lambda conn: self._claim(conn, now, horizon, node, lease, limit))

    def _claim(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        now: datetime,
        horizon: timedelta,
        node: str,
        lease: timedelta,
        limit: int,
    ) -> Claim:
        skew = self._skew(now)
        claim = Claim()
        limit_at = now + horizon
        until = to_micros(limit_at)
        lease_until = now + lease
        cursor = conn.cursor(row_factory=tuple_row)
        due = cursor.execute(Q["jobs_due_keys"], (until, limit)).fetchall()
        jobs = self._claimable(conn, due)
        # A full claim takes no slot past the last job it reached (see SqliteStore.claim):
        # when the engine has fallen behind, overdue slots of the jobs further down come first.
        cut = limit_at
        if len(due) >= limit:
            cut = min(limit_at, max(now, from_micros(due[-1][2])))
        on_time_ids: list[str] = []
        on_time_slots_: list[int | None] = []
        planned: list[Run] = []
        missed: list[Run] = []
        next_ids: list[str] = []
        next_times: list[int | None] = []
        broken: list[tuple[str, str]] = []
        for job_id, _rev, next_micros in due:
            if len(on_time_ids) + len(planned) >= limit:
                break
            job = jobs[job_id]
            if job.broken is not None:
                # The schedule no longer parses: set the job aside instead of selecting it
                # again on every claim.
                broken.append((job.broken, job_id))
                continue
            slot = from_micros(next_micros)
            next_at: datetime | None
            runs: list[Run] = []
            late: list[Run] = []
            slots: list[datetime] = []
            try:
                if slot < now and slot < now - job.misfire_grace:
                    if job.next_run_at != slot:
                        job = advanced(job, next_run_at=slot)
                    runs, late, next_at = plan_claim(job, now, horizon, node, lease)
                else:
                    slots, next_at = on_time_slots(job.schedule, slot, cut)
                following = to_micros(next_at)
            except Exception as exc:
                failed, next_at = unplannable(job, slot, now, exc)
                runs, late, slots = [], [failed], []
                following = to_micros(next_at)
            for later in slots:
                on_time_ids.append(job_id)
                on_time_slots_.append(to_micros(later))
            planned += runs
            missed += late
            next_ids.append(job_id)
            next_times.append(following)
            claim.jobs[job_id] = jobs[job_id]
        claim.runs = self._insert_claimed(
            conn, on_time_ids, on_time_slots_, node, now, lease_until, skew
        )
        claim.runs += self._insert(conn, planned, skew)
        claim.missed = self._insert(conn, missed, skew)
        if next_ids:
            conn.execute(Q["jobs_set_next"], (next_ids, next_times))
        if broken:
            cursor.executemany(Q["job_set_broken"], broken)
        room = limit - len(claim.runs)
        if room > 0:
            params = (node, self._lease_in(lease_until, skew), until, room)
            rows = conn.execute(Q["runs_adopt_due"], params).fetchall()
            rows.sort(key=lambda row: (row["due_at"] or row["scheduled_for"], row["id"]))
            claim.runs += [self._run(row, skew) for row in rows]
        return claim

    def _claimable(
        self, conn: psycopg.Connection[dict[str, Any]], due: Sequence[tuple[Any, ...]]
    ) -> dict[str, Job]:
        """The definitions of the due jobs: cached ones as they are, the others read in full."""
        jobs: dict[str, Job] = {}
        missing = []
        with self._cache_lock:
            for job_id, rev, _next in due:
                job = self._cache.claimable(job_id, rev)
                if job is None:
                    missing.append(job_id)
                else:
                    jobs[job_id] = job
        if missing:
            for row in conn.execute(Q["jobs_by_ids"], (missing,)).fetchall():
                jobs[row["id"]] = self._job(row)
        return jobs

    def _insert_claimed(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        job_ids: list[str],
        slots: list[int | None],
        node: str,
        now: datetime,
        lease_until: datetime,
        skew: timedelta,
    ) -> list[Run]:
        """Insert the runs of on-time slots; return those inserted (an existing slot is not)."""
        if not job_ids:
            return []
        params = (node, to_micros(now), self._lease_in(lease_until, skew), job_ids, slots)
        cursor = conn.cursor(row_factory=tuple_row)
        rows = cursor.execute(Q["runs_insert_claimed"], params).fetchall()
        runs = []
        for run_id, job_id, micros in sorted(rows, key=lambda row: row[0]):
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

    def _insert(
        self, conn: psycopg.Connection[Any], runs: Sequence[Run], skew: timedelta
    ) -> list[Run]:
        """Insert ``runs``, skipping existing slots; return those inserted, with their ids."""
        if not runs:
            return []
        rows = [self._values(run, skew) for run in runs]
        cursor = conn.cursor(row_factory=tuple_row)
        ids = {
            (job_id, slot, attempt): run_id
            for run_id, job_id, slot, attempt in cursor.execute(
                Q["runs_insert"], (batch(rows),)
            ).fetchall()
        }
        inserted = []
        for run, row in zip(runs, rows, strict=True):
            run_id = ids.pop((run.job_id, row[2], run.attempt), None)
            if run_id is not None:
                inserted.append(with_id(run, id=str(run_id)))
        return inserted

    def add_run(self, run: Run) -> Run | None:
        """Insert ``run`` with a new id; None if (job_id, scheduled_for, attempt) exists."""
        skew = self._skew()
        inserted = self._retrying(lambda conn: self._insert(conn, [run], skew))
        return inserted[0] if inserted else None

    def save_runs(self, runs: Sequence[Run]) -> None:
        """Write the mutable fields of existing runs in one transaction."""
        if not runs:
            return
        skew = self._skew()
        # The last write of a run wins; rows are updated in id order, as every writer does,
        # so two nodes saving overlapping runs cannot deadlock.
        latest = {run.id: run for run in runs}
        ordered = sorted(latest.values(), key=lambda run: int(run.id))
        document = batch([self._values(run, skew) for run in ordered])
        self._retrying(lambda conn: conn.execute(Q["runs_save"], (document,)), atomic=False)

    def get_run(self, run_id: str) -> Run:
        """Return one run."""
        key = self._run_key(run_id)
        row = self._fetch_one(Q["run_get"], (key,))
        if row is None:
            raise RunNotFound(f"no run {run_id!r}")
        return self._run(row)

    @staticmethod
    def _run_key(run_id: str) -> int:
        try:
            key = int(run_id)
        except (TypeError, ValueError):
            raise RunNotFound(f"no run {run_id!r}") from None
        if not 0 < key < 2**63:
            raise RunNotFound(f"no run {run_id!r}")
        return key

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
        rows = self._fetch(query, params)
        return [self._run(row) for row in rows]

    def runs_page(self, wanted: RunFilter, limit: int = 100) -> list[Run]:
        """Up to ``limit`` runs matching ``wanted``, newest first (see ``stores/paging.py``)."""
        query, params = page_query(wanted, limit, "%s")
        return [self._run(row) for row in self._fetch(query, params)]

    def last_finished(self, job_id: str, status: RunStatus | None = None) -> Run | None:
        """The run of ``job_id`` that finished last (optionally with ``status``)."""
        if status is None:
            row = self._fetch_one(Q["run_last_finished"], (job_id,))
        else:
            row = self._fetch_one(Q["run_last_finished_with_status"], (job_id, status.value))
        return None if row is None else self._run(row)

    def renew_leases(self, node: str, until: datetime) -> int:
        """Extend the lease of every unfinished run owned by ``node``; return how many."""
        lease = self._lease_in(until, self._skew())
        renew = Q["runs_renew"]
        return self._retrying(lambda conn: conn.execute(renew, (lease, node)).rowcount, False)

    def owners(self) -> list[str]:
        """The nodes that own unfinished runs."""
        rows = self._fetch(Q["run_owners"])
        return sorted(row["node"] for row in rows)

    def unfinished_runs(self, node: str) -> list[Run]:
        """The unfinished runs owned by ``node``."""
        rows = self._fetch(Q["runs_unfinished_of_node"], (node,))
        return [self._run(row) for row in rows]

    def expire_leases(self, now: datetime, dead: Collection[str] = ()) -> list[Run]:
        """Mark unfinished owned runs whose lease ran out, or of a dead node, as lost."""
        skew = self._skew(now)
        return self._retrying(lambda conn: self._expire(conn, now, sorted(dead), skew))

    def _expire(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        now: datetime,
        dead: list[str],
        skew: timedelta,
    ) -> list[Run]:
        rows = conn.execute(Q["runs_expired"], (to_micros(now + skew), dead)).fetchall()
        lost = []
        for row in rows:
            run = self._run(row, skew)
            assert run.node is not None
            error = lost_error(run.node, dead)
            lost.append(run.replace(status=RunStatus.LOST, finished_at=now, error=error))
        if not lost:
            return []
        ids = [int(run.id) for run in lost]
        errors = [run.error for run in lost]
        conn.execute(Q["runs_mark_lost"], (to_micros(now), ids, errors))
        job_ids = sorted({run.job_id for run in lost})
        jobs = {row["id"]: self._job(row) for row in conn.execute(Q["jobs_by_ids"], (job_ids,))}
        retries = []
        for run in lost:
            job = jobs.get(run.job_id)
            retry = next_attempt(run, job, now) if job is not None else None
            if retry is not None:
                retries.append(retry)
        self._insert(conn, retries, skew)
        return lost

    def request_cancel(self, run_id: str, now: datetime) -> Run:
        """Ask for a run to be cancelled; an unowned scheduled run is cancelled at once."""
        key = self._run_key(run_id)
        with self._transaction() as conn:
            row = conn.execute(Q["run_lock"], (key,)).fetchone()
            if row is None:
                raise RunNotFound(f"no run {run_id!r}")
            run = self._run(row)
            if run.status.finished:
                return run
            if run.status is RunStatus.SCHEDULED and run.node is None:
                conn.execute(Q["run_cancel_now"], (to_micros(now), key))
            else:
                conn.execute(Q["run_flag_cancel"], (key,))
            row = conn.execute(Q["run_get"], (key,)).fetchone()
        assert row is not None
        return self._run(row)

    def cancel_requests(self, node: str) -> list[Run]:
        """Unfinished runs owned by ``node`` that someone asked to cancel."""
        rows = self._fetch(Q["runs_cancel_requests"], (node,))
        return [self._run(row) for row in rows]

    def prune(
        self, now: datetime, keep_last: int | None = None, older_than: timedelta | None = None
    ) -> int:
        """Delete finished runs beyond the newest ``keep_last`` per job or older than the age.

        Deletes in short transactions so claims of other processes can interleave.
        """
        doomed: set[int] = set()
        with self._transaction() as conn:
            if keep_last is not None:
                rows = conn.execute(Q["prune_beyond_count"], (keep_last,)).fetchall()
                doomed.update(row["id"] for row in rows)
            if older_than is not None:
                cutoff = to_micros(now - older_than)
                rows = conn.execute(Q["prune_older_than"], (cutoff,)).fetchall()
                doomed.update(row["id"] for row in rows)
        ids = sorted(doomed)
        removed = 0
        for start in range(0, len(ids), _PRUNE_SLICE):
            chunk = ids[start : start + _PRUNE_SLICE]
            with self._transaction() as conn:
                removed += conn.execute(Q["prune_delete"], (chunk,)).rowcount
        return removed
