"""What the PostgreSQL benchmarks share: a fresh database per case and CPU read from /proc."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SERVER_URL = os.environ.get(
    "CRONWORK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TICK = os.sysconf("SC_CLK_TCK")
# The server's own processes, which work for every database (WAL, checkpoints, vacuum).
SHARED_BACKENDS = ("walwriter", "checkpointer", "background writer", "autovacuum launcher")


def database_url(server: str, name: str) -> str:
    """``server`` with ``name`` as its database."""
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


@contextmanager
def fresh_database(server: str = SERVER_URL, prefix: str = "cronwork_bench") -> Iterator[str]:
    """Create an empty database, yield its URL, drop it (and its connections) at the end."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield database_url(server, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_pids(url: str) -> list[int]:
    """The server processes working for ``url``'s database, and the shared writers."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = %s AND pid <> pg_backend_pid())"
            " OR backend_type = ANY(%s)",
            (name, list(SHARED_BACKENDS)),
        ).fetchall()
    return [row[0] for row in rows]


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of process ``pid``, or None if it is gone or unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_ticks() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / TICK, total / TICK


class CpuSample:
    """CPU used between ``__init__`` and ``stop()`` by some processes and by the machine."""

    def __init__(self, groups: dict[str, Iterable[int]]) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self.begin = {pid: cpu_seconds(pid) for pids in self.groups.values() for pid in pids}
        self.machine = machine_ticks()

    def stop(
        self, seconds: float, more: dict[str, Iterable[int]] | None = None
    ) -> dict[str, float]:
        """Percent of one core per group over ``seconds``, and the machine's busy percent.

        ``more`` adds processes seen only at the end (counted from zero: they began in the window).
        """
        out: dict[str, float] = {}
        for name, pids in self.groups.items():
            extra = [p for p in (more or {}).get(name, ()) if p not in pids]
            used = 0.0
            for pid in [*pids, *extra]:
                end = cpu_seconds(pid)
                if end is not None:
                    used += end - (self.begin.get(pid) or 0.0)
            out[f"{name}_cpu"] = 100 * used / seconds
        busy, total = machine_ticks()
        out["machine_busy"] = 100 * (busy - self.machine[0]) / max(total - self.machine[1], 1e-9)
        return out


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as the kernel states them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
