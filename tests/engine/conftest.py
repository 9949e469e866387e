"""Fixtures for engine tests; the helpers live in enginekit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from enginekit import START

from cronwork.stores import MemoryStore, SqliteStore, Store
from cronwork.testing import FakeClock
from pgkit import database_url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An open, empty store of each kind, kept across schedulers.

    SQLite lives in a file in tmp_path; PostgreSQL in a database of the test's own on the
    local server (see pgkit; without a server these tests skip, and fail under CI=true).
    A test marked ``stores(kind, ...)`` runs on those kinds only, for the reason beside it.
    """
    only = request.node.get_closest_marker("stores")
    if only is not None and request.param not in only.args:
        pytest.skip(f"runs on the {' and '.join(only.args)} stores only (reason beside it)")
    if request.param != "postgres":
        opened: Store = (
            MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "e.db")
        )
        opened.open()
        yield opened
        opened.close()
        return
    from cronwork.stores.postgres import PostgresStore

    databases = request.getfixturevalue("postgres_databases")
    name = databases.lease()
    postgres = PostgresStore(database_url(name))
    postgres.open()
    try:
        yield postgres
    finally:
        postgres.close()
        databases.give_back(name)
