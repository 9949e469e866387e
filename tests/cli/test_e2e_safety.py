"""End to end: what a hostile working folder or store path must not do to the cronwork command.

Each test starts the real command as a subprocess on this checkout's source, through both
entry points where they differ: ``python -m cronwork`` (which puts the current folder first on
sys.path by itself) and the ``cronwork`` console script (which does not).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
CONSOLE_SCRIPT = Path(sys.executable).with_name("cronwork")
MODULE = (sys.executable, "-m", "cronwork")
ENTRY_POINTS = [
    pytest.param(MODULE, id="python-m"),
    pytest.param(
        (str(CONSOLE_SCRIPT),),
        id="console-script",
        marks=pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="no console script"),
    ),
]
STORE = "sqlite:///cronwork.db"


def cronwork(
    cwd: Path, *args: str, entry: tuple[str, ...] = MODULE, umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "CRONWORK_STORE": STORE}
    return subprocess.run(
        [*entry, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=None if umask is None else (lambda: os.umask(umask) and None),
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.args, result.stdout, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.2)


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` with a hash of its bytes."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


# -- item 7: the working folder and the job file's folder ----------------------------------

# Modules cronwork or its dependencies import after start-up: a file of that name in the
# working folder or beside the job file must never be imported instead.
SHADOWED = ("sqlite3", "json", "rich", "typer", "click", "yaml", "logging", "asyncio", "datetime")


def plant_impostors(folder: Path) -> None:
    for name in SHADOWED:
        (folder / f"{name}.py").write_text(f"raise SystemExit('impostor {name}.py imported')\n")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_files_in_the_working_folder_never_replace_installed_modules(
    tmp_path: Path, entry: tuple[str, ...]
) -> None:
    plant_impostors(tmp_path)
    (tmp_path / "tasks.py").write_text("def hello():\n    print('hello from tasks')\n")
    jobs = tmp_path / "jobs.toml"
    jobs.write_text('[[jobs]]\nid = "ping"\nschedule = "every 1h"\ncall = "tasks:hello"\n')

    assert "added greet" in ok(cronwork(tmp_path, "add", "greet", "every 1h",
                                         "--call", "tasks:hello", entry=entry))  # fmt: skip
    assert "greet" in ok(cronwork(tmp_path, "list", entry=entry))
    assert "ok" in ok(cronwork(tmp_path, "validate", str(jobs), entry=entry))
    assert "At" in ok(cronwork(tmp_path, "next", "0 9 * * *", entry=entry))


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_run_imports_targets_beside_the_job_file_but_installed_modules_first(
    tmp_path: Path, entry: tuple[str, ...]
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    plant_impostors(tmp_path)
    plant_impostors(folder)
    (folder / "filetasks.py").write_text("def ping():\n    print('pong')\n")
    jobs = folder / "jobs.toml"
    jobs.write_text(
        '[[jobs]]\nid = "ping"\nschedule = "every 1s"\ncall = "filetasks:ping"\n\n'
        '[[jobs]]\nid = "child"\nschedule = "every 1s"\ncall = "filetasks:ping"\n'
        'executor = "process"\n'
    )
    log = (tmp_path / "run.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [*entry, "run", str(jobs), "--store", STORE],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: _both_succeeded((tmp_path / "run.log").read_text())
                 or proc.poll() is not None)  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, (tmp_path / "run.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "run.log").read_text()
    assert "impostor" not in text
    assert _both_succeeded(text), text


def _both_succeeded(log: str) -> bool:
    # The process executor's child must not import the impostors either.
    return "run succeeded job=ping" in log and "run succeeded job=child" in log


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_target_module_named_like_an_installed_one_is_a_clear_error(
    tmp_path: Path, entry: tuple[str, ...]
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "yaml.py").write_text("def hello():\n    print('mine')\n")
    jobs = folder / "jobs.toml"
    jobs.write_text('[[jobs]]\nid = "mine"\nschedule = "every 1h"\ncall = "yaml:hello"\n')

    error = one_line_error(cronwork(tmp_path, "validate", str(jobs), entry=entry))
    assert str(folder / "yaml.py") in error
    assert "installed module" in error and "rename" in error

    (tmp_path / "json.py").write_text("def hello():\n    print('mine')\n")
    error = one_line_error(
        cronwork(tmp_path, "add", "mine", "every 1h", "--call", "json:hello", entry=entry)
    )
    assert str(tmp_path / "json.py") in error
    assert "standard library" in error and "rename" in error
    assert "mine" not in cronwork(tmp_path, "list", entry=entry).stdout
