"""A local webhook receiver for notification tests: an HTTP server on 127.0.0.1 in a thread.

It records every POST (path and JSON body), answers with the status codes it is told to (200
once they run out), and can hang until released, as a stuck receiver would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """What the server saw and how it answers; ``url`` is its address."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.requests = 0  # every request, answered or not
        self.authorizations: list[str | None] = []  # the Authorization header of each
        self.answers: list[int] = []  # status codes to answer with, first first
        self.hang = threading.Event()  # set: requests wait until released
        self.released = threading.Event()
        self._lock = threading.Lock()

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        """The JSON documents received (at ``path`` only, if given), in order."""
        with self._lock:
            return [body for p, body in self.posts if path is None or p == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10.0) -> None:
        """Wait (in real time) until ``count`` documents arrived (at ``path``)."""
        give_up = time.monotonic() + timeout
        while len(self.bodies(path)) < count:
            if time.monotonic() > give_up:
                raise AssertionError(f"{len(self.bodies(path))} of {count} notifications came")
            time.sleep(0.005)

    def handle(self, path: str, body: bytes, authorization: str | None = None) -> int:
        with self._lock:
            self.requests += 1
            self.authorizations.append(authorization)
        if self.hang.is_set():
            self.released.wait(30)
        with self._lock:
            status = self.answers.pop(0) if self.answers else 200
            if status < 300:
                self.posts.append((path, json.loads(body)))
        return status


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Serve a `Receiver` on a free loopback port for the length of the block."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = holder[0].handle(self.path, body, self.headers.get("Authorization"))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test reads what arrived; stderr stays quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        holder[0].released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
