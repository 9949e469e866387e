"""End to end: ``cronwork run`` and ``validate`` syncing job files into a SQLite store.

Each command is a real subprocess running this checkout's code (PYTHONPATH points at the
folder cronwork was imported from), on a store in tmp_path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cronwork

STORE = "sqlite:///cronwork.db"
SOURCE = str(Path(cronwork.__file__).resolve().parent.parent)


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "CRONWORK_STORE": STORE,
        "PYTHONPATH": SOURCE + (os.pathsep + path if path else ""),
    }


def cronwork_cmd(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cronwork", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def job_ids(cwd: Path) -> list[str]:
    result = cronwork_cmd(cwd, "list", "--json")
    assert result.returncode == 0, result.stderr
    return [job["id"] for job in json.loads(result.stdout)]


def run_until_started(cwd: Path, *args: str) -> str:
    """Start ``cronwork run``, stop it once the scheduler started; return its output."""
    log = cwd / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cronwork", "run", *args],
            cwd=cwd,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while "scheduler started" not in log.read_text() and proc.poll() is None:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return log.read_text()


def _yaml_job(job_id: str, extra: str = "") -> str:
    return f'  - id: {job_id}\n    schedule: every 1h\n    command: ["true"]\n{extra}'


def test_a_job_file_that_fails_mid_sync_is_one_error_line_and_changes_nothing(
    tmp_path: Path,
) -> None:
    assert cronwork_cmd(tmp_path, "add", "keep", "every 1h", "--", "true").returncode == 0
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "jobs:\n"
        + _yaml_job("first")
        + _yaml_job("second", "    retries: 99999999999999999999999\n")
        + _yaml_job("third")
    )
    result = cronwork_cmd(tmp_path, "run", "jobs.yaml")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "second" in result.stderr and "retries" in result.stderr
    assert job_ids(tmp_path) == ["keep"]


def test_a_sync_keeps_a_job_others_depend_on_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text("jobs:\n" + _yaml_job("extract") + _yaml_job("other"))
    assert "2 added" in run_until_started(tmp_path, "jobs.yaml")
    added = cronwork_cmd(
        tmp_path, "add", "load", "every 1h", "--depends-on", "extract", "--", "true"
    )
    assert added.returncode == 0, added.stderr
    path.write_text("jobs:\n" + _yaml_job("other"))
    needed = (
        "error: jobs.yaml: job 'extract' is needed by load; to remove it anyway pass "
        "force=True (cronwork run --force)\n"
    )

    refused = cronwork_cmd(tmp_path, "run", "jobs.yaml")
    assert (refused.returncode, refused.stderr) == (1, needed)
    assert job_ids(tmp_path) == ["extract", "load", "other"]

    checked = cronwork_cmd(tmp_path, "validate", "jobs.yaml", "--store", STORE)
    assert checked.returncode == 1
    assert "would make: 0 added, 0 updated, 1 unchanged, 1 removed" in checked.stdout
    assert checked.stderr == needed

    assert "1 removed" in run_until_started(tmp_path, "jobs.yaml", "--force")
    assert job_ids(tmp_path) == ["load", "other"]
