"""The runs, preview and health API in process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from webkit import new_job

from cronwork.runs import Run, RunStatus
from cronwork.stores import Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def add_runs(store: Store, job_id: str, count: int) -> list[Run]:
    """``count`` finished runs of ``job_id``, a minute apart from T0, the odd ones failed."""
    added = []
    for minute in range(count):
        slot = T0 + timedelta(minutes=minute)
        run = store.add_run(Run(id="", job_id=job_id, scheduled_for=slot, created_at=slot))
        assert run is not None
        status = RunStatus.FAILED if minute % 2 else RunStatus.SUCCEEDED
        done = run.replace(
            status=status, started_at=slot, finished_at=slot, output=f"out {minute}\n"
        )
        store.save_runs([done])
        added.append(done)
    return added


def test_runs_come_newest_first_a_page_at_a_time(client: TestClient, store: Store) -> None:
    runs = add_runs(store, "seed", 7)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/api/v1/runs", params=params).json()
        seen += [run["id"] for run in page["runs"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [run.id for run in reversed(runs)]


def test_runs_are_filtered_by_job_status_and_slot_range(client: TestClient, store: Store) -> None:
    add_runs(store, "seed", 6)
    add_runs(store, "other", 2)

    def slots(**params: object) -> list[str]:
        answer = client.get("/api/v1/runs", params=params)
        assert answer.status_code == 200, answer.text
        return [run["scheduled_for"][11:16] for run in answer.json()["runs"]]

    assert slots(job_id="seed", status="failed") == ["12:05", "12:03", "12:01"]
    assert slots(job_id="other") == ["12:01", "12:00"]
    assert slots(
        job_id="seed", since="2026-03-01T12:02:00Z", until="2026-03-01T13:04:00+01:00"
    ) == [
        "12:03",
        "12:02",
    ]
    assert slots(job_id="seed", since="2026-03-01T12:04:00") == ["12:05", "12:04"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bored"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"cursor": "page-2"}, "cursor"),
        ({"cursor": "99999999999999999999.1.1"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_bad_listing_parameters_are_422_naming_them(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    answer = client.get("/api/v1/runs", params=params)
    assert answer.status_code == 422
    assert answer.json()["field"] == field


def test_one_run_its_output_and_unknown_runs(client: TestClient, store: Store) -> None:
    (run,) = add_runs(store, "seed", 1)
    shown = client.get(f"/api/v1/runs/{run.id}").json()
    assert (shown["status"], shown["job_id"], shown["attempt"]) == ("succeeded", "seed", 1)
    output = client.get(f"/api/v1/runs/{run.id}/output").json()
    assert (output["output"], output["complete"]) == ("out 0\n", True)
    for path in ["/api/v1/runs/424242", "/api/v1/runs/x/output"]:
        assert client.get(path).status_code == 404
    assert client.post("/api/v1/runs/424242/cancel").status_code == 404


def test_cancelling_a_finished_run_leaves_it_as_it_is(client: TestClient, store: Store) -> None:
    (run,) = add_runs(store, "seed", 1)
    answer = client.post(f"/api/v1/runs/{run.id}/cancel")
    assert (answer.status_code, answer.json()["status"]) == (200, "succeeded")


def test_preview_gives_times_in_the_zone_words_and_dst_changes(client: TestClient) -> None:
    answer = client.get(
        "/api/v1/preview", params={"schedule": "0 12 1 * *", "tz": "Europe/Berlin", "n": 12}
    )
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert preview["tz"] == "Europe/Berlin" and len(preview["times"]) == 12
    assert all(time.endswith(("+01:00", "+02:00")) for time in preview["times"])
    assert preview["description"]
    # Twelve months always cross both of Berlin's changes.
    assert len(preview["dst_notes"]) == 2
    assert "UTC+01:00 becomes UTC+02:00" in " ".join(preview["dst_notes"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"schedule": "every fortnight-ish"}, "schedule"),
        ({"schedule": "0 9 * * *", "tz": "Atlantis/Capital"}, "tz"),
        ({}, "schedule"),
        ({"schedule": "0 9 * * *", "n": 1000}, "n"),
    ],
)
def test_a_bad_preview_is_422_naming_the_problem(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    answer = client.get("/api/v1/preview", params=params)
    assert answer.status_code == 422
    assert answer.json()["field"] == field


def test_health_needs_no_token_and_reports_the_store(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["store"] == "ok" and answer.json()["scheduler"] == "none"


def test_the_openapi_description_is_served_and_no_page_loads_from_elsewhere(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/v1/jobs" in schema["paths"] and "/api/v1/runs" in schema["paths"]
    for page in ["/docs", "/redoc"]:
        assert client.get(page).status_code == 404


def test_new_jobs_show_their_last_run(client: TestClient, store: Store) -> None:
    client.post("/api/v1/jobs", json=new_job())
    (run,) = add_runs(store, "report", 1)
    last = client.get("/api/v1/jobs/report").json()["last_run"]
    assert (last["id"], last["status"]) == (run.id, "succeeded")
