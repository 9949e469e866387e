"""Example job targets for examples/jobs.toml (``call = "tasks:hello"``).

``cronwork run examples/jobs.toml`` puts this folder first on sys.path, so the module is
importable as ``tasks`` whatever folder the command starts from.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from pathlib import Path

# The extract -> transform -> load chain hands its data over through this folder.
WORK = Path(tempfile.gettempdir()) / "cronwork-example"


def hello(name: str = "world") -> str:
    """A plain function: what it prints is captured as the run's output."""
    print(f"hello, {name}!")
    return name


async def fetch_quote() -> None:
    """An async function: it runs on the scheduler's event loop, so it must not block."""
    await asyncio.sleep(0.5)
    print(random.choice(["Simple is better than complex.", "Now is better than never."]))


def flaky(failure_rate: float = 0.5, seconds: float = 1.0) -> None:
    """Fails now and then and sometimes runs long: the job gives it a timeout and retries."""
    time.sleep(seconds * random.random() * 3)
    if random.random() < failure_rate:
        raise RuntimeError("the upstream service answered 503")
    print("the upstream service answered 200")


def extract() -> None:
    """First step of the chain: fetch some rows."""
    WORK.mkdir(parents=True, exist_ok=True)
    rows = [{"n": n, "square": n * n} for n in range(1, 6)]
    (WORK / "extracted.json").write_text(json.dumps(rows))
    print(f"extracted {len(rows)} rows")


def transform() -> None:
    """Second step: runs only after extract succeeded for the same slot."""
    rows = json.loads((WORK / "extracted.json").read_text())
    total = sum(row["square"] for row in rows)
    (WORK / "transformed.json").write_text(json.dumps({"total": total}))
    print(f"sum of squares: {total}")


def load() -> None:
    """Last step: runs only after transform succeeded."""
    result = json.loads((WORK / "transformed.json").read_text())
    print(f"loaded total={result['total']}")
