"""The Celery app side of the Celery executor: importing and checking an app, warning of the
broker settings that redeliver long tasks, and the task id, result and remote error of a run as
cronwork records them. Celery is imported only when an app is resolved.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC
from typing import Any

from cronwork.errors import TargetError
from cronwork.executors.base import RunContext
from cronwork.targets import import_object

logger = logging.getLogger("cronwork.executors.celery")

MISSING_EXTRA = "the Celery executor needs celery: pip install 'cronwork[celery]'"

# Result backends a thread of another process cannot read: results go to the sender's queue.
_PRIVATE_BACKENDS = ("rpc",)


def _require_celery() -> None:
    try:
        import celery  # noqa: F401
    except ImportError:
        raise TargetError(MISSING_EXTRA) from None


def import_app(path: str) -> Any:
    """Import ``package.module:app`` and return the Celery app found there."""
    _require_celery()
    from celery import Celery

    obj = import_object(path, "app")
    if not isinstance(obj, Celery):
        raise TargetError(f"{path!r} is not a Celery app (it is {type(obj).__name__})")
    return obj


def check_app(app: Any) -> None:
    """Raise TargetError unless ``app`` has a result backend this executor can follow."""
    backend = app.conf.result_backend
    if not backend or str(backend).startswith("disabled"):
        raise TargetError(
            f"Celery app {app.main!r} has no result backend: cronwork follows runs through it; "
            "set result_backend (e.g. redis://...)"
        )
    scheme = str(backend).partition(":")[0]
    if scheme in _PRIVATE_BACKENDS:
        raise TargetError(
            f"Celery app {app.main!r} uses the {scheme}:// result backend, which delivers "
            "results only to the sending client's reply queue; use a shared backend "
            "(redis://, a database) for the Celery executor"
        )


def warn_untracked(app: Any) -> None:
    """Warn once per app that does not report started tasks (``task_track_started``)."""
    if app.conf.task_track_started or id(app) in _UNTRACKED:
        return
    _UNTRACKED.add(id(app))
    logger.warning(
        "Celery app %r does not set task_track_started: unless the workers' app does, "
        "cronwork cannot tell a queued task from a running one, nor notice a dead worker "
        "before the timeout",
        app.main,
    )


_UNTRACKED: set[int] = set()


def broker_address(app: Any) -> str:
    """The app's broker URL with any password masked."""
    try:
        return str(app.connection_for_write().as_uri())
    except Exception:
        return "the broker"


_WARNED: set[tuple[str, float]] = set()


def warn_redelivery(app: Any, timeout: float | None) -> None:
    """Warn once when a Redis broker would hand a late-acked task to a second worker.

    With ``task_acks_late`` a message stays unacknowledged while its task runs, and the Redis
    transport redelivers it after ``visibility_timeout`` (kombu #337, celery #2599).
    """
    if not app.conf.task_acks_late or not str(app.conf.broker_url or "").startswith("redis"):
        return
    options = app.conf.broker_transport_options or {}
    visibility = float(options.get("visibility_timeout", 3600))
    if timeout is not None and timeout < visibility:
        return
    key = (str(app.main), visibility)
    if key in _WARNED:
        return
    _WARNED.add(key)
    logger.warning(
        "Celery app %r acks late on a Redis broker: a task running longer than its "
        "visibility_timeout (%gs) is delivered again and runs twice; give every Celery job "
        "a timeout below it, or raise broker_transport_options['visibility_timeout']",
        app.main,
        visibility,
    )


def task_id_of(context: RunContext) -> str:
    """The Celery task id of a run: ``<run id>-<job id>-<slot, UTC>-<attempt>``.

    Run ids alone repeat across stores; the job, slot and attempt are the run's unique key
    in its store, so together they name one run wherever the fleet's backend is shared.
    """
    slot = context.scheduled_for.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{context.run_id}-{context.job_id}-{slot}-{context.attempt}"


def render_result(value: Any, limit: int) -> str:
    """The task's result as JSON (its repr if not JSON), cut to ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        cut = len(text) - limit
        text = text[:limit] + f"\n... ({cut} more characters not kept)"
    return text


def remote_error(exc: Any, traceback: str | None) -> str:
    """``"ExcType: message"`` followed by the worker's traceback, as cronwork shows errors."""
    head = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else repr(exc)
    if traceback:
        return head + "\n" + traceback.rstrip("\n")
    return head
