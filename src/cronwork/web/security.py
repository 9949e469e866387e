"""Headers every answer carries, and the Host check of a server without a token.

The Content-Security-Policy allows scripts, styles and images from this server only (no
inline script, nothing from elsewhere), and no framing. Without a token the server is bound
to loopback, where one attack remains: a web page whose own name resolves to 127.0.0.1 (DNS
rebinding) reading the API as if it were the same site. Refusing any ``Host`` but a loopback
name ends that.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Not no-referrer: under it browsers send "Origin: null" with their own same-site POSTs
    # (the login form, the dashboard's fetches), which the Origin check must then refuse.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def host_name(host: str) -> str:
    """The name part of a ``Host`` header value (without its port)."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class SecurityHeaders:
    """ASGI middleware: add ``HEADERS`` to every answer; with ``loopback_only``, refuse
    requests whose ``Host`` is not a loopback name (403)."""

    def __init__(self, app: ASGIApp, *, loopback_only: bool) -> None:
        self.app = app
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, adding the headers to its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.loopback_only and not _loopback_host(scope["headers"]):
            await _refuse_host(send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in HEADERS if name not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _loopback_host(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"host":
            return host_name(value.decode("latin-1").strip().lower()) in LOOPBACK_NAMES
    return True  # HTTP/1.0 without Host: nothing to rebind


async def _refuse_host(send: Send) -> None:
    body = json.dumps(
        {
            "error": "this server has no token and answers only to localhost names; "
            "set a token to serve other names",
            "field": "host",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
