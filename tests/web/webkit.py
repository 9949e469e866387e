"""Helpers the web tests share."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

TOKEN = "write-token-0123456789"
READ_TOKEN = "read-token-0123456789"
BASE = "http://127.0.0.1:8080"
WRITE = {"Authorization": f"Bearer {TOKEN}"}
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
# A stored job calls this module, so the API may name its functions without --allow-commands.
TRUSTED = "json:dumps"


def new_job(job_id: str = "report", **keys: Any) -> dict[str, Any]:
    """The body of a new job that the API accepts."""
    return {"id": job_id, "schedule": "every 1h", "call": "json:loads", "tz": "UTC", **keys}


# -- `cronwork serve` as a subprocess ---------------------------------------------------------

TASKS = """
import time


def hello():
    print("hello from the api")


def slow(seconds=30.0):
    time.sleep(seconds)
"""
JOBS = """
[[jobs]]
id = "hello"
schedule = "0 3 * * *"
call = "tasks:hello"
"""


def project(folder: Path) -> Path:
    """A folder with tasks.py and jobs.toml (one job calling tasks:hello); return the file."""
    (folder / "tasks.py").write_text(TASKS)
    (folder / "jobs.toml").write_text(JOBS)
    return folder / "jobs.toml"


class Process:
    """A ``cronwork`` command in the background, its output in a log file."""

    def __init__(self, cwd: Path, name: str, *args: str, env: dict[str, str] | None = None):
        self.log = cwd / f"{name}.log"
        self.out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cronwork", *args],
            cwd=cwd,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def text(self) -> str:
        return self.log.read_text()

    def wait_for_line(self, words: str, timeout: float = 30.0) -> str:
        """The first log line containing ``words``; fails if the process ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if words in line:
                    return line
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}:\n{self.text()}")
            time.sleep(0.1)
        raise AssertionError(f"no {words!r} in:\n{self.text()}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        code = self.proc.wait(timeout=30)
        self.out.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


class Served(Process):
    """``cronwork serve`` on a free port; ``url`` once it listens."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None):
        super().__init__(cwd, "serve", "serve", *args, "--port", "0", env=env)
        line = self.wait_for_line("serving http://")
        self.url = line.split("serving ", 1)[1].split()[0].rstrip("/")

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=20)


class EventReader:
    """An SSE client on its own thread, keeping every event it receives."""

    def __init__(self, url: str, token: str | None = TOKEN) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.connected = threading.Event()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(60))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.connected.wait(20), "the event stream did not open"

    def _read(self) -> None:
        # Closing the client from the test's thread ends the stream with an error: expected.
        with contextlib.suppress(httpx.HTTPError):
            self._read_stream()

    def _read_stream(self) -> None:
        kind = None
        with self._client.stream("GET", "/api/v1/events") as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            for line in answer.iter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                elif line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind is not None:
                    self.events.append((kind, json.loads(line.removeprefix("data: "))))

    def of_run(self, run_id: str) -> list[str]:
        """The kinds of the events received about run ``run_id``, in order."""
        return [kind for kind, data in list(self.events) if (data["run"] or {}).get("id") == run_id]

    def close(self) -> None:
        self._client.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``predicate`` in real time until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)
    return value
