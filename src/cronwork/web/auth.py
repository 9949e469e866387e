"""Who may do what: bearer tokens for programs, a session cookie for browsers.

Two tokens may be set: the token (read and change everything) and an optional read-only
token (list and read). Programs send ``Authorization: Bearer TOKEN``; browsers log in once
on ``/login`` and get an HttpOnly, SameSite=Strict session cookie that names the access it
grants, its expiry and a MAC keyed by the token itself, so sessions need no server state,
work on every node sharing the token, and all end when the token changes. Tokens are only
ever compared in constant time and never logged or put in a cookie.

A write through a session cookie must also prove it comes from our own pages: its
``Origin`` is this server's, or it carries the session's CSRF token (``X-CSRF-Token``).
With no token set (a loopback bind), everyone may do everything, and the same Origin rule
keeps other web sites from posting to the local server.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import time
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

SESSION_COOKIE = "cronwork_session"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Access(enum.IntEnum):
    """What a caller may do; higher includes lower."""

    NONE = 0
    READ = 1
    WRITE = 2


def _digest(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Tokens:
    """The configured tokens; none set means an open (loopback-only) server."""

    write: str | None = None
    read: str | None = None
    # Keys derived from the tokens: sessions are signed with them, never with a token.
    _keys: dict[Access, bytes] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for access, token in ((Access.WRITE, self.write), (Access.READ, self.read)):
            if token is not None:
                self._keys[access] = _digest(token, "cronwork session key")

    @property
    def open(self) -> bool:
        """True when no token is set: every caller may read and write."""
        return self.write is None and self.read is None

    def access_of(self, presented: str) -> Access:
        """The access ``presented`` grants, compared in constant time against each token."""
        given = presented.encode()
        granted = Access.NONE
        # Both comparisons always run, so the time taken says nothing about which matched.
        for access, token in ((Access.WRITE, self.write), (Access.READ, self.read)):
            if token is not None and hmac.compare_digest(given, token.encode()):
                granted = max(granted, access)
        return granted

    # -- sessions -------------------------------------------------------------------------

    def issue_session(self, access: Access, now: float | None = None) -> str:
        """A session cookie value granting ``access`` for ``SESSION_SECONDS``."""
        expires = int((time.time() if now is None else now) + SESSION_SECONDS)
        body = f"{access.name.lower()}.{expires}"
        return f"{body}.{self._mac(access, body)}"

    def session_access(self, value: str, now: float | None = None) -> Access:
        """The access a session cookie grants: NONE when forged, expired or from old tokens."""
        parts = value.split(".")
        if len(parts) != 3:
            return Access.NONE
        name, expires, mac = parts
        access = {"write": Access.WRITE, "read": Access.READ}.get(name)
        if access is None or access not in self._keys or not expires.isdigit():
            return Access.NONE
        if not hmac.compare_digest(mac, self._mac(access, f"{name}.{expires}")):
            return Access.NONE
        if int(expires) < (time.time() if now is None else now):
            return Access.NONE
        return access

    def csrf_token(self, session: str) -> str:
        """The CSRF token of a session, for pages to send back in ``X-CSRF-Token``."""
        key = self._keys.get(Access.WRITE) or self._keys.get(Access.READ) or b""
        return hmac.new(key, f"csrf|{session}".encode(), hashlib.sha256).hexdigest()

    def _mac(self, access: Access, body: str) -> str:
        return hmac.new(self._keys[access], body.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the access granted and how (``bearer``, ``session`` or ``open``)."""

    access: Access
    via: str
    session: str | None = None


def problem(status: int, message: str, field: str | None = None) -> HTTPException:
    """An HTTP error whose body is ``{"error": message, "field": field}``."""
    headers = {"WWW-Authenticate": 'Bearer realm="cronwork"'} if status == 401 else None
    return HTTPException(status, detail={"error": message, "field": field}, headers=headers)


def identify(request: Request, tokens: Tokens) -> Caller:
    """Who sent ``request``; raise 401 when a token is needed and none valid was given."""
    if tokens.open:
        return Caller(Access.WRITE, "open")
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise problem(401, "use the header Authorization: Bearer TOKEN", "authorization")
        access = tokens.access_of(presented.strip())
        if access is Access.NONE:
            raise problem(401, "wrong token", "authorization")
        return Caller(access, "bearer")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None:
        access = tokens.session_access(cookie)
        if access is Access.NONE:
            raise problem(401, "the session has ended; log in again at /login", "session")
        return Caller(access, "session", cookie)
    raise problem(401, "a token is needed: send Authorization: Bearer TOKEN", "authorization")


def same_origin(request: Request) -> bool | None:
    """Whether the request's ``Origin`` is this server; None when it sent no Origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return None
    host = request.headers.get("host", "")
    return origin in (f"{request.url.scheme}://{host}", f"https://{host}", f"http://{host}")


def check_write(request: Request, tokens: Tokens, caller: Caller) -> None:
    """Refuse (403) a write by a read-only caller, or a cross-site write by a browser."""
    if caller.access < Access.WRITE:
        raise problem(403, "this token may only read")
    if request.method not in _UNSAFE or caller.via == "bearer":
        return
    origin = same_origin(request)
    if origin is True:
        return
    if caller.via == "open":
        # No token to steal, but a web page could still post here: only cross-site is refused.
        if origin is None:
            return
        raise problem(403, "cross-site request refused (its Origin is not this server)", "origin")
    presented = request.headers.get(CSRF_HEADER, "")
    assert caller.session is not None
    if presented and hmac.compare_digest(presented, tokens.csrf_token(caller.session)):
        return
    raise problem(
        403, "a write with a session needs this server's Origin or its CSRF token", "origin"
    )
