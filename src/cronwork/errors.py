"""Every error cronwork raises on purpose derives from CronworkError."""

from __future__ import annotations

from collections.abc import Sequence


class CronworkError(Exception):
    """Base class of the errors cronwork raises."""


class _Located:
    """Structured data beside the message: which job, which field, which value was refused.

    The message stays the whole human story; the attributes let each face (CLI, job files,
    an API) point at the field without parsing the message.
    """

    job_id: str | None
    field: str | None
    value: object

    def __init__(
        self,
        *args: object,
        job_id: str | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        super().__init__(*args)
        self.job_id = job_id
        self.field = field
        self.value = value


class ScheduleError(_Located, CronworkError, ValueError):
    """A schedule text or object that cannot be parsed or can never fire."""


class DurationError(ScheduleError):
    """A duration such as a timeout or an interval that cannot be parsed."""


class JobError(_Located, CronworkError, ValueError):
    """A job definition that is invalid: bad policy, bad target, unknown dependency, cycle."""


class JobNotFound(CronworkError, LookupError):
    """No job with this id exists in the store."""


class DuplicateJob(JobError):
    """A job with this id exists already and replace=False was given."""


class RunNotFound(CronworkError, LookupError):
    """No run with this id exists in the store."""


class TargetError(JobError):
    """A job target that cannot be resolved, referenced or stored."""


class SettingError(_Located, CronworkError, TypeError):
    """A keyword that ``Scheduler(...)`` or ``AsyncScheduler(...)`` does not take; ``field``
    names it (a TypeError too, as Python raises for an unknown keyword)."""


class StoreError(CronworkError):
    """The store cannot be opened or used: corrupt file, newer schema, locked database."""


class StoreUnavailable(StoreError):
    """The store's server cannot be reached (down, restarting, cut off); try again later."""


class ConfigError(CronworkError, ValueError):
    """A job file with an error; the message names the file, line, job and key."""


class JobFileError(ConfigError):
    """A job file with one or more problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        text = self.problems[0]
        if len(self.problems) > 1:
            text += f" (and {len(self.problems) - 1} more)"
        super().__init__(text)
