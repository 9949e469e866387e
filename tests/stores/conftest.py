"""Shared fixtures: every contract test runs once per store kind.

To add a store (PostgreSQL), add its name to STORES and a branch in ``_new_store``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from storekit import StoreFactory

from cronwork.stores import MemoryStore, SqliteStore, Store

STORES = ["memory", "sqlite"]


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
def make_store(store_kind: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of fresh, open, empty stores of the kind under test."""
    numbers = itertools.count()
    made: list[Store] = []

    def make() -> Store:
        store = _new_store(store_kind, tmp_path, next(numbers))
        store.open()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    """A fresh open store of the kind under test."""
    return make_store()
