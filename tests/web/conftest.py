"""Fixtures of the in-process web tests: an app over a memory store, and its test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from webkit import BASE, READ_TOKEN, TOKEN, TRUSTED, WRITE

from cronwork.operations import Operations
from cronwork.stores import MemoryStore, Store
from cronwork.testing import FakeClock
from cronwork.web import create_app


@pytest.fixture
def store() -> Iterator[Store]:
    """A memory store holding one job whose target module the API may then call."""
    opened = MemoryStore()
    opened.open()
    Operations(opened, FakeClock()).add_job("seed", TRUSTED, "0 3 * * *", timezone="UTC")
    yield opened
    opened.close()


@pytest.fixture
def make_client(store: Store) -> Iterator[Callable[..., TestClient]]:
    """Start the app over ``store`` with create_app's keywords (tokens by default)."""
    clients: list[TestClient] = []

    def make(**options: Any) -> TestClient:
        options.setdefault("token", TOKEN)
        options.setdefault("read_token", READ_TOKEN if options["token"] else None)
        client = TestClient(create_app(store, **options), base_url=BASE)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """The app with a token and a read-only token; requests carry the token."""
    made = make_client()
    made.headers.update(WRITE)
    return made
