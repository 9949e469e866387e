"""The shape of a job file: its keys, the kind of value each takes, and how to name them.

``check`` builds on these: an unknown key is named with the closest known one, and a value of
the wrong kind is refused in job-file words (``text``, ``a table``) before ``make_job`` reads it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from cronwork.jobs import POLICY_SETTINGS, RUN_SETTINGS

SCHEDULER_KEYS = ("store", "max_running", "timezone", "log_level", "notify", "celery_app")
TOP_KEYS = ("scheduler", "jobs")
TARGET_KEYS = ("command", "call", "task", "celery_task")
# Keys that only a celery_task target takes: its app (default: [scheduler] celery_app) and
# the queue it is sent to.
CELERY_KEYS = ("celery_app", "celery_queue")
JOB_KEYS = (
    "id",
    "schedule",
    *TARGET_KEYS,
    "cwd",
    "env",
    "shell",
    *CELERY_KEYS,
    *POLICY_SETTINGS,
    *RUN_SETTINGS,
    "depends_on",
    "tz",
    "enabled",
)
LOG_LEVELS = ("debug", "info", "warning", "error")

# Names people reach for that difflib cannot connect to ours.
_SYNONYMS = {
    "timezone": "tz",
    "name": "id",
    "cmd": "command",
    "func": "call",
    "celery": "celery_task",
    "queue": "celery_queue",
    "function": "call",
    "depends": "depends_on",
    "after": "depends_on",
    "retry": "retries",
    "cron": "schedule",
    "every": "schedule",
    "disabled": "enabled",
    "paused": "enabled",
}

# Keys passed to make_job as they are (after the kind check of wrong_kind).
MAKE_JOB_KEYS = (*POLICY_SETTINGS, *RUN_SETTINGS)

# The kind of value each key takes, checked before make_job sees it.
_KINDS: dict[str, str] = {
    "args": "list",
    "kwargs": "table",
    "retries": "int",
    "max_instances": "int",
    "tags": "strings",
    "depends_on": "ids",
    "tz": "text",
    "executor": "text",
    "overlap": "text",
    "misfire": "text",
    "on_timeout": "text",
    "timeout": "duration",
    "retry_backoff": "duration",
    "retry_backoff_max": "duration",
    "misfire_grace": "duration",
    "jitter": "duration",
    "dependency_timeout": "duration",
    "start_at": "moment",
    "end_at": "moment",
}
_KIND_NAMES = {
    "list": "a list",
    "table": "a table",
    "int": "a whole number",
    "strings": "a list of text",
    "ids": "a job id or a list of job ids",
    "text": "text",
    "duration": 'a duration such as "30m" or a number of seconds',
    "moment": 'a date-time such as 2026-12-01T10:00 or "2026-12-01 10:00"',
}


def _is(value: object, kind: str) -> bool:
    if kind == "list":
        return isinstance(value, list)
    if kind == "table":
        return isinstance(value, dict)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "strings":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "ids":
        return isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
    if kind == "text":
        return isinstance(value, str)
    if kind == "duration":
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if kind == "moment":
        return isinstance(value, (str, date))
    raise AssertionError(kind)


def wrong_kind(raw: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first key of job table ``raw`` whose value has the wrong kind, with the message."""
    for key, kind in _KINDS.items():
        if key in raw and not _is(raw[key], kind):
            return key, f"{key} must be {_KIND_NAMES[kind]}, got {type_name(raw[key])}"
    return None


def suggest(key: str, known: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` for a misspelt ``key`` close to one of ``known``, else ``""``."""
    choices = list(known)
    guess = _SYNONYMS.get(key.lower())
    if guess not in choices:
        close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
        guess = close[0] if close else None
    return f' (did you mean "{guess}"?)' if guess else ""


def type_name(value: object) -> str:
    """What ``value`` is, in the words of a job file (``text``, ``a table``, ...)."""
    names = {
        str: "text",
        bool: "true/false",
        int: "a whole number",
        float: "a number",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)
