"""Job definitions: immutable, validated, and storable without pickling."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cronwork.errors import JobError, ScheduleError
from cronwork.policies import Misfire, OnTimeout, Overlap
from cronwork.targets import Target
from cronwork.timing import Schedule

JOB_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@/-]{0,199}$")

# The settings make_job takes besides id, target and schedule: the one list the faces (the
# scheduler's modify_job, job files) share.
POLICY_SETTINGS = (
    "timeout",
    "on_timeout",
    "retries",
    "retry_backoff",
    "retry_backoff_max",
    "overlap",
    "max_instances",
    "misfire",
    "misfire_grace",
    "start_at",
    "end_at",
    "jitter",
    "dependency_timeout",
)
RUN_SETTINGS = ("args", "kwargs", "tags", "executor")

DEFAULT_RETRY_BACKOFF = timedelta(seconds=10)
DEFAULT_RETRY_BACKOFF_MAX = timedelta(hours=1)
DEFAULT_MISFIRE_GRACE = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Job:
    """A job: what to run (``target``), when (``schedule``) and under which policies.

    ``timeout`` is the expected duration of one run; ``next_run_at`` is the next slot the
    store will claim (None when the schedule is exhausted or event-driven); ``broken`` holds
    the error when a stored target cannot be resolved in this process.
    """

    id: str
    target: Target
    schedule: Schedule
    timeout: timedelta | None = None
    on_timeout: OnTimeout = OnTimeout.CANCEL
    retries: int = 0
    retry_backoff: timedelta = DEFAULT_RETRY_BACKOFF
    retry_backoff_max: timedelta = DEFAULT_RETRY_BACKOFF_MAX
    overlap: Overlap = Overlap.SKIP
    max_instances: int = 1
    misfire: Misfire = Misfire.ONCE
    misfire_grace: timedelta = DEFAULT_MISFIRE_GRACE
    start_at: datetime | None = None
    end_at: datetime | None = None
    jitter: timedelta | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    executor: str | None = None
    depends_on: tuple[str, ...] = ()
    dependency_timeout: timedelta | None = None
    paused: bool = False
    next_run_at: datetime | None = None
    broken: str | None = None
    origin: str | None = None
    created_at: datetime | None = None

    @property
    def timezone(self) -> str:
        """The IANA name of the schedule's zone."""
        return self.schedule.tz.key

    @property
    def schedule_text(self) -> str:
        """The schedule's source text, without bounds or jitter (stored beside it)."""
        return self.schedule.source

    def replace(self, **changes: Any) -> Job:
        """Return a copy with ``changes`` applied (not validated; see validate_job)."""
        # Hand-rolled: a claim replaces every due job, and dataclasses.replace costs double.
        if not changes.keys() <= _JOB_FIELD_SET:
            unknown = ", ".join(sorted(changes.keys() - _JOB_FIELD_SET))
            raise TypeError(f"Job has no field(s) {unknown}")
        new = object.__new__(Job)
        for name in _JOB_FIELDS:
            object.__setattr__(new, name, changes[name] if name in changes else getattr(self, name))
        return new


_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(Job))
_JOB_FIELD_SET = frozenset(_JOB_FIELDS)


def validate_job(job: Job) -> Job:
    """Check every field of ``job``; raise JobError naming the field, else return it."""
    if not isinstance(job.id, str) or not JOB_ID.match(job.id):
        raise JobError(
            f"job id {job.id!r} is invalid: use 1-200 letters, digits and _ . : @ / -, "
            "starting with a letter, digit or _"
        )
    where = f"job {job.id!r}"
    if not isinstance(job.schedule, Schedule):
        raise JobError(f"{where}: schedule must be a Schedule, got {type(job.schedule).__name__}")
    if job.timeout is not None and job.timeout <= timedelta(0):
        raise JobError(f"{where}: timeout must be positive, got {job.timeout}")
    if not isinstance(job.retries, int) or isinstance(job.retries, bool) or job.retries < 0:
        raise JobError(f"{where}: retries must be a whole number >= 0, got {job.retries!r}")
    if job.retry_backoff < timedelta(0):
        raise JobError(f"{where}: retry_backoff must not be negative")
    if job.retry_backoff_max < job.retry_backoff:
        raise JobError(f"{where}: retry_backoff_max must be at least retry_backoff")
    if not isinstance(job.max_instances, int) or job.max_instances < 1:
        raise JobError(f"{where}: max_instances must be a whole number >= 1")
    if job.misfire_grace < timedelta(0):
        raise JobError(f"{where}: misfire_grace must not be negative")
    if job.start_at and job.end_at and job.end_at < job.start_at:
        raise JobError(f"{where}: end_at {job.end_at} is before start_at {job.start_at}")
    if job.dependency_timeout is not None and job.dependency_timeout <= timedelta(0):
        raise JobError(f"{where}: dependency_timeout must be positive")
    if job.id in job.depends_on:
        raise JobError(f"{where}: a job cannot depend on itself")
    for tag in job.tags:
        if not isinstance(tag, str) or not tag:
            raise JobError(f"{where}: tags must be non-empty strings, got {tag!r}")
    try:
        json.dumps(list(job.args))
        json.dumps(dict(job.kwargs))
    except (TypeError, ValueError) as exc:
        raise JobError(f"{where}: args and kwargs must be JSON values ({exc})") from None
    return job


def coerce_enum(
    enum: type[Overlap] | type[Misfire] | type[OnTimeout], value: object, what: str, job_id: str
) -> Any:
    """Return ``enum(value)`` or raise JobError listing the allowed values."""
    try:
        return enum(value if isinstance(value, str) else str(value))
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise JobError(f"job {job_id!r}: {what} {value!r} is not one of {allowed}") from None


def ids(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Normalise a job-id list argument (a single id is accepted)."""
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(values)


def _duration(value: object, what: str, job_id: str, *, allow_zero: bool = False) -> timedelta:
    from cronwork.timing import parse_duration

    try:
        return parse_duration(value, what=what, allow_zero=allow_zero)
    except ScheduleError as exc:
        raise JobError(f"job {job_id!r}: {exc}") from None


def _moment(value: object, what: str, job_id: str, tz: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise JobError(
                f"job {job_id!r}: {what} {value!r} is not an ISO 8601 date-time"
            ) from None
    if not isinstance(value, datetime):
        raise JobError(f"job {job_id!r}: {what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def make_job(
    job_id: str,
    target: Target,
    schedule: object,
    *,
    tz: Any = None,
    timeout: object = None,
    on_timeout: object = "cancel",
    retries: int = 0,
    retry_backoff: object = DEFAULT_RETRY_BACKOFF,
    retry_backoff_max: object = DEFAULT_RETRY_BACKOFF_MAX,
    overlap: object = "skip",
    max_instances: int = 1,
    misfire: object = "once",
    misfire_grace: object = DEFAULT_MISFIRE_GRACE,
    start_at: object = None,
    end_at: object = None,
    jitter: object = None,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
    executor: str | None = None,
    depends_on: Iterable[str] | str | None = None,
    dependency_timeout: object = None,
    paused: bool = False,
    origin: str | None = None,
) -> Job:
    """Build and validate a Job from the loose values people write (``"30m"``, ``"skip"``)."""
    from cronwork.timing import parse_schedule
    from cronwork.timing.zones import resolve_zone

    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise JobError(
            f"job id {job_id!r} is invalid: use 1-200 letters, digits and _ . : @ / -, "
            "starting with a letter, digit or _"
        )
    try:
        zone = resolve_zone(tz if tz is not None else getattr(schedule, "tz", None))
    except ScheduleError as exc:
        raise JobError(f"job {job_id!r}: {exc}") from None
    start = _moment(start_at, "start_at", job_id, zone)
    end = _moment(end_at, "end_at", job_id, zone)
    jitter_td = None if jitter is None else _duration(jitter, "jitter", job_id)
    try:
        sched = parse_schedule(
            schedule,
            tz=zone,
            job_id=job_id,
            start=start,
            end=end,
            jitter=jitter_td,
        )
    except ScheduleError as exc:
        raise ScheduleError(f"job {job_id!r}: schedule: {exc}") from None
    if executor is not None and executor not in ("thread", "process", "async", "command"):
        raise JobError(
            f"job {job_id!r}: executor {executor!r} is not one of 'thread', 'process', "
            "'async', 'command'"
        )
    job = Job(
        id=job_id,
        target=target,
        schedule=sched,
        timeout=None if timeout is None else _duration(timeout, "timeout", job_id),
        on_timeout=coerce_enum(OnTimeout, on_timeout, "on_timeout", job_id),
        retries=retries,
        retry_backoff=_duration(retry_backoff, "retry_backoff", job_id, allow_zero=True),
        retry_backoff_max=_duration(retry_backoff_max, "retry_backoff_max", job_id),
        overlap=coerce_enum(Overlap, overlap, "overlap", job_id),
        max_instances=max_instances,
        misfire=coerce_enum(Misfire, misfire, "misfire", job_id),
        misfire_grace=_duration(misfire_grace, "misfire_grace", job_id, allow_zero=True),
        start_at=start,
        end_at=end,
        jitter=jitter_td,
        args=tuple(args),
        kwargs=dict(kwargs or {}),
        tags=tuple(tags),
        executor=executor,
        depends_on=ids(depends_on),
        dependency_timeout=None
        if dependency_timeout is None
        else _duration(dependency_timeout, "dependency_timeout", job_id),
        paused=paused,
        origin=origin,
    )
    return validate_job(job)
