"""How long each dashboard page takes to render with 10,000 jobs and 1,000,000 runs in SQLite.

Builds the store once (``--db PATH`` keeps it for the next time), then asks the app for
each page in-process (no network in between) several times and prints the median and the
slowest render of each, in milliseconds. Run it as
``PYTHONPATH=src python benchmarks/pages.py [--jobs N] [--runs-per-job N] [--db PATH]``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchkit import fill_sqlite

TARGET = "benchkit:child_env"
SCHEDULES = [
    *(f"{m} * * * *" for m in range(0, 60, 3)),
    "every 1h",
    "every 15m",
    "@daily",
    "0 9 * * 1-5",
    "*/5 * * * *",
]


def build(path: Path, jobs: int, runs_per_job: int) -> None:
    """A SQLite store at ``path`` with ``jobs`` jobs and ``runs_per_job`` finished runs each."""
    from cronwork.jobs import make_job
    from cronwork.stores.rows import job_to_row
    from cronwork.targets import make_target

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = []
    for i in range(jobs):
        text = SCHEDULES[i % len(SCHEDULES)]
        job = make_job(f"job{i:06}", make_target(TARGET), text, tz="UTC", tags=[f"team{i % 7}"])
        nxt = job.schedule.next_after(now)
        rows.append(job_to_row(job.replace(next_run_at=nxt, created_at=now)))
    fill_sqlite(path, rows, runs_per_job, seed=16)


def measure(path: Path, repeat: int, sample: str) -> dict[str, tuple[float, float, float]]:
    """Milliseconds of each page: its first render after the start, then the median and the
    slowest of ``repeat`` more. ``sample`` is the job whose pages are asked for."""
    from fastapi.testclient import TestClient

    from cronwork.stores import SqliteStore
    from cronwork.web import create_app

    store = SqliteStore(path)
    app = create_app(store)
    pages = {
        "overview /": "/",
        "jobs /jobs": "/jobs",
        "jobs, search": "/jobs?q=job0099",
        "jobs, failed, by next run": "/jobs?status=failed&sort=next",
        "jobs, page 100": "/jobs?page=100",
        "job /jobs/ID": f"/jobs/{sample}",
        "job history, page 3": "older",
        "run /runs/ID": None,
        "new job form": "/jobs/new",
        "edit form": f"/jobs/{sample}/edit",
    }
    figures: dict[str, tuple[float, float, float]] = {}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        run_id = client.get(f"/api/v1/runs?job_id={sample}&limit=1").json()["runs"][0]["id"]
        for name, url in pages.items():
            url = url or f"/runs/{run_id}"
            if url == "older":
                url = _older(client, _older(client, f"/jobs/{sample}"))
            times = []
            for _ in range(repeat + 1):
                started = time.perf_counter()
                answer = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
            figures[name] = (times[0], statistics.median(times[1:]), max(times[1:]))
    store.close()
    return figures


def _older(client: Any, url: str) -> str:
    """The link to the page of older runs on the job page at ``url``."""
    found = re.search(r'href="(/jobs/[^"?]+\?before=[^"]+)"', client.get(url).text)
    assert found is not None, url
    return found.group(1)


def main() -> None:
    """Build (or reuse) the store and print each page's render time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs-per-job", type=int, default=100)
    parser.add_argument("--db", type=Path, help="keep the store here (reused if it exists)")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = options.db or Path(tmp) / "pages.db"
        if not path.exists():
            started = time.perf_counter()
            build(path, options.jobs, options.runs_per_job)
            print(f"built {path} in {time.perf_counter() - started:.1f} s")
        total = options.jobs * options.runs_per_job
        print(f"{options.jobs} jobs, {total} runs; milliseconds per page:")
        print(f"  {'page':28} {'first':>8} {'median':>8} {'slowest':>8}")
        for name, (first, median, slowest) in measure(
            path, options.repeat, f"job{options.jobs // 2:06}"
        ).items():
            print(f"  {name:28} {first:8.1f} {median:8.1f} {slowest:8.1f}")


if __name__ == "__main__":
    main()
