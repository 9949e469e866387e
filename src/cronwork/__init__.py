"""cronwork: a correct, fast, observable job scheduler.

The public face; names load on first use so that ``import cronwork`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cronwork.errors import (
    ConfigError,
    CronworkError,
    DuplicateJob,
    DurationError,
    JobError,
    JobNotFound,
    RunNotFound,
    ScheduleError,
    SettingError,
    StoreError,
    TargetError,
)

if TYPE_CHECKING:
    from cronwork.events import Event, EventType
    from cronwork.jobs import Job
    from cronwork.policies import Misfire, OnTimeout, Overlap
    from cronwork.runs import Run, RunStatus
    from cronwork.scheduler import AsyncScheduler, Scheduler
    from cronwork.targets import CeleryTask, Command, TaskRegistry
    from cronwork.timing import Schedule, parse_duration, parse_schedule
    from cronwork.timing.triggers import after, on_failure, on_finish

__version__ = "0.1.0"

_LAZY = {
    "Scheduler": "cronwork.scheduler",
    "AsyncScheduler": "cronwork.scheduler",
    "Job": "cronwork.jobs",
    "Run": "cronwork.runs",
    "RunStatus": "cronwork.runs",
    "Command": "cronwork.targets",
    "CeleryTask": "cronwork.targets",
    "TaskRegistry": "cronwork.targets",
    "Event": "cronwork.events",
    "EventType": "cronwork.events",
    "Overlap": "cronwork.policies",
    "Misfire": "cronwork.policies",
    "OnTimeout": "cronwork.policies",
    "Schedule": "cronwork.timing",
    "parse_schedule": "cronwork.timing",
    "parse_duration": "cronwork.timing",
    "after": "cronwork.timing.triggers",
    "on_failure": "cronwork.timing.triggers",
    "on_finish": "cronwork.timing.triggers",
}

__all__ = [
    "AsyncScheduler",
    "CeleryTask",
    "Command",
    "ConfigError",
    "CronworkError",
    "DuplicateJob",
    "DurationError",
    "Event",
    "EventType",
    "Job",
    "JobError",
    "JobNotFound",
    "Misfire",
    "OnTimeout",
    "Overlap",
    "Run",
    "RunNotFound",
    "RunStatus",
    "Schedule",
    "ScheduleError",
    "Scheduler",
    "SettingError",
    "StoreError",
    "TargetError",
    "TaskRegistry",
    "__version__",
    "after",
    "on_failure",
    "on_finish",
    "parse_duration",
    "parse_schedule",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cronwork' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
