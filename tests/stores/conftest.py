"""Shared fixtures: every contract test runs once per store kind.

To add a store, add its name to STORES and a branch in ``_new_store``. PostgreSQL stores
each get a database of their own (see pgkit); without a server their tests skip.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from storekit import StoreFactory

from cronwork.stores import MemoryStore, SqliteStore, Store
from pgkit import Databases, database_url

if TYPE_CHECKING:
    from cronwork.stores.postgres import PostgresStore

STORES = ["memory", "sqlite", "postgres"]


def _new_store(kind: str, folder: Path, number: int) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SqliteStore(folder / f"store{number}.db")
    raise ValueError(kind)


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The name of the store under test."""
    return str(request.param)


@pytest.fixture
def make_store(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StoreFactory]:
    """A factory of fresh, open, empty stores of the kind under test."""
    numbers = itertools.count()
    made: list[Store] = []
    databases: Databases | None = None
    leased: list[tuple[PostgresStore, str]] = []
    if store_kind == "postgres":
        databases = request.getfixturevalue("postgres_databases")

    def make() -> Store:
        if databases is None:
            store = _new_store(store_kind, tmp_path, next(numbers))
        else:
            from cronwork.stores.postgres import PostgresStore

            # A test that makes many stores (one per hypothesis example) closes each one
            # before it makes the next: its database serves again.
            for pair in [pair for pair in leased if pair[0].closed]:
                leased.remove(pair)
                databases.give_back(pair[1])
            name = databases.lease()
            postgres = PostgresStore(database_url(name))
            leased.append((postgres, name))
            store = postgres
        store.open()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
    if databases is not None:
        for _store, name in leased:
            databases.give_back(name)


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    """A fresh open store of the kind under test."""
    return make_store()
