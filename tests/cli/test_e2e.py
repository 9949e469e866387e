"""End to end: the real ``cronwork`` command as a subprocess, on a SQLite store in tmp_path."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from clikit import wait_for

STORE = "sqlite:///cronwork.db"


def cronwork(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRONWORK_STORE": STORE}
    result = subprocess.run(
        [sys.executable, "-m", "cronwork", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"cronwork {' '.join(args)} exited {result.returncode}: {result.stderr}"
        )
    return result


def as_json(cwd: Path, *args: str) -> Any:
    return json.loads(cronwork(cwd, *args, "--json").stdout)


class Server:
    """``cronwork run`` in the background, its log in a file."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.log = cwd / "run.log"
        self.out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cronwork", "run", *args, "--store", STORE],
            cwd=cwd,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for(lambda: "scheduler started" in self.text() or self.proc.poll() is not None)

    def text(self) -> str:
        return self.log.read_text()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        code = self.proc.wait(timeout=30)
        self.out.close()
        return code


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*args: str) -> Server:
        started.append(Server(tmp_path, *args))
        return started[-1]

    yield start
    for each in started:
        if each.proc.poll() is None:
            each.proc.kill()
            each.proc.wait()
        each.out.close()


@pytest.mark.slow
def test_add_list_run_history_logs(tmp_path: Path, server: Callable[..., Server]) -> None:
    cronwork(tmp_path, "add", "hello", "every 1s", "--", "sh", "-c", "echo hello from $0", "cw")
    cronwork(tmp_path, "add", "nightly", "0 3 * * *", "--timeout", "30m", "--", "true")
    assert [job["id"] for job in as_json(tmp_path, "list")] == ["hello", "nightly"]

    running = server()
    runs = wait_for(
        lambda: [r for r in as_json(tmp_path, "history", "hello") if r["status"] == "succeeded"]
    )
    assert running.stop() == 0
    assert "stopped" in running.text()

    run = runs[0]
    assert run["job_id"] == "hello"
    assert run["exit_code"] == 0
    assert run["duration"] is not None and run["duration"] >= 0
    assert cronwork(tmp_path, "logs", run["id"]).stdout == "hello from cw\n"
    table = cronwork(tmp_path, "history").stdout
    assert "succeeded" in table and "hello" in table
    log = running.text()
    assert f"run succeeded job=hello run={run['id']}" in log


@pytest.mark.slow
def test_changes_from_the_cli_reach_a_running_scheduler(
    tmp_path: Path, server: Callable[..., Server]
) -> None:
    running = server("--log-format", "json")
    cronwork(tmp_path, "add", "late", "0 3 * * *", "--", "sh", "-c", "echo triggered")
    run_id = cronwork(tmp_path, "trigger", "-q", "late").stdout.strip()
    wait_for(lambda: as_json(tmp_path, "show", "late")["runs"][0]["status"] == "succeeded", 5)
    assert cronwork(tmp_path, "logs", run_id).stdout == "triggered\n"

    cronwork(tmp_path, "add", "tick", "every 1s", "--", "true")
    wait_for(lambda: as_json(tmp_path, "history", "tick"), 5)
    cronwork(tmp_path, "pause", "tick")
    assert running.stop() == 0
    events = [json.loads(line) for line in running.text().splitlines()]
    assert {"run_started", "run_succeeded"} <= {e.get("event") for e in events}
    succeeded = [e for e in events if e.get("event") == "run_succeeded"]
    assert {"time", "level", "job_id", "run_id", "duration"} <= set(succeeded[0])


@pytest.mark.slow
def test_stop_kills_a_long_running_command(tmp_path: Path, server: Callable[..., Server]) -> None:
    pid_file = tmp_path / "long.pid"
    cronwork(
        tmp_path,
        "add",
        "long",
        "0 3 * * *",
        "--",
        "sh",
        "-c",
        f"echo $$ > {pid_file}; exec sleep 60",
    )
    running = server()
    run_id = cronwork(tmp_path, "trigger", "-q", "long").stdout.strip()
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 10)
    pid = int(pid_file.read_text())
    assert psutil.pid_exists(pid)

    assert "1 run cancelled" in cronwork(tmp_path, "stop", "long").stdout
    wait_for(lambda: as_json(tmp_path, "history", "long")[0]["status"] == "cancelled", 10)

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(gone, 10)
    assert running.stop() == 0
    assert f"run cancelled job=long run={run_id}" in running.text()


@pytest.mark.slow
def test_run_syncs_the_job_file_and_keeps_cli_jobs(
    tmp_path: Path, server: Callable[..., Server]
) -> None:
    (tmp_path / "mytasks.py").write_text("def hello(name):\n    print('hi', name)\n")
    jobs = tmp_path / "conf" / "jobs.toml"
    jobs.parent.mkdir()
    # The job file lives in another folder: its tasks.py must still import (file folder on path).
    (jobs.parent / "filetasks.py").write_text("def ping():\n    print('pong')\n")
    jobs.write_text(
        '[[jobs]]\nid = "ping"\nschedule = "every 1s"\ncall = "filetasks:ping"\n\n'
        '[[jobs]]\nid = "old"\nschedule = "0 3 * * *"\ncommand = ["true"]\n'
    )
    cronwork(tmp_path, "add", "mine", "0 4 * * *", "--call", "mytasks:hello", "--", "me")

    first = server(str(jobs))
    wait_for(lambda: as_json(tmp_path, "history", "ping"))
    assert first.stop() == 0
    assert "synced" in first.text() and "2 added" in first.text()

    jobs.write_text('[[jobs]]\nid = "ping"\nschedule = "every 1s"\ncall = "filetasks:ping"\n')
    second = server(str(jobs))
    assert second.stop() == 0
    assert "0 added, 0 updated, 1 unchanged, 1 removed" in second.text()
    assert [job["id"] for job in as_json(tmp_path, "list")] == ["mine", "ping"]
    ping = as_json(tmp_path, "history", "ping")
    assert cronwork(tmp_path, "logs", ping[-1]["id"]).stdout.strip() in ("pong", "")


def test_bad_input_is_one_line_exit_1_and_changes_nothing(tmp_path: Path) -> None:
    cronwork(tmp_path, "add", "keep", "every 1h", "--", "true")
    before = cronwork(tmp_path, "list", "--json").stdout

    broken = tmp_path / "jobs.toml"
    broken.write_text(
        '[[jobs]]\nid = "new"\nschedule = "every 1h"\ncommand = ["true"]\n\n'
        '[[jobs]]\nid = "backup"\nschedule = "0 3 * * *"\ncommand = ["true"]\ntimeout = "soon"\n'
    )
    cases = [
        ("add", "x", "every fortnight-ish", "--", "true"),
        ("show", "nope"),
        ("stop", "nope"),
        ("logs", "999"),
        ("run", str(broken)),
        ("run", "missing.toml"),
        ("validate", str(broken)),
    ]
    for args in cases:
        result = cronwork(tmp_path, *args, check=False)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.startswith("error: "), (args, result.stderr)
        assert result.stderr.count("\n") == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
    result = cronwork(tmp_path, "run", str(broken), check=False)
    assert result.stderr == (
        f'error: {broken}:10: job "backup": timeout "soon" is not a duration '
        '(e.g. "30m", "1h30m", "PT30M")\n'
    )
    assert cronwork(tmp_path, "list", "--json").stdout == before


def test_help_loads_neither_the_engine_nor_heavy_modules() -> None:
    # What keeps `cronwork --help` and completion quick: the command imports the engine, the
    # store drivers, Rich and YAML only when a command needs them. Timing it belongs in
    # benchmarks, not in a suite that runs on loaded machines.
    code = (
        "import sys, cronwork.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('yaml', 'rich', 'sqlite3', 'asyncio') or m == 'cronwork.scheduler'))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


@pytest.mark.slow
def test_sigterm_lets_a_running_job_finish(tmp_path: Path, server: Callable[..., Server]) -> None:
    cronwork(tmp_path, "add", "short", "0 3 * * *", "--", "sh", "-c", "sleep 1.5; echo done")
    running = server()
    cronwork(tmp_path, "trigger", "short")
    wait_for(lambda: "run started job=short" in running.text(), 10)
    assert running.stop(signal.SIGTERM) == 0
    run = as_json(tmp_path, "history", "short")[0]
    assert run["status"] == "succeeded"
    assert cronwork(tmp_path, "logs", run["id"]).stdout == "done\n"


@pytest.mark.slow
def test_a_second_signal_stops_at_once(tmp_path: Path, server: Callable[..., Server]) -> None:
    pid_file = tmp_path / "long.pid"
    cronwork(tmp_path, "add", "long", "0 3 * * *", "--", "sh", "-c",
             f"echo $$ > {pid_file}; exec sleep 60")  # fmt: skip
    running = server()
    cronwork(tmp_path, "trigger", "long")
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 10)
    pid = int(pid_file.read_text())
    running.proc.send_signal(signal.SIGINT)
    wait_for(lambda: "shutting down" in running.text(), 5)
    started = time.monotonic()
    assert running.stop(signal.SIGINT) == 130
    assert time.monotonic() - started < 8
    try:
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
