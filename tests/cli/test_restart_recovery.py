"""A scheduler killed with SIGKILL takes its commands with it, and its restart recovers at once.

The real ``cronwork run`` runs as a subprocess on a job file and SQLite store in tmp_path,
with this checkout's source first on the path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from clikit import wait_for

import cronwork

SOURCE = str(Path(cronwork.__file__).resolve().parents[1])

# Attempt 1 writes its pids and sleeps far longer than the test; later attempts end at once.
# Every copy appends "start/end <attempt> <pid>" lines, so the log shows whether two overlapped.
JOBS = """\
[scheduler]
store = "sqlite:///cronwork.db"

[[jobs]]
id = "slow"
schedule = "0 3 1 1 *"
shell = true
command = '''
echo "start $CRONWORK_ATTEMPT $$" >> copies.log
if [ "$CRONWORK_ATTEMPT" = 1 ]; then
    sleep 45 &
    echo "$$ $!" > pids
    wait $!
fi
echo "end $CRONWORK_ATTEMPT $$" >> copies.log
'''
timeout = "2m"
retries = 2
retry_backoff = "1s"
"""


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SOURCE, "CRONWORK_STORE": "sqlite:///cronwork.db"}


def cronwork_json(cwd: Path, *args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "cronwork", *args, "--json"],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout)


def runs_with_status(cwd: Path, status: str) -> list[dict[str, Any]]:
    return [run for run in cronwork_json(cwd, "history", "slow") if run["status"] == status]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def schedulers(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    log = (tmp_path / "run.log").open("a")

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cronwork", "run", "jobs.toml"],
            cwd=tmp_path,
            env=environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(proc)
        text = lambda: (tmp_path / "run.log").read_text()  # noqa: E731
        wait_for(lambda: text().count("scheduler started") == len(started), 30)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_command_dies_with_its_killed_scheduler_and_the_restart_retries_it_at_once(
    tmp_path: Path, schedulers: Callable[[], subprocess.Popen[str]]
) -> None:
    (tmp_path / "jobs.toml").write_text(JOBS)
    first = schedulers()
    subprocess.run(
        [sys.executable, "-m", "cronwork", "trigger", "slow"],
        cwd=tmp_path,
        env=environment(),
        check=True,
        capture_output=True,
        timeout=30,
    )
    pids_file = tmp_path / "pids"
    wait_for(lambda: pids_file.exists() and len(pids_file.read_text().split()) == 2, 30)
    pids = [int(word) for word in pids_file.read_text().split()]
    assert all(alive(pid) for pid in pids)

    first.send_signal(signal.SIGKILL)
    first.wait()
    # Nothing of the command outlives its scheduler: not the shell, not its child.
    wait_for(lambda: not any(alive(pid) for pid in pids), 10)

    schedulers()
    # Well under the 30 s lease: the restart sees that the old node's process is gone.
    wait_for(lambda: cronwork_json(tmp_path, "history", "slow")[-1]["status"] == "lost", 10)
    runs = wait_for(lambda: runs_with_status(tmp_path, "succeeded"), 20)
    assert [run["attempt"] for run in runs] == [2]
    lost = [r for r in cronwork_json(tmp_path, "history", "slow") if r["attempt"] == 1]
    assert [run["status"] for run in lost] == ["lost"]
    assert "ended while the run was unfinished" in lost[0]["error"]

    lines = [line.split() for line in (tmp_path / "copies.log").read_text().splitlines()]
    # The first copy never reached its end, and the retry started after it was gone.
    assert [(word, attempt) for word, attempt, _pid in lines] == [
        ("start", "1"),
        ("start", "2"),
        ("end", "2"),
    ]
