"""PostgreSQL ``LISTEN``: wake this process's engine when another process changes what is due.

A writing store notifies the channel (``NOTIFY``, sent at commit) when it adds, changes or
removes a job, inserts a manual run, or flags a run for cancelling; never per ordinary run,
since notifying serializes committing transactions on the server. A `Listener` holds one
connection of its own that listens on the channel, on a thread that sleeps in ``select``
until the server writes to it. Notifications a store sent itself are ignored (the process
knows its own changes). When the connection breaks, the listener reconnects with backoff
and logs the outage once; meanwhile the engine goes on polling at its poll interval, and on
reconnecting it calls back once, for whatever changed while it was deaf.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable

import psycopg

from cronwork.backoff import Backoff

logger = logging.getLogger("cronwork.stores")

# A quiet connection is checked this often (seconds): a server that vanished without closing
# the connection (a cut network) would otherwise leave the listener waiting forever.
_CHECK_EVERY = 30.0
APPLICATION_NAME = "cronwork listener"


class Listener:
    """One listening connection and its thread; ``changed`` is called on that thread."""

    def __init__(
        self,
        conninfo: str,
        url: str,
        listen: str,
        token: str,
        changed: Callable[[], None],
        connect_timeout: int,
    ) -> None:
        self._conninfo = conninfo
        self._listen = listen
        self._token = token
        self._changed = changed
        self._connect_timeout = connect_timeout
        self.backoff = Backoff(f"listening for changes in {url}", logger)
        self._stop, self._stopper = socket.socketpair()
        self._stopping = threading.Event()
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._thread_name = f"PostgresStore listener {url}"
        self._thread: threading.Thread | None = None

    @property
    def listening(self) -> bool:
        """True while the connection listens (False during an outage)."""
        return self._conn is not None and not self._conn.closed

    def start(self) -> None:
        """Listen from now on: the first connection is made before this returns (if it can)."""
        delay = self._connect()
        self._thread = threading.Thread(
            target=self._run, args=(delay,), name=self._thread_name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection; returns once the thread has ended."""
        self._stopping.set()
        self._stopper.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._stop.close()
        self._stopper.close()

    def _connect(self) -> float:
        """Connect and listen; 0 when it worked, else how long to wait before trying again."""
        try:
            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                application_name=APPLICATION_NAME,
            )
        except psycopg.Error as exc:
            return self.backoff.failed(_oneline(exc))
        try:
            conn.execute(self._listen.encode())
        except psycopg.Error as exc:
            conn.close()
            return self.backoff.failed(_oneline(exc))
        self._conn = conn
        if self.backoff.succeeded():
            self._changed()  # a change may have gone unreported while the connection was down
        return 0.0

    def _run(self, delay: float) -> None:
        while not self._stopping.is_set():
            conn = self._conn
            if conn is None:
                if self._wait(delay):
                    break
                delay = self._connect()
                continue
            try:
                self._listen_on(conn)
            except psycopg.Error as exc:
                delay = self.backoff.failed(_oneline(exc))
            if self._stopping.is_set() or delay:
                conn.close()
                self._conn = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _listen_on(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        """Hand on notifications until told to stop; raise when the connection breaks."""
        while not self._stopping.is_set():
            stop = self._stop.fileno()
            ready, _, _ = select.select([conn.fileno(), stop], [], [], _CHECK_EVERY)
            if stop in ready:
                return
            if not ready:
                conn.execute("SELECT 1")  # a quiet connection: is the server still there?
                continue
            others = [n for n in conn.notifies(timeout=0) if n.payload != self._token]
            if others:
                self._changed()

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless told to stop; True when told to stop."""
        ready, _, _ = select.select([self._stop], [], [], seconds)
        return bool(ready) or self._stopping.is_set()


def _oneline(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
