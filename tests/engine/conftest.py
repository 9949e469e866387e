"""Fixtures for engine tests; the helpers live in enginekit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from enginekit import START

from cronwork.stores import MemoryStore, SqliteStore, Store
from cronwork.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An open, empty store of each kind (SQLite in a file), kept across schedulers."""
    opened: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "e.db")
    opened.open()
    yield opened
    opened.close()
