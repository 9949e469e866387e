"""Notification targets: where to POST when a job's runs end a certain way.

A job's ``notify`` (and the ``[scheduler]`` default) is a list of targets, each a URL and the
outcomes it wants. People write a bare URL for the failing outcomes, or a mapping
``{"url": ..., "on": [...]}``. URLs may carry secrets (webhook tokens), so they are shown only
through ``masked_url``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cronwork.errors import JobError

# The outcomes a target may ask for; ``recovered`` is the first success after a failure.
NOTIFY_EVENTS = ("failed", "timed_out", "missed", "lost", "recovered", "succeeded")
# What a bare URL, or a target without ``on``, hears about: every failing outcome.
DEFAULT_EVENTS = ("failed", "timed_out", "missed", "lost")
MAX_TARGETS = 20
MAX_URL_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    """One receiver: an http(s) URL and the outcomes (``NOTIFY_EVENTS``) it is told about."""

    url: str
    on: tuple[str, ...] = DEFAULT_EVENTS

    def to_dict(self) -> dict[str, Any]:
        """The target as a job file or JSON body writes it (the URL in full)."""
        return {"url": self.url, "on": list(self.on)}


def masked_url(url: str) -> str:
    """``url`` with everything after the host hidden: webhook paths and queries are secrets."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an invalid URL)"
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def parse_notify(value: object, job_id: str, field: str = "notify") -> tuple[NotifyTarget, ...]:
    """Read a ``notify`` value (a list of URLs and/or mappings); raise JobError naming the field.

    Already parsed targets pass through, so a stored job's value can be validated again.
    """
    if value is None or value == ():
        return ()
    if isinstance(value, (str, Mapping, NotifyTarget)):
        value = [value]
    if not isinstance(value, Iterable):
        raise _error(job_id, field, value, f"must be a list of URLs or tables, got {_kind(value)}")
    targets = tuple(_target(item, job_id, field) for item in value)
    if len(targets) > MAX_TARGETS:
        raise _error(
            job_id, field, value, f"has {len(targets)} targets; at most {MAX_TARGETS} are allowed"
        )
    return targets


def _target(item: object, job_id: str, field: str) -> NotifyTarget:
    url: object
    on: list[Any]
    if isinstance(item, NotifyTarget):
        url, on = item.url, list(item.on)
    elif isinstance(item, str):
        url, on = item, list(DEFAULT_EVENTS)
    elif isinstance(item, Mapping):
        unknown = sorted(str(key) for key in item if key not in ("url", "on"))
        if unknown:
            raise _error(
                job_id,
                field,
                unknown,
                f"target has unknown key(s) {', '.join(unknown)}; a target takes url and on",
            )
        url = item.get("url")
        raw_on = item.get("on", DEFAULT_EVENTS)
        if isinstance(raw_on, str) or not isinstance(raw_on, Iterable):
            raise _error(
                job_id, f"{field}.on", raw_on, f"must be a list of outcomes, got {_kind(raw_on)}"
            )
        on = list(raw_on)
    else:
        raise _error(job_id, field, item, f"target must be a URL or a table, got {_kind(item)}")
    url = _checked_url(url, job_id, field)
    for event in on:
        if event not in NOTIFY_EVENTS:
            allowed = ", ".join(NOTIFY_EVENTS)
            raise _error(job_id, f"{field}.on", event, f"{event!r} is not one of {allowed}")
    if not on:
        raise _error(job_id, f"{field}.on", on, "must name at least one outcome")
    # One order whatever was written, so equal targets compare equal.
    return NotifyTarget(url, tuple(e for e in NOTIFY_EVENTS if e in on))


def _checked_url(url: object, job_id: str, field: str) -> str:
    if not isinstance(url, str):
        raise _error(job_id, f"{field}.url", url, f"must be an http(s) URL, got {_kind(url)}")
    shown = masked_url(url) if url.startswith(("http://", "https://")) else "the value"
    if len(url) > MAX_URL_LENGTH:
        raise _error(job_id, f"{field}.url", shown, f"is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _error(job_id, f"{field}.url", shown, "is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _error(
            job_id, f"{field}.url", shown, "must start with http:// or https:// and name a host"
        )
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise _error(job_id, f"{field}.url", shown, "must not contain spaces or control characters")
    return url


def _error(job_id: str, field: str, value: object, problem: str) -> JobError:
    return JobError(f"job {job_id!r}: {field} {problem}", job_id=job_id, field=field, value=value)


def _kind(value: object) -> str:
    # The value itself is left out: it may be a URL with a secret in it.
    return type(value).__name__
