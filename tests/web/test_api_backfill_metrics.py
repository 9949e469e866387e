"""POST /api/v1/jobs/{id}/backfill and GET /metrics, in process.

The ``seed`` job runs daily at 03:00 UTC; the app's clock is the real one, so the ranges
below are in the past.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from webkit import READ

from cronwork.stores import Store

BACKFILL = "/api/v1/jobs/seed/backfill"
FIRST_DAYS = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-03T23:00:00Z"}


def test_a_backfill_records_one_run_per_past_slot_once(client: TestClient, store: Store) -> None:
    answer = client.post(BACKFILL, json=FIRST_DAYS)
    assert answer.status_code == 201, answer.text
    runs = answer.json()["runs"]
    assert [run["scheduled_for"] for run in runs] == [
        f"2026-01-0{day}T03:00:00Z" for day in (1, 2, 3)
    ]
    assert {(run["trigger"], run["status"]) for run in runs} == {("backfill", "scheduled")}
    again = client.post(BACKFILL, json={**FIRST_DAYS, "overlap": "queue"})
    assert (again.status_code, again.json()) == (201, {"runs": []})
    assert len(store.runs("seed")) == 3


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"start": "2023-01-01T00:00:00Z", "end": "2025-12-31T00:00:00Z"}, "end", "1000"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2999-01-01T00:00:00Z"}, "end", "future"),
        ({"start": "2026-01-03T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start", "before"),
        ({"start": "soon", "end": "2026-01-01T00:00:00Z"}, "start", "ISO 8601"),
        ({"start": 3, "end": "2026-01-01T00:00:00Z"}, "start", "date-time"),
        ({"end": "2026-01-01T00:00:00Z"}, "start", "required"),
        ({**FIRST_DAYS, "overlap": "replace"}, "overlap", "skip, queue, allow"),
        ({**FIRST_DAYS, "overlap": 1}, "overlap", "skip, queue, allow"),
        ({**FIRST_DAYS, "from": "x"}, "from", "unknown key"),
    ],
)
def test_a_bad_backfill_is_422_naming_the_field_and_records_nothing(
    client: TestClient, store: Store, body: dict[str, object], field: str, message: str
) -> None:
    answer = client.post(BACKFILL, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert message in answer.json()["error"]
    assert store.runs("seed") == []


def test_a_backfill_of_an_unknown_job_a_bad_body_or_a_reader_changes_nothing(
    client: TestClient, make_client: Callable[..., TestClient], store: Store
) -> None:
    assert client.post("/api/v1/jobs/nope/backfill", json=FIRST_DAYS).status_code == 404
    assert client.post(BACKFILL, content=b"{not json").status_code == 400
    assert client.post(BACKFILL, json=["2026-01-01"]).status_code == 422
    reader = make_client()
    assert reader.post(BACKFILL, json=FIRST_DAYS, headers=READ).status_code == 403
    assert reader.post(BACKFILL, json=FIRST_DAYS).status_code == 401
    assert store.runs("seed") == []


def test_metrics_are_prometheus_text_for_a_token(
    client: TestClient, make_client: Callable[..., TestClient]
) -> None:
    anonymous = make_client()
    assert anonymous.get("/metrics").status_code == 401
    answer = anonymous.get("/metrics", headers=READ)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    assert samples[("cronwork_jobs", (("state", "active"),))] == 1
    assert samples[("cronwork_runs_running", ())] == 0
    assert samples[("cronwork_runs_total", (("status", "failed"),))] == 0
