"""Each benchmark script runs at its smallest sizes and prints its table, so none can rot.

Only that: the figures of a few seconds on a shared machine say nothing, and no timing is
asserted. The PostgreSQL benchmarks need the server the store's tests use (skipped without
it, failing under CI=true, as those tests do).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgkit import SERVER_URL, unavailable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run_script(name: str, *args: str) -> str:
    """Run ``benchmarks/NAME`` with ``args``; its standard output (it must exit 0)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), CRONWORK_TEST_POSTGRES_URL=SERVER_URL)
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=110,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def require_postgres() -> None:
    """Skip (or under CI=true fail) unless the test server answers."""
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(SERVER_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        unavailable(str(exc).strip())


def table_rows(out: str, first_column: str) -> list[list[str]]:
    """The rows of the printed table whose first cell is ``first_column``."""
    return [line.split() for line in out.splitlines() if line.split()[:1] == [first_column]]


def test_cluster_prints_a_row_per_node_count() -> None:
    require_postgres()
    out = run_script(
        "cluster.py", "--rates", "20", "--nodes", "1,2", "--seconds", "1", "--aps4-path", ""
    )
    assert "runs/s" in out and "dups" in out
    rows = table_rows(out, "cronwork")
    assert [row[1] for row in rows] == ["1", "2"]
    assert all(row[8] == "0" for row in rows), out  # no duplicate executions


def test_cluster_runs_apscheduler_4_when_it_is_installed() -> None:
    require_postgres()
    folder = Path(sys.prefix) / "aps4"
    if not (folder / "apscheduler").is_dir():
        pytest.skip(f"APScheduler 4 is not in {folder} (make bench-aps4)")
    out = run_script("cluster.py", "--rates", "5", "--nodes", "", "--seconds", "1")
    rows = table_rows(out, "APScheduler4")
    assert [row[1] for row in rows] == ["1", "3"], out
    assert "failed" not in out, out


def test_bigstore_prints_both_sizes_and_their_ratio() -> None:
    require_postgres()
    out = run_script("bigstore.py", "--jobs", "300", "--small", "150", "--claims", "2")
    assert "start s" in out and "claim ms" in out
    assert table_rows(out, "150") and table_rows(out, "300") and table_rows(out, "ratio")


def test_api_prints_a_row_per_endpoint_and_the_quiet_window() -> None:
    pytest.importorskip("fastapi")
    out = run_script(
        "api.py",
        "--jobs",
        "200",
        "--runs-per-job",
        "3",
        "--hot",
        "20",
        "--seconds",
        "1",
        "--loader",
        "httpx",
        "--connections",
        "2",
    )
    assert "req/s" in out and "late p99" in out
    for name in ("no", "GET"):
        assert table_rows(out, name), out
    assert len(table_rows(out, "GET")) == 3
