"""Pages of run history, newest first, for listings that go on where the last page ended.

A page is ordered by ``(scheduled_for, attempt, id)`` descending, the order of
``Store.runs``; the key of a page's last run (``RunKey``) is where the next page starts, so
runs inserted meanwhile never shift a page (no offsets). The SQL stores build one statement
from the fixed fragments below: each filter is optional, and a statement per combination
would be sixteen near-copies. Only placeholders carry values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cronwork.runs import Run, RunStatus
from cronwork.stores.rows import to_micros


@dataclass(frozen=True, slots=True)
class RunKey:
    """Where a run stands in newest-first order: its slot, attempt and numeric id."""

    scheduled_for: datetime
    attempt: int
    id: int

    def sort_key(self) -> tuple[datetime, int, int]:
        """The tuple the newest-first order sorts by (descending)."""
        return (self.scheduled_for, self.attempt, self.id)


def run_key(run: Run) -> RunKey:
    """The key of ``run``, to ask for the page after it."""
    return RunKey(run.scheduled_for, run.attempt, int(run.id))


@dataclass(frozen=True, slots=True)
class RunFilter:
    """The filters of a page: a job, a status, slots in ``[since, until)``, after a key."""

    job_id: str | None = None
    status: RunStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: RunKey | None = None

    def matches(self, run: Run) -> bool:
        """True when ``run`` belongs to the page's set (for stores that filter in Python)."""
        if self.job_id is not None and run.job_id != self.job_id:
            return False
        if self.status is not None and run.status is not self.status:
            return False
        if self.since is not None and run.scheduled_for < self.since:
            return False
        if self.until is not None and run.scheduled_for >= self.until:
            return False
        return self.after is None or run_key(run).sort_key() < self.after.sort_key()


def page_query(wanted: RunFilter, limit: int, mark: str) -> tuple[str, list[object]]:
    """The statement and parameters of one page for a SQL store whose placeholder is ``mark``.

    Instants are integer microseconds, as both SQL schemas store them. The ``scheduled_for
    <= ?`` beside the row comparison lets the planner walk an index from the key.
    """
    where: list[str] = []
    params: list[object] = []
    if wanted.job_id is not None:
        where.append("job_id = ?")
        params.append(wanted.job_id)
    if wanted.status is not None:
        where.append("status = ?")
        params.append(wanted.status.value)
    if wanted.since is not None:
        where.append("scheduled_for >= ?")
        params.append(to_micros(wanted.since))
    if wanted.until is not None:
        where.append("scheduled_for < ?")
        params.append(to_micros(wanted.until))
    if wanted.after is not None:
        slot = to_micros(wanted.after.scheduled_for)
        where.append("scheduled_for <= ?")
        where.append("(scheduled_for, attempt, id) < (?, ?, ?)")
        params += [slot, slot, wanted.after.attempt, wanted.after.id]
    query = "SELECT * FROM runs"
    if where:
        query += " WHERE " + " AND ".join(where)
    query += " ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT ?"
    params.append(limit)
    return query.replace("?", mark), params
