"""A run's state inside the engine, and the helpers every part of the engine shares.

`Active` is a run holding one of the ``max_running`` places, `Waiting` one waiting for its
dependencies; `isolated` is how every loop over a batch keeps one item's fault from
stranding the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cronwork import copiers
from cronwork.executors import Execution, Outcome
from cronwork.jobs import Job
from cronwork.runs import Run, RunStatus

# The engine logs under the name it had as one module: users' logging configurations name it.
logger = logging.getLogger("cronwork.scheduler")

T = TypeVar("T")


def extra(job_id: str, run_id: str | None = None) -> dict[str, Any]:
    """The ``extra`` of a log record about a job (and run)."""
    return {"job_id": job_id, "run_id": run_id}


def log_slot(run: Run, what: str, reason: str) -> None:
    """Log at INFO that the run's job ``what`` (skipped, ...) its slot, and why."""
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "job %s %s its slot %s: %s",
            run.job_id,
            what,
            run.scheduled_for.isoformat(),
            reason,
            extra=extra(run.job_id, run.id),
        )


def isolated(
    items: Iterable[T], step: Callable[[T], object], failed: Callable[[T, Exception], None]
) -> None:
    """Apply ``step`` to each item; one whose step raises goes to ``failed``, and the rest
    still get theirs.

    Every loop of the engine over a batch (of runs, jobs, ids) goes through here, so that an
    unexpected error on one item's path never strands the others of its batch.
    """
    for item in items:
        try:
            step(item)
        except Exception as exc:
            failed(item, exc)


def noted(run: Run, error: str) -> Run:
    """``run`` with ``error`` added to its error text."""
    return run.replace(error=f"{run.error}\n{error}" if run.error else error)


def catching_up(run: Run) -> bool:
    """True for a run of a slot that had passed when it was claimed: a misfire, a slot late
    within ``misfire_grace`` (the engine was stopped or blocked), or a backfill run due at
    its slot (asked with ``overlap="skip"`` or ``"queue"``)."""
    trigger = run.trigger
    if trigger == "misfire":
        return True
    if trigger == "backfill":
        return not beside_others(run)
    created = run.created_at
    return run.trigger == "schedule" and created is not None and run.scheduled_for < created


def beside_others(run: Run) -> bool:
    """True for a backfill run asked with ``overlap="allow"``: due when it was asked for, not
    at its slot, it starts beside the job's other runs whatever the job's overlap policy.

    (`Operations.backfill` records the backfill runs of the other modes due at their slots,
    which makes them catch-up runs that wait for the job's runs and start one by one.)
    """
    return run.trigger == "backfill" and run.due_at is not None and run.due_at != run.scheduled_for


class Active:
    """A run that holds one of the ``max_running`` places.

    Mutable on purpose: starting and finishing a run only sets fields here, and the immutable
    `Run` for the store is built once, when the writer flushes (`record`), so a run that
    starts and ends between two flushes costs one record instead of one per state change.
    """

    __slots__ = (
        "_record",
        "begun",
        "execution",
        "finished_at",
        "job",
        "linger",
        "live_output",
        "node",
        "outcome",
        "queued_at",
        "run",
        "started_at",
        "task",
    )

    def __init__(
        self, run: Run, job: Job, node: str, started_at: datetime, queued_at: datetime
    ) -> None:
        self.run = run  # as claimed
        self.job = job
        self.execution: Execution | None = None
        self.node = node
        self.started_at = started_at
        self.queued_at = queued_at
        # False while the work waits to begin elsewhere (BeginsLater): the record says
        # scheduled, and started_at is only the moment the run was to start.
        self.begun = True
        self.outcome: Outcome | None = None
        self.finished_at: datetime | None = None
        self.task: asyncio.Task[None] | None = None
        # Resolves when an overrun thread (or a coroutine ignoring cancellation) really ends.
        self.linger: asyncio.Future[None] | None = None
        # What the run had printed at the last output flush (see Chores.flush_output).
        self.live_output: str | None = None
        self._record: Run | None = None

    def cancel(self, why: str) -> None:
        """Ask the execution to stop."""
        if self.execution is not None:
            self.execution.cancel(why)

    def started(self) -> Run:
        """The run as it is while running (or, not begun yet, handed over and waiting)."""
        begun = self.begun
        return copiers.started(
            self.run,
            status=RunStatus.RUNNING if begun else RunStatus.SCHEDULED,
            node=self.node,
            queued_at=self.queued_at,
            started_at=self.started_at if begun else None,
            output=self.live_output,
        )

    def record(self) -> Run:
        """The run as the store should see it now."""
        outcome = self.outcome
        if outcome is None:
            return self.started()
        if self._record is None:
            self._record = copiers.finished(
                self.run,
                status=outcome.status,
                node=self.node,
                queued_at=self.queued_at,
                started_at=self.started_at if self.begun else None,
                finished_at=self.finished_at,
                exit_code=outcome.exit_code,
                output=outcome.output,
                error=outcome.error,
            )
        return self._record


@dataclass(slots=True, eq=False)
class Waiting:
    """A due run of a job with ``depends_on``, waiting for fresh upstream successes."""

    run: Run
    job: Job
    deadline: datetime


# A waiting run's dependency check: the stale upstream jobs, then the message to give up
# with (None: keep waiting), or the error the check raised.
Verdict = tuple[Waiting, list[str], str | Exception | None]
