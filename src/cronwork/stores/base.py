"""The Store protocol: the single source of truth for jobs and runs.

Every store (memory, SQLite) implements it and passes the same contract tests in
``tests/stores``. The key operation is ``claim``: atomically take the due slots of many jobs,
write each job's following fire time and insert one run per (job, slot), owned by a node under
a lease. ``(job_id, scheduled_for, attempt)`` is unique in every store, so a slot fires once
even when several processes claim from one database.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from cronwork.jobs import Job
from cronwork.runs import Run, RunBrief, RunStatus
from cronwork.stores.paging import RunFilter
from cronwork.stores.slots import retry_delay

logger = logging.getLogger("cronwork.stores")


@dataclass(slots=True)
class Claim:
    """What one claim took: runs to execute now or soon, and slots recorded as missed.

    ``jobs`` holds the definitions of the jobs whose slots the claim planned, so the engine
    need not read them again. Their ``next_run_at`` may predate the claim (a store may keep
    it apart to avoid copying every job on every claim): ``get_job`` has the current one.
    Runs adopted from other sources (manual triggers, retries) may have no entry.
    """

    runs: list[Run] = field(default_factory=list)
    missed: list[Run] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    #: Ids of the jobs of ``runs`` that had unfinished runs on other nodes at the claim (a
    #: `Clustered` store fills it): their overlap must be checked again when they fall due.
    contended: set[str] = field(default_factory=set)


#: What ``Store.sync_jobs`` asks of its plan: given every stored job, return the jobs to write
#: (added, or replacing the job with their id) and the ids of the jobs to remove.
SyncPlan = Callable[[list[Job]], tuple[Iterable[Job], Iterable[str]]]


@runtime_checkable
class Store(Protocol):
    """Persistence for jobs and runs; every method is thread-safe and synchronous.

    Methods that name one job or run raise JobNotFound / RunNotFound when it does not exist.
    """

    url: str
    #: True when other processes (the CLI, other nodes) may write to the store. The engine
    #: then calls the store off its event loop, polls it for their changes (cancel requests,
    #: trigger jobs, dependency outcomes) and expires the leases of nodes that died; a store
    #: only this process writes is called inline and checked once at start.
    shared: bool

    def open(self) -> None:
        """Create or migrate the schema; idempotent."""
        ...

    def close(self) -> None:
        """Release connections; idempotent."""
        ...

    # -- jobs ---------------------------------------------------------------------------

    def add_job(self, job: Job, *, replace: bool = False) -> Job:
        """Insert ``job``; an existing id raises DuplicateJob unless ``replace``."""
        ...

    def update_job(self, job: Job) -> Job:
        """Overwrite the stored job with the same id (definition and state)."""
        ...

    def remove_job(self, job_id: str) -> None:
        """Delete the job and its pending runs that no engine claimed; history is kept.

        A run an engine claimed stays: the engine may have started or ended it already (it
        writes records in batches), so it records the run's real outcome, or cancels it.
        """
        ...

    def sync_jobs(self, plan: SyncPlan) -> None:
        """Read every job, apply the writes and removals ``plan`` returns, in one transaction.

        Removals drop pending runs as ``remove_job`` does. An exception anywhere (from
        ``plan``, from iterating what it returned, from a write) changes nothing, and no
        other writer can change the jobs between the read and the writes.
        """
        ...

    def get_job(self, job_id: str) -> Job:
        """Return the stored job."""
        ...

    def jobs(self) -> list[Job]:
        """Return every stored job, ordered by id."""
        ...

    def jobs_page(self, after: str | None = None, limit: int = 100) -> list[Job]:
        """Up to ``limit`` jobs in the order of ``jobs()`` whose id comes after ``after``."""
        ...

    def next_wakeup(self) -> datetime | None:
        """Earliest instant anything becomes due: a job's next slot or an unowned run."""
        ...

    def named_targets(self) -> list[tuple[str, str]]:
        """The distinct (kind, ref) of stored jobs whose target is found by name.

        Those are ``call`` (an import path) and ``task`` (a registered name) targets not
        already resolved in this process: what an engine checks at start, once per target
        rather than once per job.
        """
        ...

    def jobs_to_check(self, targets: Sequence[tuple[str, str]]) -> list[Job]:
        """Broken jobs, and jobs whose named target is one of ``targets``, ordered by id."""
        ...

    def triggered_jobs(self) -> list[Job]:
        """Jobs with a trigger schedule (``after ...``, ``on_failure ...``, ``on_finish ...``)."""
        ...

    # -- claiming and running -----------------------------------------------------------

    def claim(
        self, now: datetime, horizon: timedelta, node: str, lease: timedelta, limit: int = 5000
    ) -> Claim:
        """Atomically claim due work up to ``now + horizon`` for ``node``.

        For each active job (not paused, not broken) whose ``next_run_at`` is due, apply
        ``plan_slots`` (``stores/slots.py``): insert runs (status scheduled, owned by ``node``,
        lease until ``now + lease``) and missed records, and write the job's new
        ``next_run_at``. Then adopt
        unowned scheduled runs (manual triggers, retries) whose due time has come, the same way.
        Slots that exist already are not inserted again.
        """
        ...

    def add_run(self, run: Run) -> Run | None:
        """Insert ``run`` with a new id; None if (job_id, scheduled_for, attempt) exists."""
        ...

    def save_runs(self, runs: Sequence[Run]) -> None:
        """Write the mutable fields of existing runs (status, times, node, lease, outcome)."""
        ...

    def get_run(self, run_id: str) -> Run:
        """Return one run."""
        ...

    def runs(
        self, job_id: str | None = None, status: RunStatus | None = None, limit: int = 100
    ) -> list[Run]:
        """Return runs, newest slot first, optionally of one job and/or one status."""
        ...

    def runs_page(self, wanted: RunFilter, limit: int = 100) -> list[Run]:
        """Up to ``limit`` runs matching ``wanted``, newest first (see ``stores/paging.py``).

        Ordered by ``(scheduled_for, attempt, id)`` descending; ``wanted.after`` starts the
        page after that key, so listing page by page sees each run once.
        """
        ...

    def last_finished(self, job_id: str, status: RunStatus | None = None) -> Run | None:
        """The run of ``job_id`` that finished last (optionally with ``status``)."""
        ...

    def newest_briefs(self, job_ids: Sequence[str]) -> dict[str, RunBrief]:
        """The newest run (as ``runs`` orders them) of each job in ``job_ids`` that has one,
        in brief.

        One read for a whole page of jobs, where ``runs(job_id, limit=1)`` per job would
        take the store's lock once per job; briefs, since building whole runs was most of
        that read's time.
        """
        ...

    def renew_leases(self, node: str, until: datetime) -> int:
        """Extend the lease of every unfinished run owned by ``node``; return how many."""
        ...

    def owners(self) -> list[str]:
        """The nodes that own unfinished runs."""
        ...

    def unfinished_runs(self, node: str) -> list[Run]:
        """The unfinished (scheduled or running) runs owned by ``node``."""
        ...

    def expire_leases(self, now: datetime, dead: Collection[str] = ()) -> list[Run]:
        """Mark unfinished owned runs whose lease ran out as lost and return them.

        Runs owned by a node in ``dead`` (known to have ended, see ``node_is_dead``) are lost
        at once, whatever their lease says. In the same transaction, insert the next attempt
        (``retry_of``) of each lost run whose job has retries left, so a crash right after the
        expiry cannot drop the retry; a later ``add_run`` of the same attempt returns None.
        """
        ...

    def request_cancel(self, run_id: str, now: datetime) -> Run:
        """Ask for a run to be cancelled; an unowned scheduled run is cancelled at once."""
        ...

    def cancel_requests(self, node: str) -> list[Run]:
        """Unfinished runs owned by ``node`` that someone asked to cancel."""
        ...

    def prune(
        self, now: datetime, keep_last: int | None = None, older_than: timedelta | None = None
    ) -> int:
        """Delete finished runs beyond the newest ``keep_last`` per job or older than the age."""
        ...


@runtime_checkable
class Watchable(Protocol):
    """A store that can tell this process promptly when another one changed what is due.

    Optional: an engine on a shared store that has it is woken at once when another process
    adds, changes or removes a job, triggers a run or asks for a cancel; it still polls at
    its poll interval, which covers changes the store could not report (a watch that lost
    its connection, or a store without the capability).
    """

    def watch(self, changed: Callable[[], None]) -> Callable[[], None]:
        """Call ``changed()`` (from any thread) after each such change; return a function that
        stops watching. ``changed`` is also called once a broken watch works again, as a
        change may have gone unreported meanwhile."""
        ...


@runtime_checkable
class Clustered(Protocol):
    """A store several nodes run jobs from at once, whose policies count every node's runs.

    Optional: a claim of such a store names the jobs that had unfinished runs elsewhere
    (``Claim.contended``), and the engine asks `runs_elsewhere` about those jobs only, once
    per batch of runs falling due, before it applies their overlap policy.
    """

    def runs_elsewhere(self, job_ids: Collection[str], node: str, now: datetime) -> list[Run]:
        """Unfinished runs of these jobs owned by nodes other than ``node`` whose lease holds."""
        ...


def lost_error(node: str, dead: Collection[str]) -> str:
    """Why a run owned by ``node`` was lost: its node ended, or stopped renewing its lease."""
    if node in dead:
        return f"lost: node {node!r} ended while the run was unfinished"
    return f"lost: node {node!r} stopped renewing its lease"


def is_active(job: Job) -> bool:
    """True when the job takes part in claims: not paused, not broken."""
    return not job.paused and job.broken is None


def retry_of(run: Run, job: Job, now: datetime) -> Run | None:
    """The next attempt of a failed, timed-out or lost ``run``; None when no retry is left.

    Due after the job's backoff; the backoff seed is the job and slot, so every node and the
    store compute the same due time.
    """
    if run.attempt > job.retries:
        return None
    delay = retry_delay(job, run.attempt, f"{job.id}|{run.scheduled_for.isoformat()}")
    return Run(
        id="",
        job_id=job.id,
        scheduled_for=run.scheduled_for,
        attempt=run.attempt + 1,
        created_at=now,
        due_at=now + delay,
        trigger="retry",
    )


def unplannable(
    job: Job, slot: datetime, now: datetime, exc: Exception
) -> tuple[Run, datetime | None]:
    """The failed record of a due slot whose planning raised, and the job's next slot.

    A claim plans many jobs in one transaction; one job whose settings break the arithmetic
    (a date beyond the calendar, a schedule that raises) must cost only its own slot. The
    job moves on to its next slot, or stops firing (None) when even that cannot be computed.
    """
    logger.error("job %s: cannot plan its slot %s", job.id, slot.isoformat(), exc_info=exc)
    try:
        next_at = job.schedule.next_after(slot)
    except Exception:
        logger.exception("job %s: cannot compute its next slot; it stops firing", job.id)
        next_at = None
    error = "".join(traceback.format_exception(exc)).rstrip("\n")
    record = Run(
        id="",
        job_id=job.id,
        scheduled_for=slot,
        status=RunStatus.FAILED,
        created_at=now,
        finished_at=now,
        error=f"cannot plan this slot: {type(exc).__name__}: {exc}\n{error}",
    )
    return record, next_at


def next_attempt(run: Run, job: Job, now: datetime) -> Run | None:
    """``retry_of`` inside a store's batch: a retry that cannot be computed is logged and left
    out, so that one job's settings cannot fail the batch (the engine notes it on the run)."""
    try:
        return retry_of(run, job, now)
    except Exception:
        logger.exception("run %s of job %s: cannot compute its retry", run.id, run.job_id)
        return None
