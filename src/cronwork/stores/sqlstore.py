"""What the SQL stores (SQLite, PostgreSQL) do alike, on top of their own dialect.

`SqlStore` holds every Store method whose logic does not depend on the database: decoding
rows into jobs and runs, planning a claim, the shapes of job writes, run queries, lease
expiry with its retries, cancel requests, pruning. A dialect subclass supplies its SQL
(``Q``, loaded from its ``queries.sql`` with `load_queries`), its connections and
transactions (`_transaction`, `_reading`, and `_writing` / `_statement` where it retries),
and the few statements whose parameters or strategy differ (arrays against JSON batches,
``RETURNING`` against reading back new rows). The queries of both dialects take their
positional parameters in the same order, so one call serves both.

A store may keep instants on another timeline than the engine's (PostgreSQL keeps leases on
the server's clock): `_skew` is what to add to an engine instant, zero unless overridden.

`SqlStore` is over 400 lines because it is the Store protocol itself, method by method, for
both dialects; the claim's planning lives apart in `dueplan.py`.
"""

from __future__ import annotations

import functools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from cronwork.copiers import claimed_on_time, with_id
from cronwork.errors import JobNotFound, RunNotFound, StoreError
from cronwork.jobs import Job
from cronwork.runs import Run, RunBrief, RunStatus
from cronwork.stores.base import Claim, SyncPlan, lost_error, next_attempt
from cronwork.stores.dueplan import plan_due
from cronwork.stores.paging import RunFilter, page_query
from cronwork.stores.rows import (
    JobCache,
    batch,
    brief_from_row,
    from_micros,
    run_from_row,
    run_values,
    to_micros,
)
from cronwork.timing.triggers import TriggeredSchedule

T = TypeVar("T")
ZERO = timedelta(0)
# Deleting in slices keeps each write short, so claims of other processes interleave.
PRUNE_SLICE = 2000


class Cursor(Protocol):
    """What the stores read of a cursor (sqlite3's and psycopg's alike)."""

    @property
    def rowcount(self) -> int:
        """The rows the statement changed."""
        ...

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        ...


class Connection(Protocol):
    """What the shared code asks of a connection: run one statement."""

    def execute(self, query: Any, params: Any = ..., /) -> Cursor:
        """Run ``query`` with positional or named ``params``."""
        ...


C = TypeVar("C", bound=Connection)


def load_queries(folder: str) -> dict[str, str]:
    """The named queries of ``folder``/queries.sql: each follows a ``-- name: <name>`` line."""
    text = resources.files("cronwork.stores").joinpath(f"{folder}/queries.sql")
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


def load_migrations(folder: str) -> list[tuple[int, str, str]]:
    """The numbered migrations of ``folder`` (``0001_initial.sql``, ...) in order."""
    found = []
    for entry in resources.files("cronwork.stores").joinpath(folder).iterdir():
        prefix = entry.name.partition("_")[0]
        if entry.name.endswith(".sql") and prefix.isdigit():
            found.append((int(prefix), entry.name, entry.read_text("utf-8")))
    found.sort()
    for index, (number, name, _) in enumerate(found, start=1):
        if number != index:
            raise RuntimeError(f"schema migrations are not numbered 1, 2, ...: {name}")
    return found


def newer_schema(where: str, version: int, known: int, what: str) -> StoreError:
    """The refusal of a database ``where`` written by a newer cronwork (``what``: file...)."""
    return StoreError(
        f"database {where} has schema version {version}, but this cronwork knows versions up "
        f"to {known}: it was written by a newer cronwork. Upgrade cronwork to open it; the "
        f"{what} was not changed"
    )


def not_cronwork(where: str, names: Sequence[str], fresh: str) -> StoreError:
    """The refusal of a database ``where`` without cronwork's tables (it has ``names``)."""
    tables = f"its tables: {', '.join(names)}" if names else "it has no tables"
    return StoreError(
        f"database {where} is not a cronwork database ({tables}); point the store at a "
        f"cronwork database, or {fresh} with `cronwork add` or `cronwork run`"
    )


def older_schema(where: str, version: int, known: int) -> StoreError:
    """The refusal to read a database ``where`` of an older schema, which reading keeps."""
    return StoreError(
        f"database {where} has schema version {version}, older than this cronwork's "
        f"{known}: a command that writes (such as `cronwork run` or `cronwork pause`) "
        "migrates it; reading commands leave it as it is"
    )


def too_large(row: dict[str, Any], bits: int = 64) -> str:
    """The integer values of ``row`` beyond a signed ``bits``-bit column, for an error."""
    found = [
        f"{key} {value}"
        for key, value in row.items()
        if isinstance(value, int) and not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
    ]
    return ", ".join(found) or "a value"


def run_key(run_id: str) -> int:
    """The database key of a run id; an id that cannot be one is RunNotFound."""
    try:
        key = int(run_id)
    except (TypeError, ValueError):
        raise RunNotFound(f"no run {run_id!r}") from None
    if not 0 < key < 2**63:
        raise RunNotFound(f"no run {run_id!r}")
    return key


class SqlStore(ABC, Generic[C]):
    """The Store methods both SQL stores share; subclasses supply their dialect."""

    #: Other processes (the CLI, other nodes) may write the database (see Store.shared).
    shared = True
    #: The dialect's named queries.
    Q: ClassVar[dict[str, str]]
    #: The dialect's placeholder, for the statements built from fragments (stores/paging.py).
    MARK: ClassVar[str]

    url: str

    def __init__(self) -> None:
        self._cache = JobCache()
        self._cache_lock = threading.Lock()

    # -- the dialect --------------------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[C]:
        """A connection in one write transaction, committed at the end (rolled back on error)."""
        ...

    @abstractmethod
    def _reading(self, work: Callable[[C], T]) -> T:
        """``work(conn)`` for reads; it may be run again on a new connection."""
        ...

    def _writing(self, work: Callable[[C], T]) -> T:
        """``work(conn)`` in one write transaction; a dialect may run it again."""
        with self._transaction() as conn:
            return work(conn)

    def _statement(self, work: Callable[[C], T]) -> T:
        """``work(conn)`` of one statement (or of writes that may be repeated)."""
        return self._writing(work)

    def _array(self, values: Sequence[Any]) -> Any:
        """A list as one statement parameter (a JSON batch unless the dialect has arrays)."""
        return batch(values)

    @abstractmethod
    def _due_keys(self, conn: C, until: int, limit: int) -> list[tuple[str, int, int]]:
        """(id, rev, next_run_at) of the due jobs, locked for the claim."""
        ...

    @abstractmethod
    def _insert_claimed_rows(
        self, conn: C, slots: list[tuple[str, int]], node: str, now: int, lease: int | None
    ) -> Iterable[tuple[Any, str, int]]:
        """Insert runs of on-time ``slots``; return (id, job id, slot) of those inserted."""
        ...

    @abstractmethod
    def _insert_rows(self, conn: C, rows: list[list[Any]]) -> Iterable[tuple[Any, str, int, int]]:
        """Insert run rows, skipping existing slots; (id, job id, slot, attempt) of new ones."""
        ...

    @abstractmethod
    def _set_next(self, conn: C, pairs: list[tuple[str, int | None]]) -> None:
        """Write each (job id, next_run_at)."""
        ...

    @abstractmethod
    def _adopt(
        self, conn: C, node: str, lease_until: datetime, until: int, room: int, skew: timedelta
    ) -> list[Run]:
        """Take up to ``room`` unowned runs due by ``until`` for ``node``, in due order."""
        ...

    @abstractmethod
    def _mark_lost(self, conn: C, now: datetime, lost: list[Run]) -> None:
        """Write the lost status, finish time and error of ``lost``."""
        ...

    @abstractmethod
    def _put(self, conn: C, job: Job, replace: bool) -> None:
        """Insert ``job``, or (with ``replace``) overwrite it; else DuplicateJob."""
        ...

    @abstractmethod
    def _put_job(self, conn: C, query: str, job: Job) -> int:
        """Run ``query`` (insert or update) with ``job``'s row; the rows written."""
        ...

    def _lock_jobs(self, conn: C) -> None:
        """Keep other writers off the jobs until the transaction ends (sync_jobs)."""

    def _target_params(self, targets: Sequence[tuple[str, str]]) -> tuple[Any, ...]:
        """The parameters of jobs_to_check."""
        return (batch([list(pair) for pair in targets]),)

    @abstractmethod
    def _next_due(self) -> int | None:
        """The micros of next_wakeup, or None."""
        ...

    def _skew(self, now: datetime | None = None) -> timedelta:
        """What to add to an engine instant to place it on the store's lease timeline."""
        return ZERO

    def _lease_in(self, moment: datetime | None, skew: timedelta) -> int | None:
        """An engine instant as stored lease micros."""
        return None if moment is None else to_micros(moment + skew)

    def _run(self, row: Any, skew: timedelta | None = None) -> Run:
        """The Run of ``row``, its lease on the engine's clock."""
        return run_from_row(row)

    def _values(self, run: Run, skew: timedelta) -> list[Any]:
        """The row of ``run`` in the order of rows.RUN_COLUMNS."""
        return run_values(run)

    def _changed(self, conn: C) -> None:
        """Tell other processes, once ``conn`` commits, that what is due may have changed."""

    # -- reading ------------------------------------------------------------------------

    def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one reading statement."""
        return self._reading(lambda conn: conn.execute(query, params).fetchall())

    def _fetch_one(self, query: str, params: Sequence[Any] = ()) -> Any:
        """The first row of one reading statement, or None."""
        return self._reading(lambda conn: conn.execute(query, params).fetchone())

    def _job(self, row: Any) -> Job:
        with self._cache_lock:
            return self._cache.load(row)

    def _jobs_by_ids(self, conn: C, ids: Sequence[str]) -> list[Any]:
        return conn.execute(self.Q["jobs_by_ids"], (self._array(ids),)).fetchall()

    # -- jobs ---------------------------------------------------------------------------

    def add_job(self, job: Job, *, replace: bool = False) -> Job:
        """Insert ``job``; an existing id raises DuplicateJob unless ``replace``."""
        self._writing(lambda conn: self._add(conn, job, replace))
        return job

    def _add(self, conn: C, job: Job, replace: bool) -> None:
        self._put(conn, job, replace)
        self._changed(conn)

    def update_job(self, job: Job) -> Job:
        """Overwrite the stored job with the same id (definition and state)."""
        # One statement that overwrites: sent again whole if the connection was cut.
        if self._statement(lambda conn: self._update(conn, job)) == 0:
            raise JobNotFound(f"no job {job.id!r}")
        return job

    def _update(self, conn: C, job: Job) -> int:
        written = self._put_job(conn, self.Q["job_update"], job)
        if written:
            self._changed(conn)
        return written

    def remove_job(self, job_id: str) -> None:
        """Delete the job and its unclaimed pending runs; history is kept."""
        self._writing(lambda conn: self._remove(conn, job_id))

    def _remove(self, conn: C, job_id: str) -> None:
        if conn.execute(self.Q["job_delete"], (job_id,)).rowcount == 0:
            raise JobNotFound(f"no job {job_id!r}")
        conn.execute(self.Q["runs_delete_pending_of_job"], (job_id,))
        self._changed(conn)

    def get_job(self, job_id: str) -> Job:
        """Return the stored job."""
        row = self._fetch_one(self.Q["job_get"], (job_id,))
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return self._job(row)

    def jobs(self) -> list[Job]:
        """Return every stored job, ordered by id; unparsable ones come back broken."""
        return [self._job(row) for row in self._fetch(self.Q["jobs_all"])]

    def jobs_page(self, after: str | None = None, limit: int = 100) -> list[Job]:
        """Up to ``limit`` jobs by id whose id comes after ``after``.

        Reads the page's keys and states first, then whole rows only for the jobs whose
        definition is not cached at its revision: a page is listed again and again (the
        API, the dashboard), and reading every column of every row was most of its cost.
        """
        keys = self._fetch(self.Q["jobs_page_keys"], (after or "", limit))
        with self._cache_lock:
            known = [self._cache.known(row) for row in keys]
        missing = [row["id"] for row, job in zip(keys, known, strict=True) if job is None]
        if not missing:
            return [job for job in known if job is not None]
        rows = {
            row["id"]: row for row in self._fetch(self.Q["jobs_by_ids"], (self._array(missing),))
        }
        page = []
        for row, job in zip(keys, known, strict=True):
            if job is None:
                full = rows.get(row["id"])
                if full is None:
                    continue  # removed between the two reads
                job = self._job(full)
            page.append(job)
        return page

    def job_counts(self) -> dict[str, int]:
        """How many jobs are active, paused and broken (see cronwork.metrics.CountsJobs)."""
        row = self._fetch_one(self.Q["job_counts"])
        return {state: int(row[state] or 0) for state in ("active", "paused", "broken")}

    def running_count(self) -> int:
        """How many runs are running on any node (see cronwork.metrics.CountsRunning)."""
        return int(self._fetch_one(self.Q["runs_running_count"])["running"])

    def sync_jobs(self, plan: SyncPlan) -> None:
        """Read every job, apply the writes and removals ``plan`` returns, in one transaction."""
        with self._transaction() as conn:
            self._lock_jobs(conn)
            rows = conn.execute(self.Q["jobs_all"]).fetchall()
            writes, removals = plan([self._job(row) for row in rows])
            for job in writes:
                self._add(conn, job, replace=True)
            for job_id in removals:
                self._remove(conn, job_id)

    def named_targets(self) -> list[tuple[str, str]]:
        """The distinct (kind, ref) of stored jobs whose target is found by name."""
        rows = self._fetch(self.Q["named_targets"])
        return sorted((row["target_kind"], row["target_ref"]) for row in rows)

    def jobs_to_check(self, targets: Sequence[tuple[str, str]]) -> list[Job]:
        """Broken jobs, and jobs whose named target is one of ``targets``, ordered by id."""
        rows = self._fetch(self.Q["jobs_to_check"], self._target_params(targets))
        return [self._job(row) for row in rows]

    def triggered_jobs(self) -> list[Job]:
        """Jobs with a trigger schedule, without loading every job."""
        jobs = [self._job(row) for row in self._fetch(self.Q["jobs_triggered_maybe"])]
        return [job for job in jobs if isinstance(job.schedule, TriggeredSchedule)]

    def next_wakeup(self) -> datetime | None:
        """Earliest instant anything becomes due: a job's next slot or an unowned run."""
        upcoming = self._next_due()
        return None if upcoming is None else from_micros(upcoming)

    # -- claiming -----------------------------------------------------------------------

    def claim(
        self, now: datetime, horizon: timedelta, node: str, lease: timedelta, limit: int = 5000
    ) -> Claim:
        """Atomically claim due slots and unowned due runs up to ``now + horizon``."""
        return self._writing(lambda conn: self._claim(conn, now, horizon, node, lease, limit))

    def _claim(
        self, conn: C, now: datetime, horizon: timedelta, node: str, lease: timedelta, limit: int
    ) -> Claim:
        skew = self._skew(now)
        lease_until = now + lease
        until = to_micros(now + horizon)
        due = self._due_keys(conn, until, limit)
        plan = plan_due(due, self._claimable(conn, due), now, horizon, node, lease, limit)
        for error, job_id in plan.broken:
            conn.execute(self.Q["job_set_broken"], (error, job_id))
        claim = Claim(jobs=plan.jobs)
        claim.runs = self._insert_claimed(conn, plan.on_time, node, now, lease_until, skew)
        claim.runs += self._insert(conn, plan.planned, skew)
        claim.missed = self._insert(conn, plan.missed, skew)
        if plan.next_times:
            self._set_next(conn, plan.next_times)
        room = limit - len(claim.runs)
        if room > 0:
            claim.runs += self._adopt(conn, node, lease_until, until, room, skew)
        if claim.runs:
            claim.contended = self._contended(conn, claim.runs, node, now + skew)
        return claim

    def _contended(self, conn: C, runs: list[Run], node: str, now: datetime) -> set[str]:
        """The job ids of ``runs`` with unfinished runs of other live nodes (none by default:
        a clustered dialect overrides it)."""
        return set()

    def _claimable(self, conn: C, due: Sequence[tuple[str, int, int]]) -> dict[str, Job]:
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
            for row in self._jobs_by_ids(conn, missing):
                jobs[row["id"]] = self._job(row)
        return jobs

    def _insert_claimed(
        self,
        conn: C,
        slots: list[tuple[str, int]],
        node: str,
        now: datetime,
        lease_until: datetime,
        skew: timedelta,
    ) -> list[Run]:
        """Insert the runs of on-time slots; return those inserted (an existing slot is not)."""
        if not slots:
            return []
        lease = self._lease_in(lease_until, skew)
        rows = self._insert_claimed_rows(conn, slots, node, to_micros(now), lease)
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

    def _insert(self, conn: C, runs: Sequence[Run], skew: timedelta) -> list[Run]:
        """Insert ``runs``, skipping existing slots; return those inserted, with their ids."""
        if not runs:
            return []
        rows = [self._values(run, skew) for run in runs]
        ids = {
            (job_id, slot, attempt): run_id
            for run_id, job_id, slot, attempt in self._insert_rows(conn, rows)
        }
        inserted = []
        for run, row in zip(runs, rows, strict=True):
            run_id = ids.pop((run.job_id, row[2], run.attempt), None)
            if run_id is not None:
                inserted.append(with_id(run, id=str(run_id)))
        return inserted

    # -- runs ---------------------------------------------------------------------------

    def add_run(self, run: Run) -> Run | None:
        """Insert ``run`` with a new id; None if (job_id, scheduled_for, attempt) exists."""
        skew = self._skew()
        inserted = self._writing(lambda conn: self._add_run(conn, run, skew))
        return inserted[0] if inserted else None

    def _add_run(self, conn: C, run: Run, skew: timedelta) -> list[Run]:
        inserted = self._insert(conn, [run], skew)
        # A run someone asked for is news to the other nodes; a retry or a triggered run is
        # taken by the node that inserts it.
        if inserted and run.trigger == "manual" and not run.status.finished and run.node is None:
            self._changed(conn)
        return inserted

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
        self._statement(lambda conn: conn.execute(self.Q["runs_save"], (document,)))

    def get_run(self, run_id: str) -> Run:
        """Return one run."""
        row = self._fetch_one(self.Q["run_get"], (run_key(run_id),))
        if row is None:
            raise RunNotFound(f"no run {run_id!r}")
        return self._run(row)

    def runs(
        self, job_id: str | None = None, status: RunStatus | None = None, limit: int = 100
    ) -> list[Run]:
        """Return runs, newest slot first, optionally of one job and/or one status."""
        params: tuple[object, ...]
        if job_id is not None and status is not None:
            query, params = self.Q["runs_of_job_with_status"], (job_id, status.value, limit)
        elif job_id is not None:
            query, params = self.Q["runs_of_job"], (job_id, limit)
        elif status is not None:
            query, params = self.Q["runs_with_status"], (status.value, limit)
        else:
            query, params = self.Q["runs_all"], (limit,)
        return [self._run(row) for row in self._fetch(query, params)]

    def runs_page(self, wanted: RunFilter, limit: int = 100) -> list[Run]:
        """Up to ``limit`` runs matching ``wanted``, newest first (see ``stores/paging.py``)."""
        query, params = page_query(wanted, limit, self.MARK)
        return [self._run(row) for row in self._fetch(query, params)]

    def newest_briefs(self, job_ids: Sequence[str]) -> dict[str, RunBrief]:
        """The newest run of each job in ``job_ids`` that has one, in brief, in one statement."""
        if not job_ids:
            return {}
        rows = self._fetch(self.Q["runs_newest_of_jobs"], (self._array(list(job_ids)),))
        return {row["job_id"]: brief_from_row(row) for row in rows}

    def last_finished(self, job_id: str, status: RunStatus | None = None) -> Run | None:
        """The run of ``job_id`` that finished last (optionally with ``status``)."""
        if status is None:
            row = self._fetch_one(self.Q["run_last_finished"], (job_id,))
        else:
            query = self.Q["run_last_finished_with_status"]
            row = self._fetch_one(query, (job_id, status.value))
        return None if row is None else self._run(row)

    def renew_leases(self, node: str, until: datetime) -> int:
        """Extend the lease of every unfinished run owned by ``node``; return how many."""
        lease = self._lease_in(until, self._skew())
        renew = self.Q["runs_renew"]
        return self._statement(lambda conn: conn.execute(renew, (lease, node)).rowcount)

    def owners(self) -> list[str]:
        """The nodes that own unfinished runs."""
        return sorted(row["node"] for row in self._fetch(self.Q["run_owners"]))

    def unfinished_runs(self, node: str) -> list[Run]:
        """The unfinished runs owned by ``node``."""
        rows = self._fetch(self.Q["runs_unfinished_of_node"], (node,))
        return [self._run(row) for row in rows]

    def expire_leases(self, now: datetime, dead: Collection[str] = ()) -> list[Run]:
        """Mark unfinished owned runs whose lease ran out, or of a dead node, as lost."""
        skew = self._skew(now)
        return self._writing(lambda conn: self._expire(conn, now, sorted(dead), skew))

    def _expire(self, conn: C, now: datetime, dead: list[str], skew: timedelta) -> list[Run]:
        params = (to_micros(now + skew), self._array(dead))
        lost = []
        for row in conn.execute(self.Q["runs_expired"], params).fetchall():
            run = self._run(row, skew)
            assert run.node is not None
            error = lost_error(run.node, dead)
            lost.append(run.replace(status=RunStatus.LOST, finished_at=now, error=error))
        if not lost:
            return []
        self._mark_lost(conn, now, lost)
        job_ids = sorted({run.job_id for run in lost})
        jobs = {row["id"]: self._job(row) for row in self._jobs_by_ids(conn, job_ids)}
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
        key = run_key(run_id)
        row = self._writing(lambda conn: self._cancel(conn, key, now))
        if row is None:
            raise RunNotFound(f"no run {run_id!r}")
        return self._run(row)

    def _cancel(self, conn: C, key: int, now: datetime) -> Any:
        row = conn.execute(self.Q["run_lock"], (key,)).fetchone()
        if row is None:
            return None
        run = self._run(row)
        if run.status.finished:
            return row
        if run.status is RunStatus.SCHEDULED and run.node is None:
            conn.execute(self.Q["run_cancel_now"], (to_micros(now), key))
        else:
            conn.execute(self.Q["run_flag_cancel"], (key,))
            self._changed(conn)
        return conn.execute(self.Q["run_get"], (key,)).fetchone()

    def cancel_requests(self, node: str) -> list[Run]:
        """Unfinished runs owned by ``node`` that someone asked to cancel."""
        rows = self._fetch(self.Q["runs_cancel_requests"], (node,))
        return [self._run(row) for row in rows]

    def prune(
        self, now: datetime, keep_last: int | None = None, older_than: timedelta | None = None
    ) -> int:
        """Delete finished runs beyond the newest ``keep_last`` per job or older than the age.

        Deletes in short transactions so claims of other processes can interleave.
        """
        doomed: set[int] = set()
        if keep_last is not None:
            rows = self._fetch(self.Q["prune_beyond_count"], (keep_last,))
            doomed.update(row["id"] for row in rows)
        if older_than is not None:
            cutoff = to_micros(now - older_than)
            rows = self._fetch(self.Q["prune_older_than"], (cutoff,))
            doomed.update(row["id"] for row in rows)
        removed = 0
        for chunk in _slices(sorted(doomed), PRUNE_SLICE):
            removed += self._statement(functools.partial(self._delete_finished, chunk))
        return removed

    def _delete_finished(self, ids: list[int], conn: C) -> int:
        return conn.execute(self.Q["prune_delete"], (self._array(ids),)).rowcount


def _slices(values: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
