"""Helpers the web tests share."""

from __future__ import annotations

from typing import Any

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
