"""Stores: where jobs and runs live. ``open_store`` turns a URL into a Store."""

from __future__ import annotations

from pathlib import Path

from cronwork.errors import StoreError
from cronwork.stores.base import Claim, Store
from cronwork.stores.memory import MemoryStore
from cronwork.stores.sqlite import SqliteStore

__all__ = ["Claim", "MemoryStore", "SqliteStore", "Store", "open_store", "sqlite_path_from_url"]


def sqlite_path_from_url(url: str) -> Path:
    """``sqlite:///rel.db`` is relative to the working folder, ``sqlite:////abs.db`` absolute."""
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or rest == "/":
        raise StoreError(
            f"store URL {url!r} has no file path: write sqlite:///relative.db "
            "or sqlite:////absolute/path.db"
        )
    path = rest[1:]
    if path == ":memory:":
        raise StoreError("sqlite :memory: cannot be shared between threads; use memory://")
    return Path(path)


def open_store(store: Store | str | None) -> Store:
    """Return a Store for a Store object, a URL or None.

    URLs: ``memory://``, ``sqlite:///x.db``, ``postgresql://user@host:5432/db`` (also
    ``postgres://``; needs the ``cronwork[postgres]`` extra).
    """
    if store is None:
        return MemoryStore()
    if not isinstance(store, str):
        if not isinstance(store, Store):
            raise StoreError(f"not a store or store URL: {store!r}")
        return store
    url = store.strip()
    if url in ("memory://", "memory:"):
        return MemoryStore()
    if url.startswith("sqlite://"):
        return SqliteStore(sqlite_path_from_url(url))
    if url.startswith(("postgresql://", "postgres://")):
        # Imported here: psycopg is an extra, needed only by this kind of URL.
        from cronwork.stores.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(
        f"unknown store URL {url!r}: use memory://, sqlite:///relative.db, "
        "sqlite:////absolute/path.db or postgresql://user@host:5432/database"
    )
