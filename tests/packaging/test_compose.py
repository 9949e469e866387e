"""The container deployment (Dockerfile, compose.yaml, examples/celery): what can be checked
without a Docker engine.

`docker compose config` parses and resolves the compose file without an engine; it runs where
the docker client has its compose plugin and is skipped elsewhere. The rest reads the files
themselves: every service the file names exists, the image installs this checkout with the
extras its commands need, and the example jobs name tasks the example app has.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
EXAMPLE = ROOT / "examples" / "celery"
SERVICES = {"scheduler-a", "scheduler-b", "worker", "postgres", "redis"}


def compose_cli() -> list[str]:
    """The docker compose command, or skip the test naming what is missing."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client here: `docker compose config` cannot check compose.yaml")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(
            "the docker client has no compose plugin here (`docker compose version` failed), "
            "so `docker compose config` cannot check compose.yaml"
        )
    return [docker, "compose"]


def test_docker_compose_config_accepts_the_file() -> None:
    done = subprocess.run(
        [*compose_cli(), "--file", str(COMPOSE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert set(config["services"]) == SERVICES


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_every_service_waits_only_for_services_the_file_defines() -> None:
    services = compose()["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        for needed, condition in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on unknown {needed}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], f"{needed} has no healthcheck"


def test_the_schedulers_share_postgres_and_the_workers_redis() -> None:
    services = compose()["services"]
    stores = {
        services[name]["environment"]["CRONWORK_STORE"] for name in ("scheduler-a", "scheduler-b")
    }
    assert len(stores) == 1 and stores.pop().startswith("postgresql://")
    brokers = {
        s["environment"]["CELERY_BROKER_URL"]
        for n, s in services.items()
        if n in ("scheduler-a", "scheduler-b", "worker")
    }
    assert brokers == {"redis://redis:6379/0"}
    assert "--pool=prefork" in services["worker"]["command"]
    # Nothing is published to the host: the services talk on compose's own network.
    assert not any("ports" in service for service in services.values())


def test_the_image_installs_this_checkout_with_the_extras_its_commands_need() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml" in dockerfile
    assert 'pip install ".[celery,postgres]"' in dockerfile
    assert "COPY examples/celery/ ./" in dockerfile


def test_the_example_jobs_name_tasks_the_example_app_has(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("celery", reason="needs cronwork[celery]")
    from cronwork.jobfile import load_job_file

    monkeypatch.syspath_prepend(str(EXAMPLE))
    for name in [m for m in sys.modules if m == "proj" or m.startswith("proj.")]:
        monkeypatch.delitem(sys.modules, name)
    jobs = load_job_file(EXAMPLE / "jobs.toml", check_imports=True).jobs
    assert {job.target.kind for job in jobs} == {"celery"}
    assert {job.target.ref for job in jobs} == {"proj.tasks.report", "proj.tasks.ping"}
