"""The policies a job carries: overlap, misfire and timeout.

The arithmetic that applies them to a job's slots lives with the stores that use it
(``cronwork.stores.slots``).
"""

from __future__ import annotations

from enum import StrEnum


class Overlap(StrEnum):
    """What happens when a slot arrives while a run of the same job is still going."""

    SKIP = "skip"
    ALLOW = "allow"
    QUEUE = "queue"
    REPLACE = "replace"


class Misfire(StrEnum):
    """What happens to slots that passed while the engine was not running or was blocked."""

    SKIP = "skip"
    ONCE = "once"
    ALL = "all"


class OnTimeout(StrEnum):
    """What the expected duration means: stop the run, or only warn."""

    CANCEL = "cancel"
    WARN = "warn"
