"""The commands behind the service's features: ``add --notify`` and ``backfill``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import cronwork
from webhookkit import receiver

SOURCE = str(Path(cronwork.__file__).resolve().parent.parent)


def test_add_takes_notify_urls_and_shows_them_masked(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("add", "backup", "0 3 * * *",
                 "--notify", "https://hooks.example/services/T0KEN",
                 "--notify", "http://127.0.0.1:8000/x?token=S3CRET", "--", "true")  # fmt: skip
    assert result.code == 0, result.err
    shown = json.loads(cli("show", "backup", "--json").out)
    assert shown["notify"] == [
        {"url": "https://hooks.example/…", "on": ["failed", "timed_out", "missed", "lost"]},
        {"url": "http://127.0.0.1:8000/…", "on": ["failed", "timed_out", "missed", "lost"]},
    ]
    assert "T0KEN" not in cli("show", "backup").out


def test_add_refuses_a_notify_that_is_not_an_http_url(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("add", "backup", "0 3 * * *", "--notify", "ftp://x/secret", "--", "true")
    assert result.code == 1
    assert result.err.startswith("error: job 'backup': notify.url must start with http")
    assert "secret" not in result.err
    assert cli("list", "--json").out.strip() in ("", "[]")


@pytest.mark.slow
def test_run_posts_failures_to_the_job_files_scheduler_notify(tmp_path: Path) -> None:
    with receiver() as hook:
        (tmp_path / "jobs.toml").write_text(
            f'[scheduler]\nstore = "sqlite:///cronwork.db"\nnotify = ["{hook.url}/all"]\n\n'
            '[[jobs]]\nid = "broken"\nschedule = "every 1s"\ncommand = ["false"]\n'
        )
        env = {**os.environ, "PYTHONPATH": SOURCE + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with (tmp_path / "run.log").open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cronwork", "run", "jobs.toml"],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                hook.wait_for(1, "/all", timeout=30)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    body = hook.bodies("/all")[0]
    assert (body["job"], body["event"], body["status"]) == ("broken", "failed", "failed")
    assert body["error"] == "exit code 1"
