"""`cronwork run` and `serve` log the engine's events at the level they are given.

Events below the log level are not listened to at all, so the engine builds no event for
a run that starts and succeeds when the operator asked for warnings only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from cronwork.cli.foreground import open_scheduler
from cronwork.events import EventType


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the cronwork loggers back as they were after each test."""
    root = logging.getLogger("cronwork")
    engine = logging.getLogger("cronwork.scheduler")
    saved = (root.handlers[:], root.level, root.propagate, engine.level)
    yield
    root.handlers[:], root.level, root.propagate, engine.level = saved


def listened(level: str) -> set[EventType]:
    scheduler = open_scheduler(
        None,
        store="memory://",
        default_store="memory://",
        log_format="human",
        log_level=level,
        max_running=None,
    )
    return {kind for kind in EventType if scheduler.listeners.wants(kind)}


def test_at_info_every_event_is_a_line() -> None:
    assert listened("info") == set(EventType)


def test_at_warning_runs_that_start_and_succeed_are_not_listened_to() -> None:
    kinds = listened("warning")
    assert EventType.RUN_STARTED not in kinds
    assert EventType.RUN_SUCCEEDED not in kinds
    assert {EventType.RUN_FAILED, EventType.RUN_LOST, EventType.RUN_SKIPPED} <= kinds


def test_at_error_only_errors_are_listened_to() -> None:
    kinds = listened("error")
    assert EventType.RUN_SKIPPED not in kinds
    assert {EventType.RUN_FAILED, EventType.RUN_TIMED_OUT, EventType.JOB_BROKEN} <= kinds
