"""End to end: ``cronwork serve`` as a subprocess, used over HTTP as a client would.

Real time and real processes: few tests, generous waits, marked slow.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from webkit import READ_TOKEN, TOKEN, EventReader, Process, Served, project, wait_for

pytestmark = pytest.mark.slow

STORE = "sqlite:///cronwork.db"


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start ``cronwork serve`` (``serve=True``) or another command in tmp_path."""
    started: list[Process] = []

    def make(*args: str, serve: bool = True, env: dict[str, str] | None = None) -> Process:
        process = Served(tmp_path, *args, env=env) if serve else Process(tmp_path, *args[:1], *args)
        started.append(process)
        return process

    yield make
    for process in started:
        process.kill()


def test_the_api_of_a_serving_scheduler_end_to_end(
    tmp_path: Path, start: Callable[..., Process]
) -> None:
    jobs = project(tmp_path)
    served = start(
        str(jobs), "--store", STORE, "--read-token", READ_TOKEN, env={"CRONWORK_TOKEN": TOKEN}
    )
    assert isinstance(served, Served)
    api = served.client()
    health = served.client(token=None).get("/healthz")
    assert (health.status_code, health.json()["scheduler"]) == (200, "running")

    # Access: no token, a wrong one, the read-only one.
    assert served.client(token=None).get("/api/v1/jobs").status_code == 401
    assert served.client(token="nope").get("/api/v1/jobs").status_code == 401
    reader = served.client(token=READ_TOKEN)
    assert [job["id"] for job in reader.get("/api/v1/jobs").json()["jobs"]] == ["hello"]
    assert reader.post("/api/v1/jobs/hello/trigger").status_code == 403

    # Jobs: created, refused, changed.
    greet = {"id": "greet", "schedule": "0 4 * * *", "call": "tasks:hello", "tz": "UTC"}
    assert api.post("/api/v1/jobs", json=greet).status_code == 201
    assert api.post("/api/v1/jobs", json=greet).status_code == 409
    assert api.post("/api/v1/jobs", content=b"{nope").status_code == 400
    invalid = api.post("/api/v1/jobs", json={**greet, "id": "g2", "timeout": "soon"})
    assert (invalid.status_code, invalid.json()["field"]) == (422, "timeout")
    command = {"id": "sh", "schedule": "0 4 * * *", "command": ["sh", "-c", "id"]}
    assert api.post("/api/v1/jobs", json=command).status_code == 403
    assert api.patch("/api/v1/jobs/greet", json={"retries": 2}).json()["retries"] == 2
    assert api.get("/api/v1/jobs/nobody").status_code == 404

    # A triggered run, seen start and end on the event stream, then its output.
    events = EventReader(served.url)
    try:
        run = api.post("/api/v1/jobs/greet/trigger").json()
        wait_for(lambda: "run_succeeded" in events.of_run(run["id"]))
        assert events.of_run(run["id"]) == ["run_started", "run_succeeded"]
    finally:
        events.close()
    output = api.get(f"/api/v1/runs/{run['id']}/output").json()
    assert output["output"] == "hello from the api\n" and output["complete"] is True
    listed = api.get("/api/v1/runs", params={"job_id": "greet", "status": "succeeded"}).json()
    assert [r["id"] for r in listed["runs"]] == [run["id"]]

    assert api.post("/api/v1/jobs/greet/pause", json={"note": "moving"}).json()["paused"]
    assert api.post("/api/v1/jobs/greet/resume").json()["paused"] is False
    assert api.post("/api/v1/jobs/greet/stop").json() == {"runs": []}
    assert api.delete("/api/v1/jobs/greet").status_code == 204

    assert served.stop() == 0
    log = served.text()
    assert "stopped" in log
    assert TOKEN not in log and READ_TOKEN not in log


def test_serving_another_address_without_a_token_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cronwork", "serve", "--host", "0.0.0.0", "--store", STORE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "0.0.0.0" in lines[0] and "--token" in lines[0]
    assert not (tmp_path / "cronwork.db").exists()


def test_without_the_web_extra_serve_names_it(tmp_path: Path) -> None:
    # Hide FastAPI from the child, as if the extra were not installed.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['fastapi'] = None\n")
    result = subprocess.run(
        [sys.executable, "-m", "cronwork", "serve", "--store", STORE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join([str(tmp_path), *sys.path])},
    )
    assert result.returncode == 2
    assert "cronwork[web]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_api_node_without_scheduler_sees_runs_of_another_process(
    tmp_path: Path, start: Callable[..., Process]
) -> None:
    jobs = project(tmp_path)
    scheduler = start("run", str(jobs), "--store", STORE, serve=False)
    scheduler.wait_for_line("scheduler started")
    served = start("--no-scheduler", "--store", STORE)
    assert isinstance(served, Served)
    api = served.client(token=None)
    assert api.get("/healthz").json()["scheduler"] == "none"
    events = EventReader(served.url, token=None)
    try:
        run = api.post("/api/v1/jobs/hello/trigger").json()
        # The other process runs it; this server learns of it from the store.
        wait_for(lambda: "run_succeeded" in events.of_run(run["id"]))
        assert events.of_run(run["id"]) == ["run_started", "run_succeeded"]
    finally:
        events.close()
    done = api.get(f"/api/v1/runs/{run['id']}").json()
    assert done["status"] == "succeeded" and done["node"]
    assert served.stop(signal.SIGTERM) == 0
    assert scheduler.stop() == 0
