"""The jobs API in process: every status code of /api/v1/jobs and what each changes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from webkit import new_job

from cronwork.stores import Store
from cronwork.web import api


def test_a_new_job_is_created_with_the_job_file_keys_and_its_state(client: TestClient) -> None:
    answer = client.post("/api/v1/jobs", json=new_job(retries=2, timeout="30m", tags=["ops"]))
    assert answer.status_code == 201
    job = answer.json()
    assert (job["id"], job["call"], job["schedule"], job["tz"]) == (
        "report",
        "json:loads",
        "every 1h",
        "UTC",
    )
    assert (job["retries"], job["timeout"], job["tags"]) == (2, 1800.0, ["ops"])
    assert job["paused"] is False and job["pause_note"] is None and job["last_run"] is None
    assert job["next_run_at"].endswith("Z")
    assert client.get("/api/v1/jobs/report").json() == job


def test_a_duplicate_id_is_409_and_keeps_the_first(client: TestClient) -> None:
    client.post("/api/v1/jobs", json=new_job(retries=1))
    answer = client.post("/api/v1/jobs", json=new_job(retries=5))
    assert answer.status_code == 409
    assert answer.json()["field"] == "id"
    assert client.get("/api/v1/jobs/report").json()["retries"] == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [("{", 400), ("", 400), ("[1, 2]", 422), ('"text"', 422), ("null", 422)],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    client: TestClient, body: str, status: int
) -> None:
    answer = client.post("/api/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    assert answer.json()["error"]


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ({"timeout": "soon"}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"retriez": 3}, "retriez"),
        ({"schedule": "every blue moon"}, "schedule"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"depends_on": ["nobody"]}, "depends_on"),
        ({"notify": [{"url": "ftp://hooks.example/x"}]}, "notify"),
        ({"call": "json:no_such_function"}, "call"),
    ],
)
def test_an_invalid_field_is_422_naming_it_and_nothing_is_stored(
    client: TestClient, store: Store, keys: dict[str, object], field: str
) -> None:
    answer = client.post("/api/v1/jobs", json=new_job(**keys))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert [job.id for job in store.jobs()] == ["seed"]


def test_command_jobs_are_refused_without_allow_commands(client: TestClient, store: Store) -> None:
    body = {"id": "wipe", "schedule": "every 1h", "command": ["rm", "-rf", "/tmp/x"]}
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 403
    assert answer.json()["field"] == "command"
    assert "--allow-commands" in answer.json()["error"]
    assert [job.id for job in store.jobs()] == ["seed"]


def test_functions_of_modules_no_stored_job_calls_are_refused(client: TestClient) -> None:
    answer = client.post("/api/v1/jobs", json=new_job(call="os:system", args=["echo owned"]))
    assert answer.status_code == 403
    assert answer.json()["field"] == "call"


def test_with_allow_commands_command_jobs_are_created_with_secrets_hidden(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(allow_commands=True, token=None)
    body = {
        "id": "dump",
        "schedule": "0 3 * * *",
        "command": ["pg_dump", "app"],
        "env": {"PGPASSWORD": "hunter2"},
        "notify": ["https://hooks.example/T000/B000/secret-path?token=abc"],
    }
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    shown = answer.text
    assert "hunter2" not in shown and "secret-path" not in shown and "abc" not in shown
    job = answer.json()
    assert job["command"] == ["pg_dump", "app"]
    assert job["env"] == {"PGPASSWORD": "(hidden)"}
    assert job["notify"] == [
        {"url": "https://hooks.example/…", "on": ["failed", "timed_out", "missed", "lost"]}
    ]


def test_unknown_ids_are_404(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/v1/jobs/nobody"),
        ("PATCH", "/api/v1/jobs/nobody"),
        ("DELETE", "/api/v1/jobs/nobody"),
        ("POST", "/api/v1/jobs/nobody/pause"),
        ("POST", "/api/v1/jobs/nobody/resume"),
        ("POST", "/api/v1/jobs/nobody/trigger"),
        ("POST", "/api/v1/jobs/nobody/stop"),
    ]:
        answer = client.request(method, path, json={"retries": 1} if method == "PATCH" else None)
        assert answer.status_code == 404, (method, path)


@pytest.mark.parametrize("scan", [2, 200])
def test_jobs_are_listed_by_id_a_page_at_a_time_with_filters(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, scan: int
) -> None:
    # The listing reads the store `scan` jobs at a time, whatever the page's size.
    monkeypatch.setattr(api, "_SCAN", scan)
    for number in range(5):
        tags = ["even"] if number % 2 == 0 else []
        client.post("/api/v1/jobs", json=new_job(f"job-{number}", tags=tags))
    client.post("/api/v1/jobs/job-3/pause")
    first = client.get("/api/v1/jobs", params={"limit": 4}).json()
    assert [job["id"] for job in first["jobs"]] == ["job-0", "job-1", "job-2", "job-3"]
    rest = client.get("/api/v1/jobs", params={"limit": 4, "cursor": first["next"]}).json()
    assert [job["id"] for job in rest["jobs"]] == ["job-4", "seed"] and rest["next"] is None

    def ids(**params: object) -> list[str]:
        return [job["id"] for job in client.get("/api/v1/jobs", params=params).json()["jobs"]]

    assert ids(tag="even") == ["job-0", "job-2", "job-4"]
    assert ids(paused=True) == ["job-3"]
    assert ids(q="B-4") == ["job-4"]
    client.post("/api/v1/jobs/job-1/trigger")
    assert ids(status="scheduled") == ["job-1"]
    assert client.get("/api/v1/jobs", params={"status": "sleeping"}).status_code == 422

    for job_id in ("job-2", "job-4"):
        client.post(f"/api/v1/jobs/{job_id}/trigger")
    page = client.get("/api/v1/jobs", params={"status": "scheduled", "limit": 2}).json()
    assert [job["id"] for job in page["jobs"]] == ["job-1", "job-2"] and page["next"] == "job-2"
    params = {"status": "scheduled", "limit": 2, "cursor": page["next"]}
    last = client.get("/api/v1/jobs", params=params).json()
    assert [job["id"] for job in last["jobs"]] == ["job-4"] and last["next"] is None


def test_a_page_of_jobs_reads_their_newest_runs_in_one_store_call(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(6):
        client.post("/api/v1/jobs", json=new_job(f"job-{number}"))
        client.post(f"/api/v1/jobs/job-{number}/trigger")
    calls: list[str] = []
    newest = store.newest_briefs
    monkeypatch.setattr(store, "newest_briefs", lambda ids: calls.append("newest") or newest(ids))
    runs = store.runs  # the memory store's newest_briefs reads through runs: counted after
    monkeypatch.setattr(store, "runs", lambda *a, **k: calls.append("runs") or runs(*a, **k))
    listed = client.get("/api/v1/jobs", params={"limit": 50}).json()["jobs"]
    assert [job["id"] for job in listed if job["last_run"]] == [f"job-{n}" for n in range(6)]
    assert calls[0] == "newest" and calls.count("newest") == 1


def test_a_change_is_checked_as_the_whole_job_and_a_bad_one_changes_nothing(
    client: TestClient,
) -> None:
    client.post("/api/v1/jobs", json=new_job(retries=1, timeout="1m"))
    changed = client.patch("/api/v1/jobs/report", json={"retries": 3, "timeout": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["retries"], changed.json()["timeout"]) == (3, None)
    bad = client.patch("/api/v1/jobs/report", json={"retries": 3000})
    assert bad.status_code == 422 and bad.json()["field"] == "retries"
    renamed = client.patch("/api/v1/jobs/report", json={"id": "other"})
    assert renamed.status_code == 422 and renamed.json()["field"] == "id"
    assert client.get("/api/v1/jobs/report").json()["retries"] == 3


def test_a_new_schedule_moves_the_next_run(client: TestClient) -> None:
    client.post("/api/v1/jobs", json=new_job())
    changed = client.patch("/api/v1/jobs/report", json={"schedule": "0 0 1 1 *"}).json()
    assert changed["schedule"] == "0 0 1 1 *"
    assert changed["next_run_at"][5:19] == "01-01T00:00:00"


def test_a_new_target_replaces_the_old_one(client: TestClient) -> None:
    client.post("/api/v1/jobs", json=new_job(kwargs={"s": "1"}))
    changed = client.patch("/api/v1/jobs/report", json={"call": "json:dumps"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["call"] == "json:dumps"


def test_command_jobs_cannot_be_changed_without_allow_commands(
    make_client: Callable[..., TestClient],
) -> None:
    allowed = make_client(allow_commands=True, token=None)
    allowed.post("/api/v1/jobs", json={"id": "c", "schedule": "every 1h", "command": ["true"]})
    client = make_client(token=None)
    answer = client.patch("/api/v1/jobs/c", json={"retries": 2})
    assert answer.status_code == 403
    assert client.get("/api/v1/jobs/c").json()["retries"] == 0


def test_removing_a_job_others_depend_on_needs_force(client: TestClient) -> None:
    client.post("/api/v1/jobs", json=new_job("extract"))
    client.post("/api/v1/jobs", json=new_job("load", depends_on=["extract"]))
    refused = client.delete("/api/v1/jobs/extract")
    assert refused.status_code == 409
    assert client.get("/api/v1/jobs/extract").status_code == 200
    assert client.delete("/api/v1/jobs/extract", params={"force": True}).status_code == 204
    assert client.get("/api/v1/jobs/extract").status_code == 404


def test_pause_with_a_note_shown_until_resumed(client: TestClient) -> None:
    client.post("/api/v1/jobs", json=new_job())
    paused = client.post("/api/v1/jobs/report/pause", json={"note": "disk <full>"})
    assert paused.status_code == 200
    assert (paused.json()["paused"], paused.json()["pause_note"]) == (True, "disk <full>")
    resumed = client.post("/api/v1/jobs/report/resume").json()
    assert (resumed["paused"], resumed["pause_note"]) == (False, None)
    assert client.post("/api/v1/jobs/report/pause").json()["paused"] is True


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [('{"note": 5}', 422, "note"), ('{"reason": "x"}', 422, "reason"), ("{", 400, None)],
)
def test_a_bad_pause_body_is_refused(
    client: TestClient, body: str, status: int, field: str | None
) -> None:
    client.post("/api/v1/jobs", json=new_job())
    answer = client.post(
        "/api/v1/jobs/report/pause", content=body, headers={"Content-Type": "application/json"}
    )
    assert (answer.status_code, answer.json()["field"]) == (status, field)
    assert client.get("/api/v1/jobs/report").json()["paused"] is False


def test_trigger_records_a_manual_run_and_stop_cancels_it(client: TestClient) -> None:
    client.post("/api/v1/jobs", json=new_job())
    run = client.post("/api/v1/jobs/report/trigger")
    assert run.status_code == 201
    assert (run.json()["trigger"], run.json()["status"]) == ("manual", "scheduled")
    assert client.post("/api/v1/jobs/report/stop").json() == {"runs": []}
    cancelled = client.post(f"/api/v1/runs/{run.json()['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"


def test_a_celery_job_is_created_with_its_task_and_app_and_shown_with_job_file_keys(
    make_client: Callable[..., TestClient], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cronwork.jobs import make_job
    from cronwork.targets import CeleryTask

    # The Celery executor tests' app (its tasks are checked by name, nothing is sent).
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "executors"))

    # An app some stored job already sends through may be named over HTTP.
    store.add_job(
        make_job("known", CeleryTask("cronwork_tests.add", app="celery_tasks:app"), "@daily")
    )
    client = make_client(token=None)
    body = {
        "id": "sum",
        "schedule": "every 1h",
        "celery_task": "cronwork_tests.add",
        "celery_app": "celery_tasks:app",
        "celery_queue": "reports",
        "args": [1, 2],
    }
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    shown = answer.json()
    assert (shown["celery_task"], shown["celery_app"], shown["celery_queue"]) == (
        "cronwork_tests.add",
        "celery_tasks:app",
        "reports",
    )
    assert shown["args"] == [1, 2]

    unknown = client.post("/api/v1/jobs", json={**body, "id": "nope", "celery_task": "x.nope"})
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "celery_task"
    assert client.get("/api/v1/jobs/nope").status_code == 404


def test_a_celery_app_no_stored_job_uses_is_refused_over_http(client: TestClient) -> None:
    body = {
        "id": "sum",
        "schedule": "every 1h",
        "celery_task": "cronwork_tests.add",
        "celery_app": "celery_tasks:app",
    }
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 403
    assert answer.json()["field"] == "celery_app"
    assert client.get("/api/v1/jobs/sum").status_code == 404
