"""What the dashboard's pages show that no single store call answers quickly.

Two summaries read many jobs at once: the newest run of every job (for counts by status,
the status filter and sort of the jobs page) and the recent runs of a page of jobs (their
sparklines). Through the Store protocol they cost one call per job, about 0.8 s for
10,000 jobs, so on the SQL stores they are one statement walking the ``(job_id,
scheduled_for, attempt)`` index instead, reading only the columns shown; other stores go
through the protocol. The load ahead (runs per minute for the next 24 hours) is computed
once per distinct schedule, since jobs sharing a schedule fire together, and kept for a
while: the heat map is a forecast, not a record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronwork.jobs import Job
from cronwork.runs import Run, RunStatus
from cronwork.stores import Store
from cronwork.stores.rows import from_micros

HOURS = 25  # whole clock hours, so the current one's past minutes show empty
MINUTES = HOURS * 60
# Fire times computed for one heat map at most; beyond, the map says it is partial.
FIRE_BUDGET = 2_000_000
HEAT_TTL = 30.0  # seconds a computed heat map is shown before it is computed again
HEAT_SECONDS = 0.3  # at most this long computing one heat map; beyond, it is partial


@dataclass(frozen=True, slots=True)
class Brief:
    """A run in brief: enough for a status badge, a link and a sparkline bar."""

    id: str
    job_id: str
    status: RunStatus
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, once both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def brief(run: Run) -> Brief:
    """``run`` in brief."""
    return Brief(run.id, run.job_id, run.status, run.started_at, run.finished_at)


_SQLITE_NEWEST = """
SELECT j.id, r.status
FROM jobs AS j JOIN runs AS r ON r.id = (
    SELECT id FROM runs WHERE job_id = j.id
    ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT 1)
"""
_POSTGRES_NEWEST = """
SELECT j.id, r.status
FROM jobs AS j CROSS JOIN LATERAL (
    SELECT status FROM runs WHERE job_id = j.id
    ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT 1) AS r
"""
_RECENT = """
SELECT id, job_id, status, started_at, finished_at FROM runs WHERE job_id = {mark}
ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT {mark}
"""


def _brief_row(row: Sequence[Any]) -> Brief:
    run_id, job_id, status, started, finished = row
    return Brief(
        str(run_id), job_id, RunStatus(status), from_micros(started), from_micros(finished)
    )


def _sql_kind(store: Store) -> str | None:
    kind = type(store).__name__
    if kind == "SqliteStore" and hasattr(store, "_read"):
        return "sqlite"
    if kind == "PostgresStore" and hasattr(store, "_fetch"):
        return "postgres"
    return None


def newest_statuses(store: Store, jobs: Iterable[Job]) -> dict[str, str]:
    """The status of the newest run (by slot) of each job that has one, by job id."""
    kind = _sql_kind(store)
    if kind == "sqlite":
        with store._read() as conn:  # type: ignore[attr-defined]
            return dict(conn.execute(_SQLITE_NEWEST).fetchall())
    if kind == "postgres":
        fetched = store._fetch(_POSTGRES_NEWEST)  # type: ignore[attr-defined]
        return {row["id"]: row["status"] for row in fetched}
    found = {}
    for job in jobs:
        runs = store.runs(job_id=job.id, limit=1)
        if runs:
            found[job.id] = runs[0].status.value
    return found


def recent_runs(store: Store, job_ids: Sequence[str], limit: int = 20) -> dict[str, list[Brief]]:
    """The newest ``limit`` runs of each job in ``job_ids``, oldest first (for sparklines)."""
    kind = _sql_kind(store)
    found: dict[str, list[Brief]] = {}
    if kind == "sqlite":
        query = _RECENT.format(mark="?")
        with store._read() as conn:  # type: ignore[attr-defined]
            for job_id in job_ids:
                rows = conn.execute(query, (job_id, limit)).fetchall()
                found[job_id] = [_brief_row(tuple(row)) for row in reversed(rows)]
        return found
    for job_id in job_ids:
        found[job_id] = [brief(run) for run in reversed(store.runs(job_id=job_id, limit=limit))]
    return found


# -- fire times -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fire:
    """One upcoming fire time, and whether the zone's offset changed since the one before."""

    at: datetime
    zone_time: str
    dst_change: str | None


def next_fires(job: Job, count: int, now: datetime) -> list[Fire]:
    """The next ``count`` fire times of ``job`` after ``now``, DST changes marked."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(job.timezone)
    fires: list[Fire] = []
    moment: datetime | None = job.next_run_at if job.next_run_at and job.next_run_at > now else None
    if moment is None:
        moment = job.schedule.next_after(now)
    before = now.astimezone(zone).utcoffset()
    while moment is not None and len(fires) < count:
        local = moment.astimezone(zone)
        offset = local.utcoffset()
        change = None
        if offset != before and offset is not None and before is not None:
            change = f"clocks change before this: UTC{_offset(before)} → UTC{_offset(offset)}"
        fires.append(Fire(moment, local.strftime("%a %Y-%m-%d %H:%M:%S %Z"), change))
        before = offset
        moment = job.schedule.next_after(moment)
    return fires


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def slots_between(job: Job, start: datetime, end: datetime, cap: int) -> int:
    """How many slots ``job``'s schedule has in ``[start, end)``, counting at most ``cap + 1``."""
    count = 0
    moment = job.schedule.next_after(start - timedelta(microseconds=1))
    while moment is not None and moment < end and count <= cap:
        count += 1
        moment = job.schedule.next_after(moment)
    return count


# -- the load ahead ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeatMap:
    """Runs per minute from ``start`` (a whole hour, UTC), counting those in the 24 hours
    after ``now``."""

    start: datetime
    now: datetime
    counts: list[int]
    complete: bool

    @property
    def peak(self) -> int:
        """The most runs in one minute."""
        return max(self.counts, default=0)

    def busiest(self, n: int = 5) -> list[tuple[datetime, int]]:
        """The ``n`` busiest minutes, busiest first (ties: earliest first)."""
        ranked = sorted(range(len(self.counts)), key=lambda i: (-self.counts[i], i))[:n]
        return [
            (self.start + timedelta(minutes=i), self.counts[i]) for i in ranked if self.counts[i]
        ]

    def hours(self) -> list[int]:
        """Runs per hour: the timeline of the next 24 hours."""
        return [sum(self.counts[h * 60 : h * 60 + 60]) for h in range(HOURS)]

    def outside(self, minute: int) -> bool:
        """True when ``minute`` (from ``start``) is before now or 24 hours after."""
        at = self.start + timedelta(minutes=minute)
        return at + timedelta(minutes=1) <= self.now or at >= self.now + timedelta(days=1)


Groups = dict[tuple[Any, ...], list[Job]]


def fire_groups(jobs: Iterable[Job], now: datetime) -> Groups:
    """The active jobs by what decides their fire times: jobs of one group fire together.

    A job whose next slot is already past (its scheduler is behind, or stopped) is counted
    from its schedule's first slot after ``now``, like every other job of its schedule.
    """
    groups: Groups = {}
    for job in jobs:
        if job.paused or job.broken is not None or job.next_run_at is None:
            continue
        first = job.next_run_at if job.next_run_at >= now else None
        key = (job.schedule_text, job.timezone, job.start_at, job.end_at, first)
        groups.setdefault(key, []).append(job)
    return groups


def heat_map(groups: Groups, now: datetime, seconds: float = HEAT_SECONDS) -> HeatMap:
    """Runs per minute for the next 24 h of the jobs in ``groups`` (jitter not shown).

    Stops, and says the map is partial, after ``FIRE_BUDGET`` fire times or ``seconds``.
    """
    start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = now + timedelta(days=1)
    deadline = time.monotonic() + seconds
    counts = [0] * MINUTES
    budget = FIRE_BUDGET
    for (*_, first), members in groups.items():
        job = members[0]
        moment: datetime | None = first if first is not None else job.schedule.next_after(now)
        while moment is not None and moment < end and budget > 0:
            counts[int((moment - start).total_seconds() // 60)] += len(members)
            budget -= 1
            moment = job.schedule.next_after(moment)
        if budget <= 0 or time.monotonic() > deadline:
            return HeatMap(start, now, counts, complete=False)
    return HeatMap(start, now, counts, complete=True)


class HeatCache:
    """The last heat map, shown again for ``HEAT_TTL`` seconds while the jobs' fire groups
    stay the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[float, int, HeatMap] | None = None

    def get(self, jobs: Iterable[Job], now: datetime) -> HeatMap:
        """The kept heat map if recent and of the same groups, else a new one of ``jobs``."""
        groups = fire_groups(jobs, now)
        fingerprint = hash(frozenset((key, len(members)) for key, members in groups.items()))
        with self._lock:
            kept = self._kept
            if (
                kept is not None
                and kept[1] == fingerprint
                and time.monotonic() - kept[0] < HEAT_TTL
            ):
                return kept[2]
            fresh = heat_map(groups, now)
            self._kept = (time.monotonic(), fingerprint, fresh)
            return fresh
