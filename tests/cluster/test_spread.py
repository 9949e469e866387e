"""Work is spread over the nodes of one PostgreSQL database, not funnelled through one.

Three nodes (three schedulers, each with a store of its own, on one test database) share 60
jobs firing every second for some seconds of real time; each node must run a fair share of
the runs. Generous bounds: a share between 15% and 55% (a third is 33%).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from cronwork import AsyncScheduler, RunStatus
from cronwork.targets import TaskRegistry

pytest.importorskip("psycopg", reason="needs the cronwork[postgres] extra")

from cronwork.stores.postgres import PostgresStore

pytestmark = pytest.mark.slow

JOBS = 60
WATCH_FOR = 6.0


def nothing() -> None:
    """A job that does nothing."""


async def three_nodes(url: str) -> Counter[str]:
    """Run JOBS jobs every second on three nodes for WATCH_FOR seconds; runs per node."""
    stores = [PostgresStore(url) for _ in range(3)]
    try:
        nodes = []
        for number, store in enumerate(stores):
            tasks = TaskRegistry()
            tasks.register("nothing", nothing)
            nodes.append(AsyncScheduler(store, tasks=tasks, timezone="UTC", node=f"node{number}"))
        for n in range(JOBS):
            await nodes[0].add_job(f"job{n}", "nothing", "every 1s")
        async with nodes[0], nodes[1], nodes[2]:
            await asyncio.sleep(WATCH_FOR)
        runs = await nodes[0].runs(limit=100_000)
        return Counter(r.node for r in runs if r.status is RunStatus.SUCCEEDED)
    finally:
        for store in stores:
            store.close()


def test_three_nodes_each_run_a_fair_share(url: str) -> None:
    per_node = asyncio.run(three_nodes(url))
    total = sum(per_node.values())
    assert total >= JOBS * (WATCH_FOR - 2)
    shares = {node: per_node[node] / total for node in ("node0", "node1", "node2")}
    assert all(0.15 <= share <= 0.55 for share in shares.values()), shares
