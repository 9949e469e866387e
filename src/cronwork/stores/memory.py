"""The memory store: a real store kept in dicts, for tests and embedded use without disk.

Longer than the ~500 lines a module is held to, with a `MemoryStore` class of about 540: it
implements the whole `Store` protocol (jobs, claims, runs, leases, cancels, pruning, syncs)
over a dozen indexes that one lock guards together, and an engine calls it inline on the
path of every run. Split into parts, each part would reach into the others' indexes and each
call on that path would cross one more object; read together, the invariants between the
indexes stay in view. What does not need those indexes lives beside it: slot planning in
`slots.py`, the packing of finished runs in `packing.py`.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from cronwork.copiers import advanced, claimed_on_time, with_id, with_lease
from cronwork.errors import DuplicateJob, JobNotFound, RunNotFound
from cronwork.jobs import Job
from cronwork.runs import Run, RunBrief, RunStatus, due_time
from cronwork.stores.base import (
    Claim,
    SyncPlan,
    is_active,
    lost_error,
    next_attempt,
    unplannable,
)
from cronwork.stores.packing import Record, head, pack, unpack
from cronwork.stores.paging import RunFilter, RunKey
from cronwork.stores.rows import to_micros
from cronwork.stores.slots import on_time_slots, plan_claim
from cronwork.targets import Target
from cronwork.timing.triggers import TriggeredSchedule

_UNFINISHED = (RunStatus.SCHEDULED, RunStatus.RUNNING)


def _slot_key(scheduled_for: datetime, attempt: int) -> datetime | str:
    # Per-job slot index keys: the slot itself for first attempts (nearly all runs), text for
    # retries. Both are atomic, so the index dicts stay out of the collector's sight too.
    if attempt == 1:
        return scheduled_for
    return f"{to_micros(scheduled_for)}#{attempt}"


def _named(target: Target) -> bool:
    return target.kind in ("call", "task") and target.func is None and target.command is None


def _is_triggered(job: Job) -> bool:
    return isinstance(job.schedule, TriggeredSchedule)


class MemoryStore:
    """Jobs and runs in process memory; everything is lost when the process ends.

    ``keep_runs`` bounds the finished runs kept per job (the newest by finish), so a
    long-running embedded scheduler does not grow without limit. Finished runs are kept
    packed (see ``pack``): about 250 bytes each, and invisible to the garbage collector.
    """

    #: Only this process writes here (see Store.shared).
    shared = False

    def __init__(self, *, keep_runs: int | None = 1000) -> None:
        self.url = "memory://"
        self.keep_runs = keep_runs
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        # Unfinished runs (scheduled or running) as Run objects, by id and by job: few, and
        # every lease renewal, expiry and cancel check scans only these.
        self._runs: dict[str, Run] = {}
        self._open: defaultdict[str, dict[str, None]] = defaultdict(dict)
        # Finished runs, packed, per job in the order they finished; and the job of each.
        self._done: defaultdict[str, dict[str, Record]] = defaultdict(dict)
        self._where: dict[str, str] = {}
        # Per job: slot key (see _slot_key) -> run id, for every run kept.
        self._slots: defaultdict[str, dict[datetime | str, str]] = defaultdict(dict)
        # Per job: status value ("" for any) -> id of the run that finished last, so
        # dependency checks need not scan the history; dropped when that run is deleted.
        self._latest: dict[str, dict[str, str]] = {}
        self._due: list[tuple[datetime, str]] = []  # (next_run_at, job_id), lazily invalidated
        # Each job's current next_run_at. A claim only moves this: copying the 26-field Job
        # per job per claim made thousands of objects a second live long enough for the
        # garbage collector's full passes; the Job is brought up to date when it is read.
        self._next_at: dict[str, datetime | None] = {}
        self._pending: list[tuple[datetime, int, str]] = []  # unowned scheduled runs
        # Pending runs of paused or broken jobs, set aside until the job is active again, so
        # they neither block the heap's head nor make next_wakeup report a past instant.
        self._parked: defaultdict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
        self._ids = itertools.count(1)

    def open(self) -> None:
        """Nothing to create."""

    def close(self) -> None:
        """Nothing to release."""

    # -- jobs ---------------------------------------------------------------------------

    def add_job(self, job: Job, *, replace: bool = False) -> Job:
        """Insert ``job``; an existing id raises DuplicateJob unless ``replace``."""
        with self._lock:
            if job.id in self._jobs and not replace:
                raise DuplicateJob(f"job {job.id!r} exists already (pass replace=True)")
            self._set_job(job)
            return job

    def update_job(self, job: Job) -> Job:
        """Overwrite the stored job with the same id."""
        with self._lock:
            if job.id not in self._jobs:
                raise JobNotFound(f"no job {job.id!r}")
            self._set_job(job)
            return job

    def _set_job(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._next_at[job.id] = job.next_run_at
        if job.next_run_at is not None:
            heapq.heappush(self._due, (job.next_run_at, job.id))
        if is_active(job):
            for entry in self._parked.pop(job.id, ()):
                heapq.heappush(self._pending, entry)

    def remove_job(self, job_id: str) -> None:
        """Delete the job and its unclaimed pending runs; history is kept."""
        with self._lock:
            if self._jobs.pop(job_id, None) is None:
                raise JobNotFound(f"no job {job_id!r}")
            self._next_at.pop(job_id, None)
            self._parked.pop(job_id, None)
            for run_id in list(self._open.get(job_id, ())):
                run = self._runs[run_id]
                # A claimed run is the engine's to record (see Store.remove_job).
                unclaimed = run.node is None and run.started_at is None
                if unclaimed and run.status is RunStatus.SCHEDULED:
                    self._delete_open(run)

    def get_job(self, job_id: str) -> Job:
        """Return the stored job."""
        with self._lock:
            if job_id not in self._jobs:
                raise JobNotFound(f"no job {job_id!r}")
            return self._job_now(job_id)

    def _job_now(self, job_id: str) -> Job:
        job = self._jobs[job_id]
        next_at = self._next_at.get(job_id)
        if job.next_run_at != next_at:
            job = advanced(job, next_run_at=next_at)
            self._jobs[job_id] = job
        return job

    def _all_jobs(self) -> list[Job]:
        # Every job, each brought up to date with its next_run_at; call under the lock.
        return [self._job_now(job_id) for job_id in list(self._jobs)]

    def jobs(self) -> list[Job]:
        """Return every job, ordered by id."""
        with self._lock:
            return sorted(self._all_jobs(), key=lambda j: j.id)

    def jobs_page(self, after: str | None = None, limit: int = 100) -> list[Job]:
        """Up to ``limit`` jobs by id whose id comes after ``after``."""
        with self._lock:
            found = [j for j in self._all_jobs() if after is None or j.id > after]
        return heapq.nsmallest(limit, found, key=lambda j: j.id)

    def job_counts(self) -> dict[str, int]:
        """How many jobs are active, paused and broken (see cronwork.metrics.CountsJobs)."""
        counts = {"active": 0, "paused": 0, "broken": 0}
        with self._lock:
            for job in self._jobs.values():
                state = "broken" if job.broken is not None else "paused" if job.paused else "active"
                counts[state] += 1
        return counts

    def running_count(self) -> int:
        """How many runs are running on any node (see cronwork.metrics.CountsRunning)."""
        with self._lock:
            return sum(1 for run in self._runs.values() if run.status is RunStatus.RUNNING)

    def sync_jobs(self, plan: SyncPlan) -> None:
        """Read every job, apply the writes and removals ``plan`` returns, as one step."""
        with self._lock:
            writes, removals = plan(sorted(self._all_jobs(), key=lambda j: j.id))
            undo = _Undo(self)
            try:
                for job in writes:
                    undo.save(job.id)
                    self._set_job(job)
                for job_id in removals:
                    undo.save(job_id)
                    self.remove_job(job_id)  # the lock is re-entrant
            except BaseException:
                undo.restore()
                raise

    def named_targets(self) -> list[tuple[str, str]]:
        """Distinct (kind, ref) of jobs whose target is found by name, not held as a function."""
        with self._lock:
            jobs = self._all_jobs()
        return sorted({(j.target.kind, j.target.ref) for j in jobs if _named(j.target)})

    def jobs_to_check(self, targets: Sequence[tuple[str, str]]) -> list[Job]:
        """Broken jobs, and jobs whose named target is one of ``targets``, ordered by id."""
        wanted = set(targets)
        with self._lock:
            jobs = self._all_jobs()
        found = [
            j
            for j in jobs
            if j.broken is not None
            or (_named(j.target) and (j.target.kind, j.target.ref) in wanted)
        ]
        return sorted(found, key=lambda j: j.id)

    def triggered_jobs(self) -> list[Job]:
        """Jobs with a trigger schedule."""
        with self._lock:
            jobs = self._all_jobs()
        return sorted((j for j in jobs if _is_triggered(j)), key=lambda j: j.id)

    def next_wakeup(self) -> datetime | None:
        """Earliest instant anything becomes due."""
        with self._lock:
            self._drop_stale_heads()
            candidates = []
            if self._due:
                candidates.append(self._due[0][0])
            if self._pending:
                candidates.append(self._pending[0][0])
            return min(candidates) if candidates else None

    def _drop_stale_heads(self) -> None:
        while self._due:
            at, job_id = self._due[0]
            job = self._jobs.get(job_id)
            if job is not None and self._next_at.get(job_id) == at and is_active(job):
                break
            heapq.heappop(self._due)
        while self._pending:
            _, _, run_id = self._pending[0]
            run = self._runs.get(run_id)
            if run is None or run.status is not RunStatus.SCHEDULED or run.node is not None:
                heapq.heappop(self._pending)
            elif self._waits_for_resume(run):
                self._parked[run.job_id].append(heapq.heappop(self._pending))
            else:
                break

    def _waits_for_resume(self, run: Run) -> bool:
        """A paused or broken job's retries wait for it to resume; manual triggers do not."""
        job = self._jobs.get(run.job_id)
        return job is not None and not is_active(job) and run.trigger != "manual"

    # -- claiming -----------------------------------------------------------------------

    def claim(
        self, now: datetime, horizon: timedelta, node: str, lease: timedelta, limit: int = 5000
    ) -> Claim:
        """Claim due slots and unowned due runs for ``node``."""
        claim = Claim()
        limit_at = now + horizon
        with self._lock:
            self._drop_stale_heads()
            due = self._due
            jobs, next_ats, all_slots, all_open = self._jobs, self._next_at, self._slots, self._open
            lease_until = now + lease
            runs = claim.runs
            while due and due[0][0] <= limit_at and len(runs) < limit:
                # The head stays in place until its successor is known: one heapreplace
                # then costs about what a pop alone would, half of a pop and a push.
                at, job_id = due[0]
                job = jobs.get(job_id)
                if job is None or next_ats.get(job_id) != at or not is_active(job):
                    heapq.heappop(due)
                    continue
                next_at: datetime | None
                try:
                    late = at < now and at < now - job.misfire_grace
                    if late:
                        job = self._job_now(job_id)
                        late_runs, missed, next_at = plan_claim(job, now, horizon, node, lease)
                    else:
                        planned, next_at = on_time_slots(job.schedule, at, limit_at)
                except Exception as exc:
                    # One job's broken arithmetic costs its slot, not the whole claim.
                    late, late_runs = True, []
                    failed, next_at = unplannable(job, at, now, exc)
                    missed = [failed]
                if late:
                    # Misfires: the shared planner applies the policy and words the records.
                    for run in late_runs:
                        stored = self._insert(run)
                        if stored is not None:
                            runs.append(stored)
                    for run in missed:
                        stored = self._insert(run)
                        if stored is not None:
                            claim.missed.append(stored)
                else:
                    # Every slot on time (the common case): one record per slot built with
                    # its id rather than a blank run copied on insert.
                    slots = all_slots[job_id]
                    opened = all_open[job_id]
                    for slot in planned:
                        if slot in slots:
                            continue
                        run_id = str(next(self._ids))
                        run = claimed_on_time(
                            id=run_id,
                            job_id=job_id,
                            scheduled_for=slot,
                            node=node,
                            created_at=now,
                            lease_until=lease_until,
                            due_at=slot,
                        )
                        self._runs[run_id] = run
                        slots[slot] = run_id
                        opened[run_id] = None
                        runs.append(run)
                next_ats[job_id] = next_at
                if next_at is not None:
                    heapq.heapreplace(due, (next_at, job_id))
                else:
                    heapq.heappop(due)
                # The definition, as the engine needs it; its next_run_at may lag behind.
                claim.jobs[job_id] = job
            while self._pending and self._pending[0][0] <= limit_at and len(claim.runs) < limit:
                entry = heapq.heappop(self._pending)
                waiting = self._runs.get(entry[2])
                if (
                    waiting is None
                    or waiting.status is not RunStatus.SCHEDULED
                    or waiting.node is not None
                ):
                    continue
                if self._waits_for_resume(waiting):
                    self._parked[waiting.job_id].append(entry)
                    continue
                owned = waiting.replace(node=node, lease_until=now + lease)
                self._runs[owned.id] = owned
                claim.runs.append(owned)
        return claim

    def _insert(self, run: Run) -> Run | None:
        slots = self._slots[run.job_id]
        key = _slot_key(run.scheduled_for, run.attempt)
        if key in slots:
            return None
        stored = with_id(run, id=str(next(self._ids)))
        slots[key] = stored.id
        if stored.status.finished:
            self._finish(stored)
        else:
            self._runs[stored.id] = stored
            self._open[stored.job_id][stored.id] = None
            if stored.status is RunStatus.SCHEDULED and stored.node is None:
                heapq.heappush(self._pending, (due_time(stored), int(stored.id), stored.id))
        return stored

    def _finish(self, run: Run) -> None:
        """Move ``run`` (finished) into the packed history of its job."""
        run_id, job_id = run.id, run.job_id
        if self._runs.pop(run_id, None) is not None:
            del self._open[job_id][run_id]
        done = self._done[job_id]
        done.pop(run_id, None)  # a re-saved finished run moves to the end
        done[run_id] = pack(run)
        self._where[run_id] = job_id
        if run.finished_at is not None and job_id in self._latest:
            latest = self._latest[job_id]
            rank = (run.finished_at, int(run_id))
            for key in ("", run.status.value):
                best = latest.get(key)
                if best is None or best == run_id or self._rank(job_id, best) < rank:
                    latest[key] = run_id
        if self.keep_runs is not None and len(done) > 2 * self.keep_runs:
            # Trimmed in batches, so each run costs O(1) however long the history.
            self._delete_done(job_id, list(itertools.islice(done, len(done) - self.keep_runs)))

    def _rank(self, job_id: str, run_id: str) -> tuple[datetime, int]:
        # The order of last_finished, as in SQL: by finish time, then by id.
        finished = head(self._done[job_id][run_id])[1]
        assert finished is not None
        return finished, int(run_id)

    def _delete_open(self, run: Run) -> None:
        del self._runs[run.id]
        del self._open[run.job_id][run.id]
        self._slots[run.job_id].pop(_slot_key(run.scheduled_for, run.attempt), None)

    def _delete_done(self, job_id: str, run_ids: Iterable[str]) -> int:
        done, slots = self._done[job_id], self._slots[job_id]
        latest = self._latest.get(job_id)
        removed = 0
        for run_id in run_ids:
            record = done.pop(run_id)
            del self._where[run_id]
            slot, _, attempt = head(record)
            slots.pop(_slot_key(slot, attempt), None)
            if latest is not None and run_id in latest.values():
                del self._latest[job_id]
                latest = None
            removed += 1
        return removed

    def add_run(self, run: Run) -> Run | None:
        """Insert ``run`` with a new id; None if its (job, slot, attempt) exists."""
        with self._lock:
            return self._insert(run)

    def save_runs(self, runs: Sequence[Run]) -> None:
        """Write the mutable fields of existing runs."""
        with self._lock:
            for run in runs:
                current = self._current(run.id)
                if current is None:
                    continue  # pruned or removed meanwhile; nothing to update
                if current.cancel_requested and not run.cancel_requested:
                    # A cancel request arrived after the engine read the run; keep it.
                    run = run.replace(cancel_requested=True)
                # A tuple finds its members by identity first; the .finished property, and
                # a set of enum members (hashed in Python), would run Python code per run.
                if run.status not in _UNFINISHED:
                    self._finish(run)
                    continue
                if run.id not in self._runs:
                    # A finished run saved as unfinished again: it leaves the history.
                    del self._done[run.job_id][run.id]
                    del self._where[run.id]
                    self._latest.pop(run.job_id, None)
                    self._open[run.job_id][run.id] = None
                # Runs are immutable: the caller's object is stored as is, not copied.
                self._runs[run.id] = run
                if run.status is RunStatus.SCHEDULED and run.node is None:
                    heapq.heappush(self._pending, (due_time(run), int(run.id), run.id))

    def _current(self, run_id: str) -> Run | None:
        run = self._runs.get(run_id)
        if run is not None:
            return run
        job_id = self._where.get(run_id)
        if job_id is None:
            return None
        return unpack(run_id, job_id, self._done[job_id][run_id])

    def get_run(self, run_id: str) -> Run:
        """Return one run."""
        with self._lock:
            run = self._current(str(run_id))
        if run is None:
            raise RunNotFound(f"no run {run_id!r}")
        return run

    def newest_briefs(self, job_ids: Sequence[str]) -> dict[str, RunBrief]:
        """The newest run of each job in ``job_ids`` that has one, in brief."""
        found = {job_id: self.runs(job_id=job_id, limit=1) for job_id in job_ids}
        return {job_id: RunBrief.of(runs[0]) for job_id, runs in found.items() if runs}

    def runs(
        self, job_id: str | None = None, status: RunStatus | None = None, limit: int = 100
    ) -> list[Run]:
        """Return runs, newest slot first."""
        with self._lock:
            if job_id is not None:
                unfinished = [self._runs[i] for i in self._open.get(job_id, ())]
                histories = [(job_id, self._done[job_id])] if job_id in self._done else []
            else:
                unfinished = list(self._runs.values())
                histories = list(self._done.items())
            if status is not None and not status.finished:
                histories = []
            # Chosen by their headers first, so a short listing unpacks only what it shows.
            keyed: list[tuple[tuple[datetime, int, int], str, str, Record]] = []
            for owner, done in histories:
                for run_id, record in done.items():
                    slot, _, attempt = head(record)
                    keyed.append(((slot, attempt, int(run_id)), run_id, owner, record))
        pool: list[tuple[tuple[datetime, int, int], Run | None, str, str, Record | None]] = [
            ((r.scheduled_for, r.attempt, int(r.id)), r, r.id, r.job_id, None)
            for r in unfinished
            if status is None or r.status is status
        ]
        pool += [(key, None, run_id, owner, record) for key, run_id, owner, record in keyed]
        pool.sort(key=lambda entry: entry[0], reverse=True)
        found: list[Run] = []
        for _, live, run_id, owner, packed in pool:
            if live is None:
                assert packed is not None
                live = unpack(run_id, owner, packed)
                if status is not None and live.status is not status:
                    continue
            found.append(live)
            if len(found) >= limit:
                break
        return found

    def runs_page(self, wanted: RunFilter, limit: int = 100) -> list[Run]:
        """Up to ``limit`` runs matching ``wanted``, newest first (see ``stores/paging.py``)."""
        bounds = RunFilter(since=wanted.since, until=wanted.until, after=wanted.after)
        with self._lock:
            if wanted.job_id is not None:
                unfinished = [self._runs[i] for i in self._open.get(wanted.job_id, ())]
                done = (
                    [(wanted.job_id, self._done[wanted.job_id])]
                    if wanted.job_id in self._done
                    else []
                )
            else:
                unfinished = list(self._runs.values())
                done = list(self._done.items())
            # Finished records are chosen by their headers, unpacked only when shown.
            pool: list[tuple[tuple[datetime, int, int], Run | None, str, str, Record | None]] = [
                ((r.scheduled_for, r.attempt, int(r.id)), r, r.id, r.job_id, None)
                for r in unfinished
                if wanted.matches(r)
            ]
            if wanted.status is None or wanted.status.finished:
                for owner, records in done:
                    for run_id, record in records.items():
                        slot, _, attempt = head(record)
                        key = RunKey(slot, attempt, int(run_id))
                        if _within(bounds, key):
                            pool.append((key.sort_key(), None, run_id, owner, record))
        pool.sort(key=lambda entry: entry[0], reverse=True)
        found: list[Run] = []
        for _, live, run_id, owner, packed in pool:
            if live is None:
                assert packed is not None
                live = unpack(run_id, owner, packed)
                if wanted.status is not None and live.status is not wanted.status:
                    continue
            found.append(live)
            if len(found) >= limit:
                break
        return found

    def last_finished(self, job_id: str, status: RunStatus | None = None) -> Run | None:
        """The run of ``job_id`` that finished last (optionally with ``status``)."""
        key = "" if status is None else status.value
        with self._lock:
            done = self._done.get(job_id)
            if not done:
                return None
            latest = self._latest.get(job_id)
            if latest is None:
                latest = self._latest[job_id] = self._scan_latest(job_id, done)
            run_id = latest.get(key)
            return None if run_id is None else unpack(run_id, job_id, done[run_id])

    def _scan_latest(self, job_id: str, done: dict[str, Record]) -> dict[str, str]:
        best: dict[str, tuple[datetime, int, str]] = {}
        for run_id, record in done.items():
            finished = head(record)[1]
            if finished is None:
                continue
            status = unpack(run_id, job_id, record).status.value
            rank = (finished, int(run_id), run_id)
            for key in ("", status):
                if key not in best or best[key] < rank:
                    best[key] = rank
        return {key: rank[2] for key, rank in best.items()}

    def renew_leases(self, node: str, until: datetime) -> int:
        """Extend the lease of every unfinished run owned by ``node``."""
        count = 0
        with self._lock:
            runs = self._runs
            for run_id, run in list(runs.items()):
                if run.node == node:
                    # Every claimed run ahead of its slot is renewed too, thousands at a time
                    # under load: a fast copy, not replace() by field name.
                    runs[run_id] = with_lease(run, lease_until=until)
                    count += 1
        return count

    def owners(self) -> list[str]:
        """The nodes that own unfinished runs."""
        with self._lock:
            return sorted({run.node for run in self._runs.values() if run.node is not None})

    def unfinished_runs(self, node: str) -> list[Run]:
        """The unfinished runs owned by ``node``."""
        with self._lock:
            return [run for run in self._runs.values() if run.node == node]

    def expire_leases(self, now: datetime, dead: Collection[str] = ()) -> list[Run]:
        """Mark owned unfinished runs with an expired lease, or of a dead node, as lost."""
        lost = []
        with self._lock:
            for run in list(self._runs.values()):
                if run.node is None:
                    continue
                if run.node in dead or (run.lease_until is not None and run.lease_until < now):
                    done = run.replace(
                        status=RunStatus.LOST,
                        finished_at=now,
                        error=lost_error(run.node, dead),
                    )
                    self._finish(done)
                    lost.append(done)
                    job = self._jobs.get(run.job_id)
                    retry = next_attempt(done, job, now) if job is not None else None
                    if retry is not None:
                        self._insert(retry)
        return lost

    def request_cancel(self, run_id: str, now: datetime) -> Run:
        """Flag a run for cancellation; an unowned scheduled run is cancelled at once."""
        with self._lock:
            run = self.get_run(run_id)
            if run.status.finished:
                return run
            if run.status is RunStatus.SCHEDULED and run.node is None:
                run = run.replace(
                    status=RunStatus.CANCELLED, finished_at=now, error="cancelled before start"
                )
                self._finish(run)
            else:
                run = run.replace(cancel_requested=True)
                self._runs[run.id] = run
            return run

    def cancel_requests(self, node: str) -> list[Run]:
        """Unfinished runs of ``node`` flagged for cancellation."""
        with self._lock:
            return [r for r in self._runs.values() if r.node == node and r.cancel_requested]

    def prune(
        self, now: datetime, keep_last: int | None = None, older_than: timedelta | None = None
    ) -> int:
        """Delete finished runs beyond ``keep_last`` per job or older than ``older_than``.

        Takes the lock one job at a time, so claims interleave with a long prune.
        """
        removed = 0
        cutoff = None if older_than is None else now - older_than
        for job_id in list(self._done):
            with self._lock:
                done = self._done.get(job_id)
                if not done:
                    continue
                if cutoff is None and (keep_last is None or len(done) <= keep_last):
                    continue
                ranked = []
                for run_id, record in done.items():
                    slot, finished, attempt = head(record)
                    ranked.append(((slot, attempt), finished or slot, run_id))
                ranked.sort(reverse=True)
                doomed: set[str] = set()
                if keep_last is not None:
                    doomed.update(run_id for _, _, run_id in ranked[keep_last:])
                if cutoff is not None:
                    doomed.update(run_id for _, ended, run_id in ranked if ended < cutoff)
                removed += self._delete_done(job_id, doomed)
        return removed


_MISSING: Any = object()


class _Undo:
    """What a sync changes in a MemoryStore, saved before it changes, to put back on failure.

    Jobs and heaps are copied whole (one entry per job: cheap next to a sync); the per-job
    run indexes only for the jobs the sync touches, as it reaches them.
    """

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.jobs = dict(store._jobs)
        self.next_at = dict(store._next_at)
        self.due = list(store._due)
        self.pending = list(store._pending)
        self.seen: set[str] = set()
        self.entries: list[tuple[dict[Any, Any], Any, Any]] = []

    def save(self, job_id: str) -> None:
        """Keep ``job_id``'s parked, open and slot entries (and its open runs) as they are."""
        if job_id in self.seen:
            return
        self.seen.add(job_id)
        store = self.store
        indexes: tuple[dict[str, Any], ...] = (store._parked, store._open, store._slots)
        for index in indexes:
            value = index.get(job_id, _MISSING)
            self.entries.append((index, job_id, value if value is _MISSING else copy.copy(value)))
        for run_id in store._open.get(job_id, ()):
            self.entries.append((store._runs, run_id, store._runs[run_id]))

    def restore(self) -> None:
        """Put every saved entry back, in place (other code holds these containers)."""
        store = self.store
        store._jobs.clear()
        store._jobs.update(self.jobs)
        store._next_at.clear()
        store._next_at.update(self.next_at)
        store._due[:] = self.due
        store._pending[:] = self.pending
        for index, key, value in reversed(self.entries):
            if value is _MISSING:
                index.pop(key, None)
            else:
                index[key] = value


def _within(bounds: RunFilter, key: RunKey) -> bool:
    """True when a finished record's key lies in the slot bounds and after the page's key."""
    if bounds.since is not None and key.scheduled_for < bounds.since:
        return False
    if bounds.until is not None and key.scheduled_for >= bounds.until:
        return False
    return bounds.after is None or key.sort_key() < bounds.after.sort_key()
