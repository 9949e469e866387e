"""The pages over HTTP in-process: access, escaping, the CSP's rules, filters and paging."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from dashkit import READ, WRITE, add_job, add_run
from fastapi.testclient import TestClient

from cronwork.runs import RunStatus
from cronwork.stores import Store
from cronwork.web import pages

Client = Callable[[Store], TestClient]
SCRIPT = "<script>alert(1)</script>"


def paths_of(store: Store) -> list[str]:
    run_id = store.runs(job_id="a", limit=1)[0].id
    return ["/", "/jobs", "/jobs/a", f"/runs/{run_id}", "/jobs/new", "/jobs/a/edit"]


@pytest.fixture
def filled(sqlite_store: Store) -> Store:
    """Job ``a`` with a failed run, ``b`` succeeded, ``c`` paused and never run."""
    add_job(sqlite_store, "a", "0 0 1 1 *", tags=["night"])
    add_job(sqlite_store, "b", "* * * * *")
    add_job(sqlite_store, "c", paused=True)
    add_run(sqlite_store, "a", RunStatus.FAILED, hours_ago=2, error="Traceback: boom")
    add_run(sqlite_store, "b", RunStatus.SUCCEEDED, hours_ago=1)
    return sqlite_store


def test_pages_without_a_token_or_session_send_the_browser_to_log_in(
    filled: Store, client_of: Client
) -> None:
    client = client_of(filled)
    for path in paths_of(filled):
        answer = client.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login"), path
    wrong = client.get("/jobs", headers={"Authorization": "Bearer nope"})
    assert wrong.headers["location"] == "/login"
    client.cookies.set("cronwork_session", "write.99999999999.forged")
    assert client.get("/").headers["location"] == "/login"


def test_every_page_renders_under_the_csp_without_inline_script_or_style(
    filled: Store, client_of: Client
) -> None:
    client = client_of(filled)
    for path in paths_of(filled):
        answer = client.get(path, headers=WRITE)
        assert answer.status_code == 200, path
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        body = answer.text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body) == [], path
        assert re.findall(r"\sstyle=", body) == [], path
        assert re.findall(r"\son[a-z]+=", body) == [], path
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', body):
            assert client.get(asset).status_code == 200, asset


def test_user_text_is_escaped_on_every_page(sqlite_store: Store, client_of: Client) -> None:
    add_job(sqlite_store, "a", tags=[SCRIPT], paused=True)
    job = sqlite_store.get_job("a")
    sqlite_store.update_job(job.replace(pause_note=SCRIPT))
    add_run(sqlite_store, "a", RunStatus.FAILED, hours_ago=1, output=SCRIPT, error=SCRIPT)
    client = client_of(sqlite_store)
    for path in paths_of(sqlite_store):
        body = client.get(path, headers=WRITE).text
        assert SCRIPT not in body, path
    run_page = client.get(paths_of(sqlite_store)[3], headers=WRITE).text
    assert run_page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # output and error
    assert "&lt;script&gt;" in client.get("/jobs/a", headers=WRITE).text  # the pause note


def test_a_read_only_token_sees_no_controls_that_change_anything(
    filled: Store, client_of: Client
) -> None:
    client = client_of(filled)
    job_page = client.get("/jobs/a", headers=READ).text
    assert 'id="run-now"' not in job_page and 'id="delete"' not in job_page
    assert 'id="run-now"' in client.get("/jobs/a", headers=WRITE).text
    assert 'id="job-form"' not in client.get("/jobs/new", headers=READ).text
    assert 'class="pick"' not in client.get("/jobs", headers=READ).text


def test_an_unknown_job_or_run_is_a_404_page_naming_it(filled: Store, client_of: Client) -> None:
    client = client_of(filled)
    for path, name in (
        ("/jobs/nope", "nope"),
        ("/jobs/nope/edit", "nope"),
        ("/runs/999", "999"),
        ("/runs/abc", "abc"),
    ):
        answer = client.get(path, headers=WRITE)
        assert answer.status_code == 404 and name in answer.text, path


def job_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-job="([^"]+)"', html)


def test_the_jobs_page_searches_filters_and_sorts(filled: Store, client_of: Client) -> None:
    client = client_of(filled)

    def listed(query: str) -> list[str]:
        return job_ids(client.get(f"/jobs?{query}", headers=WRITE).text)

    assert listed("") == ["a", "b", "c"]
    assert listed("q=B") == ["b"]
    assert listed("status=failed") == ["a"]
    assert listed("status=never") == ["c"]
    assert listed("paused=yes") == ["c"]
    assert listed("paused=no&sort=-id") == ["b", "a"]
    assert listed("tag=night") == ["a"]
    assert listed("sort=next") == ["b", "a", "c"]  # every minute first; paused last
    assert listed("sort=status") == ["a", "c", "b"]  # failed, never, succeeded


def test_the_jobs_page_is_paged(
    filled: Store, client_of: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PER_PAGE", 2)
    client = client_of(filled)
    first = client.get("/jobs", headers=WRITE).text
    assert job_ids(first) == ["a", "b"] and "page 1 of 2" in first
    assert job_ids(client.get("/jobs?page=2", headers=WRITE).text) == ["c"]
    assert job_ids(client.get("/jobs?page=50", headers=WRITE).text) == ["c"]


def test_a_jobs_history_is_paged_newest_first(sqlite_store: Store, client_of: Client) -> None:
    add_job(sqlite_store, "a")
    for hours in range(1, 31):
        add_run(sqlite_store, "a", RunStatus.SUCCEEDED, hours_ago=hours)
    client = client_of(sqlite_store)
    first = client.get("/jobs/a", headers=WRITE).text
    runs = re.findall(r'<tr data-run="(\d+)"', first)
    assert len(runs) == pages.HISTORY_PAGE and runs[0] == "1"
    older = re.search(r'href="(/jobs/a\?before=[^"]+)"', first)
    assert older is not None
    rest = re.findall(r'<tr data-run="(\d+)"', client.get(older.group(1), headers=WRITE).text)
    assert rest == [str(n) for n in range(26, 31)]
    # A cursor this server did not give shows the newest runs.
    for cursor in ("junk", "9999999999999999999.1.1", "1.2"):
        odd = client.get(f"/jobs/a?before={cursor}", headers=WRITE)
        assert odd.status_code == 200 and re.findall(r'<tr data-run="(\d+)"', odd.text)[0] == "1"


def test_the_backfill_preview_counts_the_runs_a_range_makes(
    filled: Store, client_of: Client
) -> None:
    client = client_of(filled)
    url = "/jobs/b/slots"  # every minute
    answer = client.get(
        url, params={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:05:00Z"}, headers=READ
    )
    assert answer.json() == {"count": 5, "over_cap": False, "cap": pages.BACKFILL_CAP}
    long = client.get(
        url, params={"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, headers=READ
    )
    assert long.json()["over_cap"] is True
    for start, end, field in (
        ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "end"),
        ("2026-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "end"),
        ("yesterday", "2026-01-01T00:00:00Z", "start"),
        ("0001-01-01T00:00:00+00:00", "2026-01-01T00:00:00Z", "start"),
    ):
        refused = client.get(url, params={"start": start, "end": end}, headers=READ)
        assert refused.status_code == 422 and refused.json()["field"] == field
    assert client.get(url, params={"start": "x", "end": "y"}).status_code == 401
    assert (
        client.get("/jobs/nope/slots", params={"start": "x", "end": "y"}, headers=READ).status_code
        == 404
    )


def test_the_overview_counts_jobs_by_their_last_status(filled: Store, client_of: Client) -> None:
    body = client_of(filled).get("/", headers=WRITE).text
    cards = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body.split('id="running-h"')[0]))
    assert "3 jobs" in cards
    assert "1 failed" in cards and "1 succeeded" in cards and "1 never run" in cards
    assert "1 paused" in cards
    problems = body.split('id="problems-h"')[1].split("</section>")[0]
    assert "Traceback: boom" in problems and 'href="/jobs/a"' in problems
