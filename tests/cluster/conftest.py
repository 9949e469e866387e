"""What the cluster tests share: a PostgreSQL database of their own for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgkit import Databases, database_url


@pytest.fixture
def url(postgres_databases: Databases) -> Iterator[str]:
    """A database with cronwork's schema and no jobs, for this test only."""
    name = postgres_databases.lease()
    yield database_url(name)
    postgres_databases.give_back(name)
