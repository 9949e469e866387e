"""Job definitions: immutable, validated, and storable without pickling.

A little over 500 lines, on purpose: this is the `Job` record and the one validator of its
fields (`validate_job`, `make_job` and a check per field), and every face (the schedulers,
job files, the command line) reaches the rules through them. Kept together, each field's
rule and its error message are read in one place.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cronwork.errors import JobError, ScheduleError, TargetError
from cronwork.ids import check_job_id
from cronwork.notify import NotifyTarget, parse_notify
from cronwork.policies import Misfire, OnTimeout, Overlap
from cronwork.targets import Command, Runnable, Target, import_target, make_target
from cronwork.timing import MAX_DURATION, Schedule, format_duration
from cronwork.timing.base import LATEST
from cronwork.timing.durations import refuse_non_ascii_digits

# The documented limits of the numeric settings (docs/policies.md, "Limits"). Far above any
# real need, and far below what SQLite's 64-bit INTEGER and datetime arithmetic can hold.
MAX_RETRIES = 1000
MAX_INSTANCES = 10_000

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
RUN_SETTINGS = ("args", "kwargs", "tags", "executor", "notify")

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
    notify: tuple[NotifyTarget, ...] = ()
    pause_note: str | None = None

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
        # Hand-rolled: dataclasses.replace goes through __init__, a call per field. The
        # per-run paths use the typed copiers of cronwork.copiers instead.
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
    """Check every field of ``job``; raise JobError naming the job and field, else return it.

    The one validator: make_job, the scheduler's add_job and modify_job, and job files all
    end here, so they accept and refuse the same values.
    """
    check_job_id(job.id)
    where = f"job {job.id!r}"
    if not isinstance(job.target, Target):
        raise _error(job.id, "target", job.target, f"must be a Target, got {_kind(job.target)}")
    if not isinstance(job.schedule, Schedule):
        raise _error(
            job.id, "schedule", job.schedule, f"must be a Schedule, got {_kind(job.schedule)}"
        )
    _check_durations(job)
    _check_enums(job)
    _check_whole(job.id, "retries", job.retries, 0, MAX_RETRIES)
    _check_whole(job.id, "max_instances", job.max_instances, 1, MAX_INSTANCES)
    for name in ("start_at", "end_at"):
        _check_moment(job.id, name, getattr(job, name))
    if job.start_at and job.end_at and job.end_at < job.start_at:
        raise JobError(
            f"{where}: end_at {job.end_at} is before start_at {job.start_at}",
            job_id=job.id,
            field="end_at",
            value=job.end_at,
        )
    _check_ids(job)
    _check_run_settings(job)
    if not isinstance(job.paused, bool):
        raise _error(
            job.id, "paused", job.paused, f"must be True or False, got {_kind(job.paused)}"
        )
    if job.origin is not None and not isinstance(job.origin, str):
        raise _error(job.id, "origin", job.origin, f"must be text, got {_kind(job.origin)}")
    if not isinstance(job.notify, tuple):
        raise _error(job.id, "notify", (), f"must be a tuple of targets, got {_kind(())[:5]}")
    parse_notify(job.notify, job.id)
    check_pause_note(job.id, job.pause_note)
    check_executor(job.id, job.executor, job.target, _runnable_at_hand(job.target))
    return job


def check_executor(
    job_id: str,
    executor: object,
    target: Target,
    runnable: Runnable | None,
) -> None:
    """Raise JobError unless ``executor`` can run ``target``.

    ``runnable`` is what the target resolves to when that is known now (a function or a
    Command), else None: an import path that is not imported yet is checked when it resolves.
    """
    if executor is None:
        return
    if not isinstance(executor, str):
        raise _error(job_id, "executor", executor, f"must be text, got {_kind(executor)}")
    # Imported here: the executors are loaded when a job names one, not with the model.
    from cronwork.executors.registry import EXECUTOR_NAMES

    if executor not in EXECUTOR_NAMES:
        allowed = ", ".join(repr(name) for name in EXECUTOR_NAMES)
        raise _error(job_id, "executor", executor, f"{executor!r} is not one of {allowed}")
    problem = _executor_problem(executor, target, runnable)
    if problem is not None:
        # A TargetError (a JobError): the target is what this executor cannot run.
        raise TargetError(
            f"job {job_id!r}: executor {problem}", job_id=job_id, field="executor", value=executor
        )


def _executor_problem(executor: str, target: Target, runnable: Runnable | None) -> str | None:
    from cronwork.executors.base import is_async_callable

    if executor == "celery":
        if target.kind == "celery":
            return None
        return (
            f"'celery' sends Celery tasks (a CeleryTask target, celery_task in a job file), "
            f"not {target.ref!r}"
        )
    if target.kind == "celery":
        return (
            f"{executor!r} cannot run the Celery task {target.ref!r}; "
            "use executor='celery' or leave executor unset"
        )
    is_command = target.kind == "command" or isinstance(runnable, Command)
    if executor == "command":
        return None if is_command else "'command' runs Command targets, not functions"
    if is_command:
        return (
            f"{executor!r} runs functions, not the Command {target.ref!r}; "
            "use executor='command' or leave executor unset"
        )
    if executor == "process" and target.kind == "callable":
        return (
            "'process' needs a module-level function that the child process can import, "
            f"not {target.ref!r}"
        )
    if runnable is None:
        return None
    if executor == "async" and not is_async_callable(runnable):
        # It would run on the event loop itself and block every other job meanwhile.
        return (
            f"'async' runs coroutine functions, but {target.ref!r} is a plain function that "
            "would block the event loop; use 'thread' or 'process', or make it async def"
        )
    if executor == "thread" and is_async_callable(runnable):
        return (
            f"'thread' would call the coroutine function {target.ref!r} without awaiting it; "
            "use 'async' or 'process'"
        )
    return None


def _runnable_at_hand(target: Target) -> Runnable | None:
    """What ``target`` runs, if known without importing anything new."""
    if target.command is not None:
        return target.command
    if target.func is not None:
        return target.func
    if target.kind == "call" and target.ref.partition(":")[0] in sys.modules:
        try:
            return import_target(target.ref)
        except TargetError:
            return None  # reported by whoever resolves the target
    return None


MAX_PAUSE_NOTE = 500


def check_pause_note(job_id: str, note: object) -> None:
    """Raise JobError unless ``note`` is None or text of at most MAX_PAUSE_NOTE characters."""
    if note is None:
        return
    if not isinstance(note, str):
        raise _error(job_id, "pause_note", note, f"must be text, got {_kind(note)}")
    if len(note) > MAX_PAUSE_NOTE:
        raise _error(
            job_id, "pause_note", note[:40] + "…", f"is longer than {MAX_PAUSE_NOTE} characters"
        )


def _error(job_id: str, name: str, value: object, problem: str) -> JobError:
    return JobError(f"job {job_id!r}: {name} {problem}", job_id=job_id, field=name, value=value)


def _kind(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_durations(job: Job) -> None:
    durations: tuple[tuple[str, timedelta | None, bool], ...] = (
        ("timeout", job.timeout, True),
        ("retry_backoff", job.retry_backoff, False),
        ("retry_backoff_max", job.retry_backoff_max, False),
        ("misfire_grace", job.misfire_grace, False),
        ("jitter", job.jitter, True),
        ("dependency_timeout", job.dependency_timeout, True),
    )
    for name, value, optional in durations:
        if value is None and optional:
            continue
        if not isinstance(value, timedelta):
            raise _error(job.id, name, value, f"must be a timedelta, got {_kind(value)}")
        if value < timedelta(0) or (optional and value == timedelta(0)):
            need = "positive" if optional else "not negative"
            raise _error(job.id, name, value, f"must be {need}, got {format_duration(value)}")
        if value > MAX_DURATION:
            raise _error(
                job.id,
                name,
                value,
                f"{format_duration(value)} is too long: it must be at most "
                f"{format_duration(MAX_DURATION)}",
            )
    if job.retry_backoff_max < job.retry_backoff:
        raise _error(
            job.id, "retry_backoff_max", job.retry_backoff_max, "must be at least retry_backoff"
        )


def _check_enums(job: Job) -> None:
    enums: tuple[tuple[str, object, type[OnTimeout] | type[Overlap] | type[Misfire]], ...] = (
        ("on_timeout", job.on_timeout, OnTimeout),
        ("overlap", job.overlap, Overlap),
        ("misfire", job.misfire, Misfire),
    )
    for name, value, enum in enums:
        if not isinstance(value, enum):
            raise _error(job.id, name, value, f"must be a {enum.__name__}, got {_kind(value)}")


def _check_whole(job_id: str, name: str, value: object, low: int, high: int) -> None:
    # bool is an int subclass, and True is no count.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _error(job_id, name, value, f"must be a whole number, got {_kind(value)}")
    if value < low:
        raise _error(job_id, name, value, f"must be a whole number >= {low}, got {value}")
    if value > high:
        raise _error(job_id, name, value, f"is {value}; it must be at most {high}")


def _check_moment(job_id: str, name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise _error(job_id, name, value, f"must be a timezone-aware datetime, got {_kind(value)}")
    if value >= LATEST:
        raise _error(
            job_id, name, value, f"{value.isoformat()} must be before {LATEST.date().isoformat()}"
        )


def _check_ids(job: Job) -> None:
    if not isinstance(job.depends_on, tuple):
        raise _error(job.id, "depends_on", job.depends_on, "must be a tuple of job ids")
    for dep in job.depends_on:
        check_job_id(dep, f"job {job.id!r}: depends_on", job_id=job.id, field="depends_on")
    if job.id in job.depends_on:
        raise _error(
            job.id, "depends_on", job.id, "lists the job itself: a job cannot depend on itself"
        )


def _check_run_settings(job: Job) -> None:
    if not isinstance(job.args, tuple):
        raise _error(job.id, "args", job.args, f"must be a list of values, got {_kind(job.args)}")
    if not isinstance(job.kwargs, Mapping):
        raise _error(job.id, "kwargs", job.kwargs, f"must be a mapping, got {_kind(job.kwargs)}")
    if not isinstance(job.tags, tuple):
        raise _error(job.id, "tags", job.tags, f"must be a list of text, got {_kind(job.tags)}")
    for tag in job.tags:
        if not isinstance(tag, str) or not tag:
            raise _error(job.id, "tags", tag, f"must be non-empty strings, got {tag!r}")
    _check_json(job.id, "args", list(job.args))
    _check_json(job.id, "kwargs", dict(job.kwargs))


def _check_json(job_id: str, name: str, value: list[Any] | dict[Any, Any]) -> None:
    """Raise JobError unless ``value`` survives a JSON round trip unchanged in kind."""
    if not value:
        return  # most jobs take no arguments: no need to encode an empty list
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and stores would write invalid text.
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _error(job_id, name, value, f"must hold JSON values only ({exc})") from None
    # json.dumps turns keys 1, 1.5, True and None into strings: the run would get others.
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise _error(
                        job_id,
                        name,
                        value,
                        f"keys must be strings, got {type(key).__name__} {key!r}",
                    )
                pending.append(inner)
        elif isinstance(item, (list, tuple)):
            pending.extend(item)


def coerce_enum(
    enum: type[Overlap] | type[Misfire] | type[OnTimeout], value: object, what: str, job_id: str
) -> Any:
    """Return ``enum(value)`` or raise JobError listing the allowed values."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    allowed = ", ".join(repr(m.value) for m in enum)
    raise JobError(
        f"job {job_id!r}: {what} {value!r} is not one of {allowed}",
        job_id=job_id,
        field=what,
        value=value,
    )


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
        raise JobError(f"job {job_id!r}: {exc}", job_id=job_id, field=what, value=value) from None


def _moment(value: object, what: str, job_id: str, tz: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            refuse_non_ascii_digits(value, f"{what} {value!r}")
            value = datetime.fromisoformat(value)
        except ScheduleError as exc:
            raise JobError(
                f"job {job_id!r}: {exc}", job_id=job_id, field=what, value=value
            ) from None
        except ValueError:
            raise _error(job_id, what, value, f"{value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        raise _error(job_id, what, value, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def _values(value: object, what: str, job_id: str, shape: str) -> tuple[Any, ...]:
    # A string or a mapping is iterable, but "abc" as args or tags is never three items.
    if not isinstance(value, (list, tuple)):
        raise _error(job_id, what, value, f"must be a list of {shape}, got {_kind(value)}")
    return tuple(value)


def schedule_error(job_id: str, schedule: object, exc: ScheduleError) -> ScheduleError:
    """The error for a schedule of job ``job_id`` that ``exc`` refused, naming job and field."""
    message = str(exc)
    # Most schedule errors quote the schedule already ('schedule "every 1ms": ...').
    if not message.startswith("schedule"):
        message = f"schedule: {message}"
    return ScheduleError(
        f"job {job_id!r}: {message}", job_id=job_id, field="schedule", value=schedule
    )


def make_job(
    job_id: str,
    target: object,
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
    notify: object = None,
) -> Job:
    """Build and validate a Job from the loose values people write (``"30m"``, ``"skip"``)."""
    from cronwork.timing import parse_schedule
    from cronwork.timing.zones import resolve_zone

    check_job_id(job_id)
    try:
        # A Target as stores keep it, or what a user passes (a function, a Command, a path).
        resolved = make_target(target)
    except TargetError as exc:
        raise TargetError(
            f"job {job_id!r}: {exc}", job_id=job_id, field="target", value=target
        ) from None
    try:
        zone = resolve_zone(tz if tz is not None else getattr(schedule, "tz", None))
    except ScheduleError as exc:
        raise JobError(f"job {job_id!r}: {exc}", job_id=job_id, field="tz", value=tz) from None
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
        raise schedule_error(job_id, schedule, exc) from None
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise _error(job_id, "kwargs", kwargs, f"must be a mapping, got {_kind(kwargs)}")
    job = Job(
        id=job_id,
        target=resolved,
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
        args=_values(args, "args", job_id, "values"),
        kwargs=dict(kwargs or {}),
        tags=_values(tags, "tags", job_id, "text"),
        executor=executor,
        depends_on=ids(depends_on),
        dependency_timeout=None
        if dependency_timeout is None
        else _duration(dependency_timeout, "dependency_timeout", job_id),
        paused=paused,
        origin=origin,
        notify=parse_notify(notify, job_id),
    )
    return validate_job(job)
