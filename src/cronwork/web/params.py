"""Reading what a request sends: its JSON body, instants and run-page cursors.

Each refuses bad input with the API's errors: 400 for a body that is not JSON, 422 naming
the parameter otherwise.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request

from cronwork.runs import Run
from cronwork.stores.paging import RunKey, run_key
from cronwork.web.auth import problem

MAX_BODY = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def json_body(request: Request, required: bool = True) -> Any:
    """The request's JSON body; 400 when it is malformed or missing."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise problem(400, f"the body is larger than {MAX_BODY} bytes")
    if not raw.strip():
        if required:
            raise problem(400, "a JSON body is needed")
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise problem(400, f"the body is not valid JSON: {exc}") from None


def json_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else 422."""
    if not isinstance(value, dict):
        raise problem(422, "the body must be a JSON object")
    return value


def instant(text: str | None, field: str) -> datetime | None:
    """An ISO 8601 instant (UTC when it has no offset); 422 naming ``field`` otherwise."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise problem(
            422, f"{field} must be an ISO 8601 date-time such as 2026-12-01T10:00:00Z", field
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def cursor_of(run: Run) -> str:
    """The cursor of the page after ``run``."""
    key = run_key(run)
    micros = (key.scheduled_for - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{key.attempt}.{key.id}"


def parse_cursor(text: str | None) -> RunKey | None:
    """The key a cursor from ``cursor_of`` stands for; 422 for any other text."""
    if text is None:
        return None
    parts = text.split(".")
    if len(parts) != 3 or not all(p.lstrip("-").isdigit() and len(p) < 20 for p in parts):
        raise problem(422, "cursor is not one this server gave (use `next` as it is)", "cursor")
    micros, attempt, run_id = (int(p) for p in parts)
    try:
        slot = EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise problem(422, "cursor is out of range", "cursor") from None
    return RunKey(slot, attempt, run_id)
