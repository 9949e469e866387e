"""A node whose PostgreSQL server goes away: it waits with backoff, logs the outage once and
its end once, starts nothing once its leases could have run out, and goes on afterwards.

The outage is the test database refusing new connections while its open ones are cut
(``pg_terminate_backend``), as during a restart; time is fake, so the leases run out in
milliseconds. Each failed attempt waits for the connection timeout (two real seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from enginekit import START, eventually, kept, run_async

from cronwork import AsyncScheduler, RunStatus
from cronwork.testing import FakeClock
from pgkit import Databases, cut_connections, database_url, refusing_connections

pytest.importorskip("psycopg", reason="needs the cronwork[postgres] extra")

from cronwork.stores.postgres import PostgresStore

pytestmark = pytest.mark.slow


@pytest.fixture
def url(postgres_databases: Databases) -> Iterator[str]:
    """A database with cronwork's schema and no jobs, for this test only."""
    name = postgres_databases.lease()
    yield database_url(name)
    postgres_databases.give_back(name)


def store_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the engine logged about reaching its store."""
    return [
        " ".join(r.getMessage().split()[:3])
        for r in caplog.records
        if r.getMessage().startswith("the store ") and r.levelno >= logging.WARNING
    ]


def attempts_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Lines logged per failed connection attempt (there must be none)."""
    return [r.getMessage() for r in caplog.records if "error connecting" in r.getMessage()]


@run_async
async def test_connections_the_server_cuts_are_replaced_without_an_outage(
    clock: FakeClock, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    fired: list[object] = []
    # The default connect timeout (10 s): a new connection on a loaded machine may take more
    # than a second, which would be an outage of its own.
    store = PostgresStore(url)
    try:
        node = AsyncScheduler(store, clock=clock, timezone="UTC")
        await node.add_job("tick", kept(node, lambda: fired.append(clock.now())), "every 10s")
        async with node:
            for _ in range(3):
                assert cut_connections(url) >= 1  # the pool's and the listener's
                await clock.run_for(timedelta(seconds=10))
            await eventually(lambda: store.listening, 30)
        assert len(fired) == 3
        assert store_messages(caplog) == []
        assert attempts_logged(caplog) == []
    finally:
        store.close()


@run_async
async def test_an_outage_is_logged_once_each_way_and_the_node_goes_on_after_it(
    clock: FakeClock, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    fired: list[object] = []
    store = PostgresStore(url, connect_timeout=2)
    try:
        node = AsyncScheduler(store, clock=clock, timezone="UTC")
        await node.add_job("tick", kept(node, lambda: fired.append(clock.now())), "every 10s")
        async with node:
            await clock.run_for(timedelta(seconds=10))
            assert fired == [START + timedelta(seconds=10)]
            with refusing_connections(url):
                assert cut_connections(url) >= 1
                # Attempts after 0.5, 1, 2, 4, 8 and 15 s: several failures, one warning.
                await clock.run_for(timedelta(seconds=45))
                assert len(fired) == 1
                assert store_messages(caplog) == ["the store failed:"]
            # The next attempt (at most 15 s later) finds the server back.
            await clock.run_for(timedelta(seconds=30))
        assert fired[-1] >= START + timedelta(seconds=60)
        assert store_messages(caplog) == ["the store failed:", "the store works"]
        assert attempts_logged(caplog) == []
        runs = await node.runs("tick", limit=100)
        assert not [r for r in runs if r.status is RunStatus.RUNNING]
    finally:
        store.close()


@run_async
async def test_once_its_leases_could_have_run_out_a_node_starts_nothing_it_held(
    clock: FakeClock, url: str
) -> None:
    release = asyncio.Event()
    started: list[str] = []

    async def hold() -> None:
        started.append("hold")
        await release.wait()

    store = PostgresStore(url, connect_timeout=2)
    other = PostgresStore(url)
    try:
        node = AsyncScheduler(store, clock=clock, timezone="UTC", max_running=1, lease=30)
        await node.add_job("hold", kept(node, hold), START + timedelta(seconds=1))
        await node.add_job(
            "next", kept(node, lambda: started.append("next")), START + timedelta(seconds=2)
        )
        # Another node; its first call fixes its fake clock's offset to the real one, as the
        # node's own start does, so that both judge leases alike.
        other.open()
        assert other.expire_leases(clock.now()) == []
        async with node:
            engine = node._engine
            assert engine is not None
            # "hold" takes the only place; "next" is claimed and waits for it.
            await clock.run_for(timedelta(seconds=2), wait_for_runs=False)
            assert started == ["hold"]
            [waiting] = [run for run, _, _ in engine.admission.ready]
            with refusing_connections(url):
                cut_connections(url)
                # The leases (30 s) run out unrenewed; then the place frees up.
                await clock.run_for(timedelta(seconds=40), wait_for_runs=False)
                release.set()
                await eventually(lambda: not engine.admission.active)
                assert started == ["hold"], "a run started after its lease could have run out"
            # The other node, meanwhile, takes the runs whose leases ran out as lost.
            lost = other.expire_leases(clock.now())
            assert waiting.id in [run.id for run in lost]
            # Back in touch, the node lets the lost run go instead of running it.
            await clock.run_for(timedelta(seconds=30), wait_for_runs=False)
            assert not engine.admission.unstarted()
        assert started == ["hold"]
        assert other.get_run(waiting.id).status is RunStatus.LOST
    finally:
        store.close()
        other.close()
