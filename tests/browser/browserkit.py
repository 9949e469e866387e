"""What the dashboard's browser tests share: the served app, the browser, and a page watcher.

The browser is Debian's Chromium at /usr/bin/chromium driven by Python Playwright; a
browser download never happens. Without either, the tests skip with the reason, except
under CI=true, where they fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-token"
WAIT_MS = 20_000  # the generous wait of every expectation on a page


def missing(reason: str) -> None:
    """Skip the test for ``reason``, or fail it under CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true needs the browser tests to run)")
    pytest.skip(reason)


class Dashboard:
    """``cronwork serve`` on a free port over a temporary SQLite store, with a token."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.folder = folder
        self.log = folder / "serve.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])
        )
        env.pop("CRONWORK_TOKEN", None)
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cronwork",
                    "serve",
                    "--store",
                    f"sqlite:///{folder / 'jobs.db'}",
                    "--port",
                    "0",
                    "--token",
                    TOKEN,
                    *args,
                ],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = self._wait_for_url()
        self.api = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20
        )

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"serving (http://\S+?)/?\s", self.log.read_text())
            if found:
                return found.group(1).rstrip("/")
            if self.proc.poll() is not None:
                raise AssertionError(f"cronwork serve ended:\n{self.log.read_text()}")
            time.sleep(0.1)
        raise AssertionError(f"cronwork serve did not listen:\n{self.log.read_text()}")

    def add_job(self, **table: Any) -> dict[str, Any]:
        """Create a job through the API (a yearly schedule unless one is given)."""
        table.setdefault("schedule", "0 0 1 1 *")
        answer = self.api.post("/api/v1/jobs", json=table)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    def run(self, run_id: str) -> dict[str, Any]:
        """One run as the API shows it."""
        answer = self.api.get(f"/api/v1/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        shown: dict[str, Any] = answer.json()
        return shown

    def runs_of(self, job_id: str) -> list[dict[str, Any]]:
        """The runs of a job, newest first."""
        listed: list[dict[str, Any]] = self.api.get(
            "/api/v1/runs", params={"job_id": job_id}
        ).json()["runs"]
        return listed

    def stop(self) -> None:
        """Stop the server (SIGTERM, then kill)."""
        self.api.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Watch:
    """Console errors, uncaught exceptions and failed requests of one page."""

    problems: list[str] = field(default_factory=list)
    # (pattern of a URL, status) pairs a test expects to fail, such as a refused form.
    expected: list[tuple[str, int]] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        """Record what goes wrong on ``page``."""
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def expect(self, url_part: str, status: int) -> None:
        """Answers ``status`` from URLs containing ``url_part`` are part of the test."""
        self.expected.append((url_part, status))

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        text = message.text
        # Chromium logs every 4xx answer as a console error; expected ones are not problems.
        if "Failed to load resource" in text and self._is_expected(
            message.location.get("url", ""), text
        ):
            return
        self.problems.append(f"console error: {text} at {message.location}")

    def _is_expected(self, url: str, text: str) -> bool:
        return any(part in url and f"status of {status}" in text for part, status in self.expected)

    def _failed(self, request: Any) -> None:
        failure = request.failure or ""
        # Leaving a page aborts its event stream and any request still in flight.
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response: Any) -> None:
        if response.status < 400:
            return
        if any(part in response.url and response.status == s for part, s in self.expected):
            return
        self.problems.append(f"answer {response.status}: {response.request.method} {response.url}")


def log_in(page: Any) -> None:
    """Log in on the login page with the token."""
    page.goto("/login")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    page.get_by_role("heading", name="Overview").wait_for()
