"""Event-driven schedules: fire when other jobs end, not at a time.

They live in timing because a schedule is the answer to "when does this fire"; they refer to
other jobs only by id, as plain strings, and never fire on their own (``next_after`` is None).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from cronwork.errors import ScheduleError
from cronwork.ids import invalid_job_id, is_job_id
from cronwork.timing.base import Schedule, require_aware

Outcome = Literal["success", "failure", "finish"]

_KEYWORDS: dict[str, Outcome] = {"after": "success", "on_failure": "failure", "on_finish": "finish"}
_TEXT = re.compile(r"^\s*(after|on_failure|on_finish)\s*[:( ]\s*(.*?)\s*\)?\s*$", re.IGNORECASE)


class TriggeredSchedule(Schedule):
    """Fires when upstream jobs end with ``on`` (success, failure or any finish).

    With several upstream jobs it fires once all of them have ended that way since this job
    last ran (fan-in).
    """

    def __init__(self, upstream: Iterable[str], on: Outcome, tz: ZoneInfo | None = None) -> None:
        names = tuple(upstream)
        keyword = {v: k for k, v in _KEYWORDS.items()}.get(on)
        if keyword is None:
            raise ScheduleError(f"trigger outcome {on!r} is not one of success, failure, finish")
        if not names:
            raise ScheduleError(f"{keyword}() needs at least one job id")
        for name in names:
            if not is_job_id(name):
                raise ScheduleError(invalid_job_id(name, f"{keyword}():"))
        if len(set(names)) != len(names):
            raise ScheduleError(f"{keyword}(): a job id is listed twice in {list(names)}")
        self.upstream = names
        self.on: Outcome = on
        self.tz = tz or ZoneInfo("UTC")
        self.source = f"{keyword} {', '.join(names)}"

    def next_after(self, moment: datetime) -> datetime | None:
        """Never fires by time: the engine starts it when its upstream jobs end."""
        require_aware(moment)
        return None

    @property
    def is_triggered(self) -> bool:
        """Always True: this schedule is driven by other jobs."""
        return True

    def describe(self) -> str:
        """E.g. ``After extract and load succeed``."""
        *rest, last = self.upstream
        names = f"{', '.join(rest)} and {last}" if rest else last
        verb = {"success": "succeed", "failure": "fail", "finish": "finish"}[self.on]
        if not rest:
            verb += "es" if verb.endswith("sh") else "s"
        return f"After {names} {verb}"


def parse_trigger(text: str, tz: ZoneInfo | None = None) -> TriggeredSchedule | None:
    """Parse ``after a, b`` / ``on_failure a`` / ``on_finish(a)``; None if not that form."""
    match = _TEXT.match(text)
    if match is None:
        return None
    on = _KEYWORDS[match.group(1).lower()]
    names = [part.strip().strip("\"'") for part in match.group(2).split(",")]
    if not any(names):
        raise ScheduleError(f"{match.group(1)} needs at least one job id (in {text!r})")
    return TriggeredSchedule([n for n in names if n], on, tz)


def after(*jobs: str | Iterable[str]) -> TriggeredSchedule:
    """A schedule that fires when all ``jobs`` have succeeded since this job last ran."""
    return TriggeredSchedule(_flatten(jobs), "success")


def on_failure(*jobs: str | Iterable[str]) -> TriggeredSchedule:
    """A schedule that fires when ``jobs`` have failed (retries exhausted)."""
    return TriggeredSchedule(_flatten(jobs), "failure")


def on_finish(*jobs: str | Iterable[str]) -> TriggeredSchedule:
    """A schedule that fires when ``jobs`` have finished, whatever the outcome."""
    return TriggeredSchedule(_flatten(jobs), "finish")


def _flatten(items: tuple[str | Iterable[str], ...]) -> list[str]:
    names: list[str] = []
    for item in items:
        if isinstance(item, str):
            names.append(item)
        else:
            names.extend(item)
    return names
