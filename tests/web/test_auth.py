"""Who may do what, in process: tokens, sessions, CSRF, the open loopback mode, headers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from webkit import BASE, READ, READ_TOKEN, TOKEN, WRITE, new_job

from cronwork.errors import CronworkError
from cronwork.stores import Store
from cronwork.web import create_app
from cronwork.web.auth import Access, Tokens


def test_every_api_route_needs_a_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    for method, path in [
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/seed"),
        ("POST", "/api/v1/jobs"),
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/preview?schedule=@daily"),
    ]:
        answer = client.request(method, path)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer wrong-token", "Bearer ", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
def test_a_wrong_token_is_401(make_client: Callable[..., TestClient], header: str) -> None:
    answer = make_client().get("/api/v1/jobs", headers={"Authorization": header})
    assert answer.status_code == 401
    assert TOKEN not in answer.text


def test_the_read_only_token_reads_but_cannot_write(
    make_client: Callable[..., TestClient], store: Store
) -> None:
    client = make_client()
    assert client.get("/api/v1/jobs", headers=READ).status_code == 200
    for method, path in [
        ("POST", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs/seed/pause"),
        ("POST", "/api/v1/jobs/seed/trigger"),
        ("DELETE", "/api/v1/jobs/seed"),
        ("PATCH", "/api/v1/jobs/seed"),
    ]:
        answer = client.request(method, path, headers=READ, json=new_job())
        assert answer.status_code == 403, path
    assert [job.id for job in store.jobs()] == ["seed"]
    assert store.get_job("seed").paused is False


def test_a_read_only_token_alone_is_refused(store: Store) -> None:
    with pytest.raises(CronworkError, match="read-only token"):
        create_app(store, read_token=READ_TOKEN)


def test_tokens_compare_whole_values() -> None:
    tokens = Tokens(write=TOKEN, read=READ_TOKEN)
    assert tokens.access_of(TOKEN) is Access.WRITE
    assert tokens.access_of(READ_TOKEN) is Access.READ
    assert tokens.access_of(TOKEN[:-1]) is Access.NONE
    assert tokens.access_of("") is Access.NONE


# -- browsers ---------------------------------------------------------------------------------


def log_in(client: TestClient, token: str) -> str:
    answer = client.post(
        "/login", data={"token": token}, headers={"Origin": BASE}, follow_redirects=False
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert token not in cookie
    return client.cookies["cronwork_session"]


def test_the_login_page_sets_a_session_cookie_for_the_api(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    page = client.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text and "<script" not in page.text
    wrong = client.post("/login", data={"token": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "cronwork_session" not in client.cookies
    log_in(client, TOKEN)
    assert client.get("/api/v1/jobs").status_code == 200


def test_session_writes_need_our_origin_or_the_csrf_token(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    session = log_in(client, TOKEN)
    path = "/api/v1/jobs/seed/pause"
    assert client.post(path).status_code == 403
    assert client.post(path, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post(path, headers={"Origin": BASE}).status_code == 200
    csrf = Tokens(write=TOKEN, read=READ_TOKEN).csrf_token(session)
    assert (
        client.post("/api/v1/jobs/seed/resume", headers={"X-CSRF-Token": csrf}).status_code == 200
    )


def test_a_read_only_session_cannot_write(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    log_in(client, READ_TOKEN)
    assert client.get("/api/v1/jobs").status_code == 200
    assert client.post("/api/v1/jobs/seed/pause", headers={"Origin": BASE}).status_code == 403


def test_forged_expired_and_old_sessions_are_401(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    tokens = Tokens(write=TOKEN, read=READ_TOKEN)
    expired = tokens.issue_session(Access.WRITE, now=0)
    forged = "write.99999999999." + "0" * 64
    other = Tokens(write="an-older-token").issue_session(Access.WRITE)
    for value in [expired, forged, other, "write", "admin.1.x"]:
        client.cookies.set("cronwork_session", value)
        assert client.get("/api/v1/jobs").status_code == 401, value


def test_logging_out_ends_the_session(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    log_in(client, TOKEN)
    client.post("/logout", headers={"Origin": BASE}, follow_redirects=False)
    assert client.get("/api/v1/jobs").status_code == 401


# -- a server without a token ---------------------------------------------------------------


def test_without_a_token_only_loopback_names_are_served(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(token=None)
    assert client.get("/api/v1/jobs").status_code == 200
    assert client.get("/api/v1/jobs", headers={"Host": "localhost:8080"}).status_code == 200
    rebound = client.get("/api/v1/jobs", headers={"Host": "attacker.example"})
    assert rebound.status_code == 403 and rebound.json()["field"] == "host"


def test_without_a_token_cross_site_writes_are_refused(
    make_client: Callable[..., TestClient], store: Store
) -> None:
    client = make_client(token=None)
    foreign = client.post("/api/v1/jobs/seed/pause", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert store.get_job("seed").paused is False
    assert client.post("/api/v1/jobs/seed/pause", headers={"Origin": BASE}).status_code == 200


# -- headers ----------------------------------------------------------------------------------


def test_answers_carry_a_strict_csp_and_no_cors(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    for path in ["/api/v1/jobs", "/login", "/healthz", "/"]:
        answer = client.get(path, headers={**WRITE, "Origin": "https://other.example"})
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "access-control-allow-origin" not in answer.headers
    preflight = client.options(
        "/api/v1/jobs",
        headers={"Origin": "https://other.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_the_dashboard_at_the_root_sends_to_login_until_logged_in(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    page = client.get("/", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/login")
    log_in(client, READ_TOKEN)
    overview = client.get("/", follow_redirects=False)
    assert overview.status_code == 200 and "<h1>Overview</h1>" in overview.text
