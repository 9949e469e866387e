"""Fixtures of the dashboard's in-process tests: stores, and clients of the app over them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dashkit import BASE, READ_TOKEN, TOKEN
from fastapi.testclient import TestClient

from cronwork.stores import MemoryStore, SqliteStore, Store
from cronwork.web import create_app


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind the dashboard reads differently."""
    if request.param == "postgres":
        from cronwork.stores.postgres import PostgresStore
        from pgkit import database_url

        databases = request.getfixturevalue("postgres_databases")
        name = databases.lease()
        postgres = PostgresStore(database_url(name))
        postgres.open()
        yield postgres
        postgres.close()
        databases.give_back(name)
        return
    opened: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "d.db")
    opened.open()
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """An empty SQLite store."""
    opened = SqliteStore(tmp_path / "pages.db")
    opened.open()
    yield opened
    opened.close()


@pytest.fixture
def client_of() -> Iterator[Callable[[Store], TestClient]]:
    """A client of the app over a store, with a token and a read-only token (none sent)."""
    clients: list[TestClient] = []

    def make(store: Store) -> TestClient:
        client = TestClient(
            create_app(store, token=TOKEN, read_token=READ_TOKEN),
            base_url=BASE,
            follow_redirects=False,
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
