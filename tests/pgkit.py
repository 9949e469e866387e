"""Test databases on this machine's PostgreSQL, one per store, never shared by two tests.

The server is ``$CRONWORK_TEST_POSTGRES_URL`` (default: the local server's ``postgres``
database as user ``postgres``). Each test session (each xdist worker) creates a template
database with cronwork's schema once, copies it for every store a test makes, and empties a
copy for the next test when the previous one has ended with it: creating a database takes
~0.1 s and dropping one ~0.7 s (a checkpoint), emptying it milliseconds. Everything this
session created is dropped at its end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_URL = os.environ.get("CRONWORK_TEST_POSTGRES_URL", DEFAULT_URL)


def database_url(name: str) -> str:
    """The server's URL with ``name`` as its database."""
    return urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))


def unavailable(reason: str) -> None:
    """Skip the test for lack of a server; under CI=true fail instead: CI must test it."""
    message = f"PostgreSQL at {SERVER_URL} is unavailable ({reason})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true requires it (see .ci/run)", pytrace=False)
    pytest.skip(f"{message}; set CRONWORK_TEST_POSTGRES_URL to test the PostgreSQL store")


class Databases:
    """The databases of one test session on the server at SERVER_URL."""

    def __init__(self) -> None:
        import psycopg

        from cronwork.stores.postgres import PostgresStore

        self._admin = psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=3)
        self.prefix = f"cronwork_test_{secrets.token_hex(4)}"
        self.template = f"{self.prefix}_template"
        self._created: list[str] = []
        self._free: list[str] = []
        self._empty: list[str] = []
        self._number = 0
        self._create(self.template)
        migrate = PostgresStore(database_url(self.template))
        migrate.open()
        migrate.close()

    def _create(self, name: str, template: str | None = None) -> None:
        # WAL_LOG copies a small template in ~0.1 s; FILE_COPY forces a checkpoint.
        copy = f" TEMPLATE {template} STRATEGY WAL_LOG" if template else ""
        self._admin.execute(f"CREATE DATABASE {name}{copy}".encode())
        self._created.append(name)

    def _name(self) -> str:
        self._number += 1
        return f"{self.prefix}_{self._number}"

    def lease(self) -> str:
        """The name of an empty database with cronwork's schema, for one store of one test."""
        if self._free:
            return self._free.pop()
        name = self._name()
        self._create(name, self.template)
        return name

    def give_back(self, name: str) -> None:
        """Empty a leased database for the next test; its stores must be closed.

        A database the test left unfit (a table dropped) is not used again.
        """
        import psycopg

        from cronwork.stores.postgres import SCHEMA_VERSION

        reset = (
            "DELETE FROM runs; DELETE FROM jobs; "
            f"UPDATE cronwork_schema SET version = {SCHEMA_VERSION}"
        )
        try:
            with psycopg.connect(database_url(name), autocommit=True) as conn:
                conn.execute(reset.encode())
        except psycopg.Error:
            return  # dropped with the others at the end of the session
        self._free.append(name)

    def empty(self) -> str:
        """The name of a database without any schema, for one test."""
        if self._empty:
            return self._empty.pop()
        name = self._name()
        self._create(name)
        return name

    def give_back_empty(self, name: str) -> None:
        """Drop whatever a test created in an empty database, for the next test."""
        import psycopg

        with psycopg.connect(database_url(name), autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        self._empty.append(name)

    def close(self) -> None:
        """Drop every database this session created."""
        for name in reversed(self._created):
            self._admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())
        self._admin.close()


def open_databases() -> Databases:
    """The session's Databases, or skip (fail under CI) when the server cannot be reached."""
    try:
        import psycopg
    except ImportError:
        unavailable("the psycopg driver is not installed: pip install 'cronwork[postgres]'")
        raise
    try:
        return Databases()
    except psycopg.OperationalError as exc:
        unavailable(str(exc).strip().splitlines()[0])
        raise


def cut_connections(url: str, application_name: str | None = None) -> int:
    """End the server processes of ``url``'s database (of one application name, if given), as
    ``pg_terminate_backend`` does when an operator or a failover cuts them; how many."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    query = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid() "
        "AND (%s::text IS NULL OR application_name = %s::text)"
    )
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        row = admin.execute(query, (name, application_name, application_name)).fetchone()
    return 0 if row is None else int(row[0])


@contextmanager
def refusing_connections(url: str) -> Iterator[None]:
    """While inside, the server refuses new connections to ``url``'s database (as one that is
    down or restarting would); connections already open stay, unless cut too."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false".encode())
        try:
            yield
        finally:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true".encode())
