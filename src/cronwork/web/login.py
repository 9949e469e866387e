"""The login page that gives browsers their session cookie, and the page at ``/``.

A browser cannot send a bearer token by itself, so it logs in once here with the token and
gets the session cookie (see ``auth``): HttpOnly (no script reads it), SameSite=Strict (no
other site's request carries it), Secure when served over HTTPS. Pages are plain HTML with
every interpolated string escaped, and no script at all.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cronwork.web.auth import SESSION_COOKIE, SESSION_SECONDS, Access, same_origin
from cronwork.web.service import service_of

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} · cronwork</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"""


def page(title: str, body_html: str, status: int = 200) -> HTMLResponse:
    """An HTML page; ``body_html`` must already be escaped where it holds user text."""
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body_html), status)


def _login_form(message: str | None) -> str:
    shown = f'<p role="alert">{html.escape(message)}</p>\n' if message else ""
    return (
        f'{shown}<form method="post" action="/login">\n'
        '<label>Token <input type="password" name="token" autocomplete="current-password" '
        "required autofocus></label>\n"
        '<button type="submit">Log in</button>\n</form>'
    )


@router.get("/login")
def login_page(request: Request) -> Response:
    """The login form (or straight to ``/`` when the server has no token)."""
    if service_of(request).tokens.open:
        return RedirectResponse("/", 303)
    return page("Log in", _login_form(None))


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token from the form; on success set the session cookie and go to ``/``."""
    tokens = service_of(request).tokens
    if tokens.open:
        return RedirectResponse("/", 303)
    if same_origin(request) is False:
        return page("Log in", _login_form("log in from this server's own page"), 403)
    raw = (await request.body())[:10_000].decode("utf-8", "replace")
    presented = (parse_qs(raw).get("token") or [""])[0].strip()
    access = tokens.access_of(presented) if presented else Access.NONE
    if access is Access.NONE:
        return page("Log in", _login_form("wrong token"), 401)
    response = RedirectResponse("/", 303)
    response.set_cookie(
        SESSION_COOKIE,
        tokens.issue_session(access),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the browser's session."""
    if same_origin(request) is False:
        return page("Log out", "<p>log out from this server's own page</p>", 403)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/")
def index(request: Request) -> Response:
    """Where the URL printed at start leads: what this server offers."""
    tokens = service_of(request).tokens
    links = [
        ("/api/v1/jobs", "jobs (JSON)"),
        ("/api/v1/runs", "runs (JSON)"),
        ("/openapi.json", "the API's OpenAPI description"),
        ("/healthz", "health"),
    ]
    items = "\n".join(f'<li><a href="{href}">{html.escape(text)}</a></li>' for href, text in links)
    login = ""
    if not tokens.open and tokens.session_access(request.cookies.get(SESSION_COOKIE, "")) is (
        Access.NONE
    ):
        login = '<p><a href="/login">Log in</a> to use the API from this browser.</p>\n'
    return page("cronwork", f"{login}<ul>\n{items}\n</ul>")
