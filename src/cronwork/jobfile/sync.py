"""Syncing a checked job file into a store: the file owns the jobs it defines.

``plan_sync`` says what a sync would change without writing; ``sync_job_file`` makes the
store hold exactly the file's jobs among those with the file's origin, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cronwork.dependencies import removals_needed
from cronwork.errors import JobFileError, StoreError
from cronwork.jobfile.check import JobFile
from cronwork.jobs import Job


@dataclass(slots=True)
class SyncReport:
    """What a sync changed, by job id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: Removed ids that jobs staying in the store depend on, with those jobs' ids: a sync
    #: refuses them without ``force``.
    needed: dict[str, list[str]] = field(default_factory=dict)

    def needed_problems(self, path: Path) -> list[str]:
        """One line per removal others depend on, as ``cronwork remove`` words it."""
        from cronwork.dependencies import needed_message

        return [
            f"{path}: {needed_message(job_id, names, 'cronwork run')}"
            for job_id, names in self.needed.items()
        ]

    def summary(self) -> str:
        """One line such as ``2 added, 1 updated, 3 unchanged, 0 removed``."""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed"
        )


def _definition(job: Job) -> Job:
    # The part of a job the file decides; the rest is state the store and operators own.
    return job.replace(next_run_at=None, paused=False, broken=None, created_at=None)


def plan_sync(
    existing: Iterable[Job], job_file: JobFile, now: datetime | None = None
) -> SyncReport:
    """What ``sync_job_file`` would change in a store holding ``existing``; writes nothing."""
    report, _, _ = _plan({job.id: job for job in existing}, job_file, now or _utcnow())
    return report


def sync_job_file(
    store: Any, job_file: JobFile, now: datetime | None = None, *, force: bool = False
) -> SyncReport:
    """Make ``store`` hold exactly the file's jobs among those with the file's origin.

    New jobs are added; changed ones replaced, keeping ``next_run_at`` when the schedule did
    not change, and keeping an operator's pause; jobs the file no longer defines (or now
    disables) are removed, unless other jobs depend on them and ``force`` is false: then
    JobFileError. Jobs with another origin (added from the CLI or code) stay, unless the file
    defines the same id: then the file takes it over. All of it is one store transaction:
    on any error the store is left as it was.
    """
    moment = now or _utcnow()
    reports: list[SyncReport] = []

    def plan(stored: list[Job]) -> tuple[list[Job], list[str]]:
        report, writes, removals = _plan({job.id: job for job in stored}, job_file, moment)
        if report.needed and not force:
            raise JobFileError(report.needed_problems(job_file.path))
        reports.append(report)
        return writes, removals

    try:
        store.sync_jobs(plan)
    except StoreError as exc:
        raise StoreError(f"{job_file.path}: nothing was synced: {exc}") from exc
    return reports[-1]


def _utcnow() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


def _plan(
    existing: Mapping[str, Job], job_file: JobFile, now: datetime
) -> tuple[SyncReport, list[Job], list[str]]:
    report = SyncReport()
    writes: list[Job] = []
    for job in job_file.jobs:
        old = existing.get(job.id)
        if old is None:
            writes.append(job.replace(next_run_at=job.schedule.next_after(now), created_at=now))
            report.added.append(job.id)
            continue
        if _definition(old) == _definition(job) and old.broken is None:
            report.unchanged.append(job.id)
            continue
        keep_slot = old.schedule == job.schedule and old.next_run_at is not None
        writes.append(
            job.replace(
                next_run_at=old.next_run_at if keep_slot else job.schedule.next_after(now),
                paused=old.paused,
                created_at=old.created_at or now,
            )
        )
        report.updated.append(job.id)
    defined = {job.id for job in job_file.jobs}
    removals = [
        old.id
        for old in existing.values()
        if old.origin == job_file.origin and old.id not in defined
    ]
    report.removed.extend(removals)
    after = {**existing, **{job.id: job for job in writes}}
    report.needed = removals_needed(after, removals)
    return report, writes, removals
