"""`cronwork run` owns its process, so it tunes the garbage collector (docs/guide.md)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROBE = """
import gc
from pathlib import Path


def probe() -> None:
    Path("frozen.txt").write_text(str(gc.get_freeze_count()))
"""

JOBS = """
[[jobs]]
id = "probe"
schedule = "every 1s"
call = "probe:probe"
"""


@pytest.mark.slow
def test_cronwork_run_freezes_the_objects_it_starts_with(tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text(PROBE)
    (tmp_path / "jobs.toml").write_text(JOBS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronwork", "run", "jobs.toml", "--store", "sqlite:///c.db"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "frozen.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert int((tmp_path / "frozen.txt").read_text()) > 0
