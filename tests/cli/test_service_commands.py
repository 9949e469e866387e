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


def test_backfill_records_runs_for_past_slots_once(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("add", "report", "0 3 * * *", "--tz", "UTC", "--", "true").code == 0
    result = cli("backfill", "report", "--from", "2026-01-01", "--to", "2026-01-05T23:59")
    assert result.code == 0, result.err
    assert result.out.startswith("backfilled report: 5 runs, slots ")
    assert result.out.rstrip().endswith("(overlap=skip)")
    runs = json.loads(cli("history", "report", "--json").out)
    assert sorted(r["scheduled_for"] for r in runs) == [
        f"2026-01-0{day}T03:00:00Z" for day in range(1, 6)
    ]
    assert {(r["trigger"], r["status"]) for r in runs} == {("backfill", "scheduled")}
    again = cli("backfill", "report", "--from", "2026-01-01", "--to", "2026-01-06T12:00", "-q")
    assert again.code == 0, again.err
    [new_id] = again.out.split()
    assert new_id not in {r["id"] for r in runs}
    nothing = cli("backfill", "report", "--from", "2026-01-01", "--to", "2026-01-06T12:00")
    assert nothing.out == "nothing to backfill: every slot of report in that range has a run\n"


def test_backfill_refuses_bad_ranges_in_one_line_and_records_nothing(cli) -> None:  # type: ignore[no-untyped-def]
    cli("add", "report", "0 3 * * *", "--tz", "UTC", "--", "true")
    for args, message in [
        (("--from", "2026-01-01", "--to", "2999-01-01"), "backfill end 2999-01-01T00:00:00+00:00"),
        (("--from", "2026-01-05", "--to", "2026-01-01"), "backfill start"),
        (("--from", "soon", "--to", "2026-01-01"), "is not an ISO 8601 date-time"),
        (("--from", "2026-01-01", "--to", "2026-01-05", "--overlap", "replace"), "overlap"),
    ]:
        result = cli("backfill", "report", *args)
        assert result.code == 1, args
        assert result.err.startswith("error: job 'report': ") and message in result.err, result.err
        assert result.err.count("\n") == 1
    assert cli("backfill", "nope", "--from", "2026-01-01", "--to", "2026-01-02").code == 1
    assert json.loads(cli("history", "report", "--json").out) == []
