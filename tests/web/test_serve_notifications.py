"""`cronwork serve` tells a webhook when a job's run fails and when the job recovers.

Real time and real processes (the server, the command, a local receiver): marked slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from webkit import TOKEN, Served, wait_for

from webhookkit import receiver

pytestmark = pytest.mark.slow

# Fails the first time (no marker yet), succeeds after.
FLAKY = "if [ -e ran-once ]; then echo fine; else touch ran-once; echo broke; exit 3; fi"


def test_a_failure_and_the_recovery_after_it_reach_the_webhook_with_a_link(
    tmp_path: Path,
) -> None:
    with receiver() as hook:
        (tmp_path / "jobs.toml").write_text(
            f"""
[[jobs]]
id = "flaky"
schedule = "0 3 * * *"
command = {FLAKY!r}
shell = true
notify = [{{url = "{hook.url}/alerts?token=S3CRET", on = ["failed", "recovered"]}}]
"""
        )
        served = Served(
            tmp_path, "jobs.toml", "--token", TOKEN, "--base-url", "https://cron.example.org"
        )
        try:
            api = served.client()
            for expected in (1, 2):
                run = api.post("/api/v1/jobs/flaky/trigger").json()
                wait_for(lambda r=run: api.get(f"/api/v1/runs/{r['id']}").json()["finished_at"])
                hook.wait_for(expected, "/alerts?token=S3CRET", timeout=30)
        finally:
            served.stop()
        failed, recovered = hook.bodies("/alerts?token=S3CRET")
    assert (failed["job"], failed["event"], failed["status"]) == ("flaky", "failed", "failed")
    assert failed["url"] == f"https://cron.example.org/runs/{failed['run']}"
    assert (recovered["event"], recovered["status"]) == ("recovered", "succeeded")
    assert "flaky" in recovered["text"]
    # The URL's secret never reaches the server's log.
    assert "S3CRET" not in served.text()
