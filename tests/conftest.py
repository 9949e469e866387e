"""Fixtures every test folder shares: the session's PostgreSQL test databases (see pgkit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgkit import Databases, open_databases


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Databases]:
    """The test databases of this session on the PostgreSQL server (see pgkit)."""
    databases = open_databases()
    yield databases
    databases.close()
