"""What a job's overlap policy does to a new run while runs of the job are still running.

One verdict, used by the engine when a run falls due and by `cronwork.operations` when a run
is triggered by hand, so that both say the same thing in the same words.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from cronwork.jobs import Job
from cronwork.policies import Overlap

__all__ = ["RUN", "OverlapVerdict", "oldest", "overlap_verdict"]

Action = Literal["run", "skip", "queue", "replace"]


@dataclass(frozen=True, slots=True)
class OverlapVerdict:
    """What happens to the new run, and why, in the words the engine logs and records."""

    action: Action
    #: Empty for "run"; for "skip" the reason a skipped run is recorded with (after "skipped:").
    reason: str = ""
    #: The running run the reason names (the oldest), if any.
    running: str | None = None

    @property
    def skipped(self) -> bool:
        """True when the new run is skipped."""
        return self.action == "skip"


#: The verdict when nothing stands in the way; one object, as it is the common case.
RUN = OverlapVerdict("run")


def oldest(run_ids: Collection[str]) -> str:
    """The oldest of these run ids: numeric ids by number, others as text."""
    return min(
        run_ids, key=lambda run_id: (len(run_id), run_id) if run_id.isdigit() else (0, run_id)
    )


def overlap_verdict(
    job: Job, running: Collection[str], *, queue_taken: bool = False
) -> OverlapVerdict:
    """What ``job.overlap`` does to a new run while the runs ``running`` (ids) still run.

    ``queue_taken`` says a run already waits behind them (overlap=queue keeps one).
    """
    if not running:
        return RUN
    policy = job.overlap
    first = oldest(running)
    if policy is Overlap.SKIP:
        return OverlapVerdict("skip", f"run {first} is still running (overlap=skip)", first)
    if policy is Overlap.ALLOW:
        if len(running) >= job.max_instances:
            return OverlapVerdict(
                "skip",
                f"{len(running)} run(s) still running, the most allowed "
                f"(overlap=allow, max_instances={job.max_instances})",
                first,
            )
        return RUN
    if policy is Overlap.QUEUE:
        if queue_taken:
            return OverlapVerdict("skip", "a run is already waiting (overlap=queue)", first)
        return OverlapVerdict("queue", f"queued behind run {first} (overlap=queue)", first)
    return OverlapVerdict(
        "replace", f"replacing run {first}, which is cancelled (overlap=replace)", first
    )
