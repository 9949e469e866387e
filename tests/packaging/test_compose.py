"""The container deployment (Dockerfile, compose.yaml, examples/celery): what can be checked
without a Docker engine.

`docker compose config` parses and resolves the compose file without an engine; it runs where
the docker client has its compose plugin and is skipped elsewhere. The rest reads the files
themselves: every service the file names exists, the image installs this checkout with the
extras its commands need, and the example jobs name tasks the example app has.
"""

from __future__ import annotations

import json
import os
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
        env={**os.environ, "CRONWORK_TOKEN": "a-test-token"},
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


def test_the_schedulers_serve_the_api_with_a_token_on_the_hosts_loopback_only() -> None:
    services = compose()["services"]
    for name in ("scheduler-a", "scheduler-b"):
        scheduler = services[name]
        assert scheduler["command"][:2] == ["cronwork", "serve"]
        # Listening on every interface of the container needs a token, which compose demands.
        assert scheduler["environment"]["CRONWORK_TOKEN"].startswith("${CRONWORK_TOKEN:?")
        assert all(port.startswith("127.0.0.1:") for port in scheduler["ports"])
    # Nothing else is published: PostgreSQL, Redis and the worker talk on compose's network.
    published = {name for name, service in services.items() if "ports" in service}
    assert published == {"scheduler-a", "scheduler-b"}


def test_the_image_installs_this_checkout_with_the_extras_its_commands_need() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml" in dockerfile
    assert 'pip install ".[celery,postgres,web]"' in dockerfile
    assert "COPY examples/celery/ ./" in dockerfile


def load_example_jobs(folder: Path) -> subprocess.CompletedProcess[str]:
    """Load ``folder/jobs.toml`` with its imports checked, beside the example app.

    In a process of its own: Celery shares the tasks of every imported module with every app,
    which would leak the example's tasks into other tests' apps.
    """
    program = (
        "from cronwork.jobfile import load_job_file\n"
        "jobs = load_job_file('jobs.toml', check_imports=True).jobs\n"
        "print(sorted((job.target.kind, job.target.ref) for job in jobs))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(EXAMPLE)])}
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_example_jobs_name_tasks_the_example_app_has() -> None:
    pytest.importorskip("celery", reason="needs cronwork[celery]")
    done = load_example_jobs(EXAMPLE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "[('celery', 'proj.tasks.ping'), ('celery', 'proj.tasks.report')]"
    )


def test_a_task_name_the_example_app_lacks_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("celery", reason="needs cronwork[celery]")
    jobs = (EXAMPLE / "jobs.toml").read_text().replace("proj.tasks.ping", "proj.tasks.pong")
    (tmp_path / "jobs.toml").write_text(jobs)
    done = load_example_jobs(tmp_path)
    assert done.returncode != 0
    refusal = "celery_task 'proj.tasks.pong' is not a task of Celery app 'proj.celery:app'"
    assert refusal in done.stderr
