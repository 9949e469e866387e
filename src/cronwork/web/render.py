"""How the dashboard's pages are drawn: the Jinja2 templates, the helpers they use, and the
geometry of the SVG charts. Every value a template shows is escaped (autoescape); times are
written as ``<time datetime=...>`` in UTC for the scripts to show in the viewer's zone.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cronwork.jobs import Job
from cronwork.web import digest
from cronwork.web.auth import Access, Caller
from cronwork.web.service import service_of

HERE = Path(__file__).parent
SORTS = {
    "id": "id",
    "-id": "id, descending",
    "next": "next run",
    "status": "last status",
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: Request, caller: Caller, name: str, status: int = 200, **values: Any
) -> HTMLResponse:
    """The page ``name`` for ``caller``, with what every page needs (access, CSRF token)."""
    svc = service_of(request)
    csrf = svc.tokens.csrf_token(caller.session) if caller.session else ""
    html = templates.get_template(name).render(
        can_write=caller.access >= Access.WRITE,
        logged_in=caller.via == "session",
        csrf=csrf,
        path=request.url.path,
        **values,
    )
    return HTMLResponse(html, status)


# -- helpers the templates use ------------------------------------------------------------


def iso(moment: datetime | None) -> str:
    """``moment`` as ISO 8601 in UTC, or empty."""
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def in_zone(moment: datetime | None, zone: str | None) -> str:
    """``moment`` as text in ``zone`` (what hovering a time shows)."""
    if moment is None:
        return ""
    from zoneinfo import ZoneInfo

    try:
        shown = moment.astimezone(ZoneInfo(zone)) if zone else moment.astimezone(UTC)
    except (ValueError, KeyError):
        shown = moment.astimezone(UTC)
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z")


def seconds(value: float | None) -> str:
    """A duration in the unit that reads best."""
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def describe(job: Job) -> str:
    """The job's schedule in words (its text, should describing it fail)."""
    try:
        return job.schedule.description
    except Exception:  # words are a courtesy: never fail a page over them
        return job.schedule_text


templates.globals.update(iso=iso, in_zone=in_zone, seconds=seconds, describe=describe, sorts=SORTS)


def bar_geometry(
    values: list[float | None], width: int, height: int, slots: int = 0
) -> list[dict[str, Any]]:
    """SVG bar geometry for ``values`` (None: a stub), scaled to the largest; with ``slots``,
    bars keep the width of that many and line up on the right."""
    if not values:
        return []
    top = max((v for v in values if v is not None), default=0.0) or 1.0
    step = width / max(len(values), slots)
    left = width - step * len(values)
    bars = []
    for i, value in enumerate(values):
        h = 2.0 if value is None else max(2.0, height * value / top)
        bars.append(
            {
                "x": round(left + i * step, 2),
                "w": round(max(step - 1, 1), 2),
                "y": round(height - h, 2),
                "h": round(h, 2),
            }
        )
    return bars


def spark(runs: list[digest.Brief]) -> list[dict[str, Any]]:
    """The bars of a sparkline of ``runs``: height their duration, class their outcome."""
    bars = bar_geometry([r.duration for r in runs], 100, 20, slots=20)
    for bar, run in zip(bars, runs, strict=True):
        bar.update(status=run.status.value, title=f"{run.status.value}, {seconds(run.duration)}")
    return bars


_STATE_KEYS = ("description", "paused", "pause_note", "next_run_at", "last_run", "broken", "notify")


def definition(shape: dict[str, Any]) -> list[tuple[str, str]]:
    """The job-file keys that have a value, as text."""
    shown = []
    for key, value in shape.items():
        if key in _STATE_KEYS or value in (None, [], {}):
            continue
        shown.append(
            (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        )
    return shown


def form_values(shape: dict[str, Any]) -> dict[str, str]:
    """The form's fields filled from a job's shape (notify URLs and env values stay out)."""
    values: dict[str, str] = {}
    for key, value in shape.items():
        if value is None or key in _STATE_KEYS or key == "env":
            continue
        if key in ("tags", "depends_on"):
            values[key] = ", ".join(value)
        elif key == "command" and isinstance(value, list):
            values[key] = shlex.join(value)
        elif key in ("args", "kwargs"):
            values[key] = "" if value in ([], {}) else json.dumps(value, ensure_ascii=False)
        elif isinstance(value, bool):
            values[key] = "true" if value else ""
        else:
            values[key] = str(value)
    for kind in ("call", "task", "command"):
        if kind in values:
            values["kind"], values["target"] = kind, values.pop(kind)
    return values
