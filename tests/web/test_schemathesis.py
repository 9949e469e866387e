"""schemathesis against the live server's /openapi.json: no server error, and every answer
(status, content type, headers, body) as the description says.

The event stream is left out: it never ends, which a fuzzer cannot read to the end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from webkit import READ_TOKEN, TOKEN, Served, project

pytestmark = pytest.mark.slow

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(
        tmp_path,
        str(project(tmp_path)),
        "--store",
        "sqlite:///cronwork.db",
        "--token",
        TOKEN,
        "--read-token",
        READ_TOKEN,
    )
    yield server
    server.kill()


@pytest.mark.timeout(400)
def test_the_live_api_keeps_to_its_openapi_description(served: Served, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{served.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            CHECKS,
            "--exclude-path",
            "/api/v1/events",
            "--max-examples",
            "20",
            "--workers",
            "1",
            "--seed",
            "15",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert served.proc.poll() is None
    assert "Traceback" not in served.text()
