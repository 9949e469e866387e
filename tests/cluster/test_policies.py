"""Overlap and ``max_instances`` hold across the nodes of one PostgreSQL database.

Two nodes (two schedulers, each with a store of its own, on one test database) share jobs
whose runs last longer than the interval between their slots. Real time, generous: the jobs
record when they start and end, and the test checks from those records, not from the
store's, that a job never had more runs at once than its policy allows.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cronwork import AsyncScheduler, RunStatus
from cronwork.targets import TaskRegistry

pytest.importorskip("psycopg", reason="needs the cronwork[postgres] extra")

from cronwork.stores.postgres import PostgresStore

pytestmark = pytest.mark.slow

# Each run lasts this long, longer than the second between slots.
RUN_FOR = 1.6
WATCH_FOR = 8.0


class Spans:
    """When each run of the jobs started and ended, as the jobs themselves saw it."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float, str]]] = {}

    def task(self, job_id: str, node: str) -> Any:
        """A job body that holds for RUN_FOR seconds and records its span."""

        async def hold() -> None:
            began = time.monotonic()
            try:
                await asyncio.sleep(RUN_FOR)
            finally:
                # A run cut off by the nodes' stop ran too: on a loaded machine the nodes
                # start late, and the last runs of the watch are most of those that overlap.
                self.spans.setdefault(job_id, []).append((began, time.monotonic(), node))

        return hold

    def most_at_once(self, job_id: str) -> int:
        """The most runs of ``job_id`` that were executing at one moment."""
        edges = sorted(
            [(began, 1) for began, _, _ in self.spans[job_id]]
            + [(ended, -1) for _, ended, _ in self.spans[job_id]]
        )
        at_once = most = 0
        for _, step in edges:
            at_once += step
            most = max(most, at_once)
        return most

    def nodes(self, job_id: str) -> set[str]:
        """The nodes that ran ``job_id``."""
        return {node for _, _, node in self.spans[job_id]}


async def two_nodes(url: str, spans: Spans, jobs: dict[str, dict[str, Any]]) -> list[Any]:
    """Run ``jobs`` (id: options) every second on two nodes for WATCH_FOR seconds; their runs."""
    stores = [PostgresStore(url), PostgresStore(url)]
    nodes = []
    try:
        for number, store in enumerate(stores):
            tasks = TaskRegistry()
            for job_id in jobs:
                tasks.register(job_id, spans.task(job_id, f"node{number}"))
            node = AsyncScheduler(store, tasks=tasks, timezone="UTC", node=f"node{number}")
            nodes.append(node)
        for job_id, options in jobs.items():
            await nodes[0].add_job(job_id, job_id, "every 1s", replace=True, **options)
        async with nodes[0], nodes[1]:
            await asyncio.sleep(WATCH_FOR)
        return await nodes[0].runs(limit=1000)
    finally:
        for store in stores:
            store.close()


def test_two_nodes_never_run_an_overlap_skip_job_at_once(url: str) -> None:
    spans = Spans()
    jobs: dict[str, dict[str, Any]] = {f"skip{n}": {"overlap": "skip"} for n in range(12)}
    runs = asyncio.run(two_nodes(url, spans, jobs))
    for job_id in jobs:
        assert spans.most_at_once(job_id) == 1, f"{job_id} ran twice at once: {spans.spans}"
    # Both nodes claimed slots of the jobs, so the policy was tested across them; the
    # slots that came while a run went on (on either node) were skipped.
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    assert {r.node for r in runs} >= {"node0", "node1"}
    assert skipped, "slots that came while a run went on were not skipped"
    assert all("overlap=skip" in (r.error or "") for r in skipped)


def test_max_instances_counts_the_runs_of_every_node(url: str) -> None:
    spans = Spans()
    jobs: dict[str, dict[str, Any]] = {
        f"two{n}": {"overlap": "allow", "max_instances": 2} for n in range(12)
    }
    # Runs last longer than two slots apart: a third would start if nodes counted alone.
    global RUN_FOR
    saved, RUN_FOR = RUN_FOR, 2.6
    try:
        asyncio.run(two_nodes(url, spans, jobs))
    finally:
        RUN_FOR = saved
    for job_id in jobs:
        assert spans.most_at_once(job_id) <= 2, f"{job_id}: more than 2 at once: {spans.spans}"
    assert max(spans.most_at_once(job_id) for job_id in jobs) == 2
    assert set().union(*(spans.nodes(job_id) for job_id in jobs)) == {"node0", "node1"}
