"""The output of a command still running, read over HTTP from the scheduler that runs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from webkit import BASE, wait_for

from cronwork import Command, Scheduler
from cronwork.web import create_app

pytestmark = pytest.mark.slow


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    running = Scheduler()
    running.start()
    yield running
    running.shutdown(wait=False)


def test_a_running_command_shows_what_it_printed_so_far(scheduler: Scheduler) -> None:
    scheduler.add_job(
        "long", Command(["sh", "-c", "echo first line; sleep 30"]), "0 3 * * *", timeout="1m"
    )
    with TestClient(create_app(scheduler), base_url=BASE) as client:
        run = client.post("/api/v1/jobs/long/trigger").json()
        path = f"/api/v1/runs/{run['id']}/output"
        shown = wait_for(lambda: (lambda o: o if o["output"] else None)(client.get(path).json()))
        assert shown == {
            "id": run["id"],
            "status": "running",
            "output": "first line\n",
            "error": None,
            "complete": False,
        }
        stopped = client.post("/api/v1/jobs/long/stop").json()["runs"]
        assert [r["id"] for r in stopped] == [run["id"]]
        wait_for(lambda: client.get(path).json()["complete"])
