"""Overlap across nodes: runs of jobs that other nodes also run look at the store first.

On a clustered store (`cronwork.stores.base.Clustered`, PostgreSQL) several nodes claim the
slots of one job, so a job's overlap policy and ``max_instances`` must count the runs of
every node. Each claim names the jobs of its runs that had unfinished runs on another node
(``Claim.contended``, one query per claim); a run of any other job is admitted as on one
node, with no extra query. A run of a contended job, when it falls due, waits for one look
at the store (`Clustered.runs_elsewhere`, one query for all the runs falling due together),
and the runs it finds count as in flight: those running, and those waiting to start that
fell due before it (they are ahead of it, and start before it or not at all).

Whatever the order in which nodes claim, a node that inserts a run of a job after another
node's unfinished run of it sees that run in its claim, so the later run is the one that
checks. Adopting a retry or manual run locks the job's row as claiming does (a run whose
job another node holds is left for that node or the next claim), so it takes its turn in
that order too. A run that must wait for runs of other nodes to end (overlap=queue,
catch-up runs) looks again every second; overlap=replace asks the other node to cancel its
run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cronwork.runs import Run, RunStatus
from cronwork.stores.base import Claim, Clustered

from .runstate import isolated, logger

if TYPE_CHECKING:
    from .core import Engine

#: How long a run waiting for runs of other nodes to end waits before it looks again.
LOOK_AGAIN = timedelta(seconds=1)


def ahead_of(run: Run, other: Run) -> bool:
    """True when ``other`` (of another node) counts against ``run``: it runs, or it fell
    due before it."""
    if other.status is RunStatus.RUNNING:
        return True
    mine = (run.due_at or run.scheduled_for, len(run.id), run.id)
    theirs = (other.due_at or other.scheduled_for, len(other.id), other.id)
    return theirs < mine


class Contention:
    """The jobs this engine shares with other nodes, and the runs checked against them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        store = engine.store
        self.store: Clustered | None = store if isinstance(store, Clustered) else None
        #: Jobs whose latest claim found unfinished runs on other nodes.
        self.contended: set[str] = set()
        #: Runs held here while they are checked or wait to look again, by id.
        self.held: dict[str, Run] = {}
        #: Per job, the run waiting for runs of other nodes to end (one, as overlap=queue).
        self.waiting: dict[str, str] = {}

    def noted(self, claim: Claim) -> None:
        """Remember which jobs of ``claim`` other nodes run too (the latest claim wins)."""
        if self.store is None:
            return
        contended = claim.contended
        for run in claim.runs:
            if run.job_id in contended:
                self.contended.add(run.job_id)
            elif self.contended:
                self.contended.discard(run.job_id)

    def admit_now(self, runs: list[Run]) -> list[Run]:
        """The runs to admit at once; runs of contended jobs are checked with the store first."""
        contended = self.contended
        if not contended or not runs:
            return runs
        checked = [run for run in runs if run.job_id in contended]
        if not checked:
            return runs
        self._check(checked)
        return [run for run in runs if run.job_id not in contended]

    def wait_for_others(self, run: Run) -> bool:
        """Hold ``run`` until the runs of other nodes that block it end; False when another
        run of its job waits so already."""
        if run.job_id in self.waiting:
            return False
        self.waiting[run.job_id] = run.id
        self.held[run.id] = run
        self.engine.spawn(self._look_again(run))
        return True

    def cancel_elsewhere(self, run_ids: Iterable[str], now: datetime) -> None:
        """Ask the nodes running these runs to cancel them (overlap=replace)."""
        store = self.engine.store
        for run_id in run_ids:
            self.engine.spawn(self.engine.off_loop(store.request_cancel, run_id, now))

    def hand_back(self) -> list[Run]:
        """The runs held here (at stop)."""
        held = list(self.held.values())
        self.held.clear()
        self.waiting.clear()
        return held

    async def _look_again(self, run: Run) -> None:
        await self.engine.clock.sleep_until(self.engine.clock.now() + LOOK_AGAIN)
        if self.held.pop(run.id, None) is None or self.engine.stopping:
            return
        self.waiting.pop(run.job_id, None)
        self._check([run])

    def _check(self, runs: list[Run]) -> None:
        for run in runs:
            self.held[run.id] = run
        self.engine.spawn(self._checked(runs))

    async def _checked(self, runs: list[Run]) -> None:
        engine = self.engine
        assert self.store is not None
        job_ids = {run.job_id for run in runs}
        try:
            found = await engine.off_loop(
                self.store.runs_elsewhere, job_ids, engine.s.node, engine.clock.now()
            )
        except Exception as exc:
            # Unknown is not "free": the runs look again once the store answers.
            logger.warning("could not look for runs on other nodes (%s); looking again", exc)
            await engine.clock.sleep_until(engine.clock.now() + LOOK_AGAIN)
            if not engine.stopping:
                self._checked_later(runs)
            return
        if engine.stopping:
            return
        others: dict[str, list[Run]] = {}
        for other in found:
            others.setdefault(other.job_id, []).append(other)
        now = engine.clock.now()
        admission = engine.admission
        entries = []
        for run in runs:
            if self.held.pop(run.id, None) is None:
                continue  # handed back or cancelled meanwhile
            ahead = [o.id for o in others.get(run.job_id, ()) if ahead_of(run, o)]
            entries.append((run, ahead))
        isolated(
            entries,
            lambda entry: admission.arrive(entry[0], now, elsewhere=entry[1]),
            lambda entry, exc: admission.fault(entry[0], exc),
        )
        admission.pump()
        engine.launcher.arm_dispatch()

    def _checked_later(self, runs: list[Run]) -> None:
        still = [run for run in runs if run.id in self.held]
        if still:
            self.engine.spawn(self._checked(still))

    def forget(self, run_id: str) -> Run | None:
        """Let go of a held run (cancelled or disowned); the run, if it was held."""
        run = self.held.pop(run_id, None)
        if run is not None and self.waiting.get(run.job_id) == run_id:
            del self.waiting[run.job_id]
        return run
