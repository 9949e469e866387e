"""Nodes on one PostgreSQL database hear of each other's changes before their next poll.

The node under test polls once a fake hour and the fake clock stands still, so only a
notification (LISTEN/NOTIFY) can explain that it sees a change made elsewhere; the other
side is a scheduler that is never started, as the command line is. A listener that lost its
connection leaves the node polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from enginekit import START, eventually, kept, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.testing import FakeClock
from pgkit import Databases, cut_connections, database_url, refusing_connections

pytest.importorskip("psycopg", reason="needs the cronwork[postgres] extra")

from cronwork.stores.pglisten import APPLICATION_NAME
from cronwork.stores.postgres import PostgresStore

# Generous: a notification arrives in milliseconds, and nothing else would wake the node.
WAKE = 10.0


@pytest.fixture
def url(postgres_databases: Databases) -> Iterator[str]:
    """A database with cronwork's schema and no jobs, for this test only."""
    name = postgres_databases.lease()
    yield database_url(name)
    postgres_databases.give_back(name)


@pytest.fixture
def stores(url: str) -> Iterator[Callable[[], PostgresStore]]:
    """Open stores on the test's database, one per process they stand for."""
    made: list[PostgresStore] = []

    def make() -> PostgresStore:
        store = PostgresStore(url)
        store.open()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def pair(
    stores: Callable[[], PostgresStore], clock: FakeClock, elsewhere: FakeClock | None = None
) -> tuple[AsyncScheduler, AsyncScheduler]:
    """A node that polls once an hour, and a scheduler of another process on the same
    database that is never started (as the command line)."""
    node = AsyncScheduler(stores(), clock=clock, timezone="UTC", poll_interval="1h")
    other = AsyncScheduler(stores(), clock=elsewhere or clock, timezone="UTC")
    return node, other


def target(node: AsyncScheduler, other: AsyncScheduler, func: Callable[..., Any]) -> Any:
    """``func`` as a task both schedulers know by the same name."""
    kept(other, func)
    return kept(node, func)


@run_async
async def test_a_trigger_elsewhere_starts_the_run_on_the_node_at_once(
    clock: FakeClock, stores: Callable[[], PostgresStore]
) -> None:
    fired: list[object] = []
    node, other = pair(stores, clock)
    await other.add_job("daily", target(node, other, lambda: fired.append(1)), "0 9 * * *")
    async with node:
        await other.trigger("daily")
        await eventually(lambda: bool(fired), WAKE)
    assert fired == [1]


@run_async
async def test_a_job_added_elsewhere_and_due_now_runs_without_waiting_for_a_poll(
    clock: FakeClock, stores: Callable[[], PostgresStore]
) -> None:
    fired: list[object] = []
    # The other process's clock is a second behind, so the job it adds is due on the node now.
    node, other = pair(stores, clock, FakeClock(START - timedelta(seconds=1)))
    async with node:
        await other.add_job("once", target(node, other, lambda: fired.append(1)), START)
        await eventually(lambda: bool(fired), WAKE)
    assert fired == [1]


@run_async
async def test_a_cancel_elsewhere_reaches_the_running_run_at_once(
    clock: FakeClock, stores: Callable[[], PostgresStore]
) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(60)

    node, other = pair(stores, clock)
    await other.add_job("slow", target(node, other, slow), "0 9 * * *")
    async with node:
        run = await other.trigger("slow")
        await asyncio.wait_for(started.wait(), WAKE)
        await other.cancel(run.id)

        async def cancelled() -> bool:
            return (await other.runs("slow"))[0].status is RunStatus.CANCELLED

        deadline = asyncio.get_running_loop().time() + WAKE
        while not await cancelled():
            assert asyncio.get_running_loop().time() < deadline, "the cancel did not arrive"
            await asyncio.sleep(0.01)


@run_async
async def test_a_node_whose_listener_is_cut_sees_changes_at_its_next_poll(
    clock: FakeClock, stores: Callable[[], PostgresStore], url: str
) -> None:
    fired: list[object] = []
    node, other = pair(stores, clock)
    await other.add_job("daily", target(node, other, lambda: fired.append(1)), "0 9 * * *")
    store = node.store
    assert isinstance(store, PostgresStore)
    async with node:
        assert store.listening
        with refusing_connections(url):
            assert cut_connections(url, APPLICATION_NAME) == 1
            await eventually(lambda: not store.listening, WAKE)
            await other.trigger("daily")
            # Polled once an hour: the trigger is seen at the next poll, not before.
            await clock.run_for(timedelta(hours=1))
            assert fired == [1]
            assert not store.listening
        # Back, the listener reconnects on its own (after its backoff).
        await eventually(lambda: store.listening, 30)
