"""The job-file checker: turns parsed data into a JobFile, reporting every problem at once.

``load_job_file`` reads and validates every job (building each through ``make_job``) and
raises ``JobFileError`` listing every problem as ``file:line: job "id": message``; only a
file without problems yields a ``JobFile``. A job's problem is reported at the line of the
key it is about: ``make_job``'s errors say which key in their ``field``.

Over 500 lines, as one pass: the checker of the settings, of each job and its target (call,
task, command or Celery task), and of the dependencies across the file share one list of
problems and one line lookup, which a split would hand from module to module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from cronwork.errors import CronworkError, JobError, JobFileError, ScheduleError
from cronwork.ids import invalid_job_id, is_job_id
from cronwork.jobfile.schema import (
    CELERY_KEYS,
    JOB_KEYS,
    LOG_LEVELS,
    MAKE_JOB_KEYS,
    SCHEDULER_KEYS,
    TARGET_KEYS,
    TOP_KEYS,
    suggest,
    type_name,
    wrong_kind,
)
from cronwork.jobfile.sources import KeyPath, LineOf, parse_source, quote, read_source
from cronwork.jobs import Job, make_job
from cronwork.notify import NotifyTarget, parse_notify
from cronwork.targets import (
    IMPORT_PATH,
    CeleryTask,
    Command,
    Target,
    TaskRegistry,
    import_target,
)


@dataclass(frozen=True, slots=True)
class Settings:
    """The ``[scheduler]`` table; None means "not set in the file"."""

    store: str | None = None
    max_running: int | None = None
    timezone: str | None = None
    log_level: str | None = None
    # Targets told about every job's runs, besides each job's own ``notify``.
    notify: tuple[NotifyTarget, ...] = ()
    celery_app: str | None = None


@dataclass(frozen=True, slots=True)
class JobFile:
    """A validated job file: its settings and the jobs it defines, upstream jobs first.

    ``origin`` is stamped on every job so a later sync knows which stored jobs the file owns;
    ``disabled`` lists the ids of jobs written with ``enabled = false``, which are checked but
    not scheduled.
    """

    path: Path
    origin: str
    settings: Settings
    jobs: tuple[Job, ...]
    disabled: tuple[str, ...] = ()


def origin_of(path: str | os.PathLike[str]) -> str:
    """The origin recorded on jobs defined by the file at ``path``."""
    return f"file:{Path(path).resolve()}"


def load_job_file(
    path: str | os.PathLike[str],
    *,
    check_imports: bool = False,
    tasks: TaskRegistry | None = None,
    tz: str | None = None,
) -> JobFile:
    """Read, parse and validate a ``.toml``, ``.yaml`` or ``.yml`` job file.

    ``check_imports`` also imports every ``call`` target, so a typo fails here rather than at
    the first run; with ``tasks`` every ``task`` target must be registered there; ``tz`` is
    the default zone for jobs when the file sets none.
    """
    file = Path(path)
    text = read_source(file)
    return parse_job_file(
        text,
        name=str(file),
        origin=origin_of(file),
        check_imports=check_imports,
        tasks=tasks,
        tz=tz,
    )


def parse_job_file(
    text: str,
    *,
    name: str,
    origin: str | None = None,
    fmt: str | None = None,
    check_imports: bool = False,
    tasks: TaskRegistry | None = None,
    tz: str | None = None,
) -> JobFile:
    """Validate job-file ``text``; ``name`` appears in messages and picks the format."""
    data, lines = parse_source(text, name, fmt)
    checker = _Checker(name, lines, check_imports=check_imports, tasks=tasks)
    job_file = checker.check(data, origin or origin_of(name), default_tz=tz)
    if checker.problems:
        raise JobFileError(checker.problems)
    assert job_file is not None
    return job_file


def check_job_table(
    raw: object,
    *,
    origin: str | None = None,
    check_imports: bool = False,
    tasks: TaskRegistry | None = None,
    tz: str | None = None,
) -> Job:
    """Validate one job table (a job file's ``[[jobs]]`` entry, or the same keys as JSON).

    The checks of a job file, less what needs the whole file (dependencies are checked
    against the store by whoever stores the job). The first problem is raised as a JobError
    whose ``field`` is the key it is about (``target`` when none is given, None for the
    table itself); a job with ``enabled = false`` is refused, having nothing to schedule.
    """
    checker = _Checker("job", _no_lines, check_imports=check_imports, tasks=tasks)
    job_id = raw.get("id") if isinstance(raw, dict) else None
    shown_id = job_id if isinstance(job_id, str) else None
    try:
        _, job, enabled = checker.job(0, raw, origin or "api", tz)
    except _Skip:
        message = checker.problems[0].removeprefix("job: ")
        raise JobError(message, job_id=shown_id, field=checker.fields[0]) from None
    if not enabled or job is None:
        raise JobError(
            f"job {quote(str(job_id))}: enabled = false has nothing to schedule; leave it out",
            job_id=shown_id,
            field="enabled",
        )
    return job


def _no_lines(path: KeyPath) -> None:
    return None


class _Skip(Exception):
    """This job has a problem already recorded; go on with the next one."""


class _Checker:
    """Collects problems across the whole file so the user sees them all at once."""

    def __init__(
        self,
        name: str,
        lines: LineOf,
        *,
        check_imports: bool,
        tasks: TaskRegistry | None,
    ) -> None:
        self.tasks = tasks
        self.name = name
        self.lines = lines
        self.check_imports = check_imports
        self.problems: list[str] = []
        # Per problem, the job key it is about (None: the job or file as a whole).
        self.fields: list[str | None] = []
        # [scheduler] celery_app: the app of celery_task jobs that name none.
        self.celery_app: str | None = None

    def problem(
        self, path: KeyPath, message: str, label: str | None = None, field: str | None = None
    ) -> None:
        line = self.lines(path)
        where = f"{self.name}:{line}" if line is not None else self.name
        self.problems.append(f"{where}: {label}: {message}" if label else f"{where}: {message}")
        if field is None and len(path) > 2 and path[0] == "jobs":
            field = str(path[2])
        self.fields.append(field)

    def check(self, data: Any, origin: str, *, default_tz: str | None) -> JobFile | None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.problem(
                (),
                f"a job file holds a table with [scheduler] and [[jobs]], got {type_name(data)}",
            )
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.problem(
                    (str(key),),
                    f'unknown key "{key}"{suggest(str(key), TOP_KEYS)}; '
                    'a job file has "scheduler" and "jobs"',
                )
        settings = self.settings(data.get("scheduler", {}))
        self.celery_app = settings.celery_app
        raw_jobs = data.get("jobs", [])
        if not isinstance(raw_jobs, list):
            self.problem(("jobs",), f"jobs must be a list of tables, got {type_name(raw_jobs)}")
            raw_jobs = []
        zone = settings.timezone or default_tz
        jobs: dict[str, Job] = {}
        disabled: list[str] = []
        where: dict[str, int] = {}
        for index, raw in enumerate(raw_jobs):
            try:
                job_id, job, enabled = self.job(index, raw, origin, zone)
            except _Skip:
                continue
            if job_id in where:
                first = self.lines(("jobs", where[job_id]))
                at = f" (first defined at line {first})" if first is not None else ""
                self.problem(("jobs", index, "id"), f"duplicate job id{at}", _label(job_id))
                continue
            where[job_id] = index
            if not enabled:
                disabled.append(job_id)
            elif job is not None:
                jobs[job_id] = job
        self.dependencies(jobs, disabled, where)
        if self.problems:
            return None
        return JobFile(
            path=Path(self.name),
            origin=origin,
            settings=settings,
            jobs=tuple(_upstream_first(jobs)),
            disabled=tuple(disabled),
        )

    def settings(self, raw: Any) -> Settings:
        if not isinstance(raw, dict):
            self.problem(("scheduler",), f"scheduler must be a table, got {type_name(raw)}")
            return Settings()
        values: dict[str, Any] = {}
        for key, value in raw.items():
            path = ("scheduler", str(key))
            if key not in SCHEDULER_KEYS:
                self.problem(
                    path, f'unknown key "{key}"{suggest(str(key), SCHEDULER_KEYS)}', "scheduler"
                )
            elif key == "max_running":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    self.problem(
                        path, f"max_running must be a whole number >= 1, got {value!r}", "scheduler"
                    )
                else:
                    values[key] = value
            elif key == "notify":
                try:
                    values[key] = parse_notify(value, "[scheduler]")
                except JobError as exc:
                    self.problem(path, str(exc).removeprefix("job '[scheduler]': "), "scheduler")
            elif not isinstance(value, str) or not value.strip():
                self.problem(
                    path, f"{key} must be non-empty text, got {type_name(value)}", "scheduler"
                )
            elif key == "log_level" and value.lower() not in LOG_LEVELS:
                allowed = ", ".join(quote(level) for level in LOG_LEVELS)
                self.problem(path, f"log_level {quote(value)} is not one of {allowed}", "scheduler")
            elif key == "timezone":
                from cronwork.timing.zones import resolve_zone

                try:
                    resolve_zone(value)
                except CronworkError as exc:
                    self.problem(path, str(exc), "scheduler")
                else:
                    values[key] = value
            else:
                values[key] = value.lower() if key == "log_level" else value.strip()
        return Settings(**values)

    def job(
        self, index: int, raw: Any, origin: str, zone: str | None
    ) -> tuple[str, Job | None, bool]:
        base: KeyPath = ("jobs", index)
        if not isinstance(raw, dict):
            self.problem(base, f"must be a table, got {type_name(raw)}", f"job #{index + 1}")
            raise _Skip
        job_id = raw.get("id")
        if job_id is None:
            self.problem(base, 'missing key "id"', f"job #{index + 1}")
            raise _Skip
        if not is_job_id(job_id):
            self.problem((*base, "id"), invalid_job_id(job_id, "id"), f"job #{index + 1}")
            raise _Skip
        label = _label(job_id)

        def fail(key: str | None, message: str, about: str | None = None) -> _Skip:
            # A problem without a key of its own is shown at the job's id line; ``about``
            # names what it concerns for the faces that point at fields.
            self.problem((*base, key) if key else (*base, "id"), message, label, key or about)
            return _Skip()

        for key in raw:
            if key not in JOB_KEYS:
                raise fail(str(key), f'unknown key "{key}"{suggest(str(key), JOB_KEYS)}')
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise fail("enabled", f"enabled must be true or false, got {type_name(enabled)}")
        if "schedule" not in raw:
            raise fail(
                None,
                'missing key "schedule" (e.g. schedule = "0 3 * * *" or "every 1h")',
                "schedule",
            )
        schedule = raw["schedule"]
        if not isinstance(schedule, str):
            raise fail(
                "schedule",
                f'schedule must be text such as "0 3 * * *" or "every 1h", '
                f"got {type_name(schedule)}",
            )
        target = self.target(raw, fail)
        wrong = wrong_kind(raw)
        if wrong is not None:
            raise fail(*wrong)
        if target.kind == "command" and ("args" in raw or "kwargs" in raw):
            key = "args" if "args" in raw else "kwargs"
            raise fail(
                key,
                f"{key} applies to call and task targets; put command arguments "
                "in the command list",
            )
        depends = raw.get("depends_on", ())
        depends = (depends,) if isinstance(depends, str) else tuple(depends)
        for dep in depends:
            if not is_job_id(dep):
                raise fail("depends_on", invalid_job_id(dep, "depends_on"))
        options = {
            key: _moment(raw[key]) if key in ("start_at", "end_at") else raw[key]
            for key in MAKE_JOB_KEYS
            if key in raw
        }
        try:
            job = make_job(
                job_id,
                target,
                schedule,
                tz=raw.get("tz", zone),
                depends_on=depends,
                origin=origin,
                **options,
            )
        except CronworkError as exc:
            key, message = _explain(exc, job_id, raw)
            about = exc.field if isinstance(exc, (JobError, ScheduleError)) else None
            raise fail(key, message, about) from None
        return job_id, job, enabled

    def target(self, raw: Mapping[str, Any], fail: Callable[..., _Skip]) -> Target:
        given = [key for key in TARGET_KEYS if key in raw]
        if not given:
            raise fail(
                None,
                'needs a target: command = ["prog", "arg"], call = "pkg.mod:func" or task = "name"',
                "target",
            )
        if len(given) > 1:
            raise fail(given[1], f"has both {given[0]} and {given[1]}; give exactly one target")
        kind = given[0]
        value = raw[kind]
        if kind != "command":
            for key in ("cwd", "env", "shell"):
                if key in raw:
                    raise fail(key, f"{key} applies to command targets only")
        if kind != "celery_task":
            for key in CELERY_KEYS:
                if key in raw:
                    raise fail(key, f"{key} applies to celery_task targets only")
        if kind == "celery_task":
            return self.celery_target(raw, fail)
        if kind == "call":
            if not isinstance(value, str) or not IMPORT_PATH.match(value.strip()):
                raise fail(
                    "call",
                    f'call {value!r} is not an import path such as "package.module:function"',
                )
            if self.check_imports:
                try:
                    import_target(value.strip())
                except CronworkError as exc:
                    raise fail("call", f"call {quote(value)}: {exc}") from None
            return Target("call", value.strip())
        if kind == "task":
            if not isinstance(value, str) or not value.strip():
                raise fail("task", f"task must be a task name, got {type_name(value)}")
            if self.tasks is not None and self.tasks.get(value.strip()) is None:
                raise fail(
                    "task",
                    f"task {quote(value)} is not registered; tasks are registered with "
                    '@scheduler.task in your program; here use call = "module:function"',
                )
            return Target("task", value.strip())
        shell = raw.get("shell", False)
        if not isinstance(shell, bool):
            raise fail("shell", f"shell must be true or false, got {type_name(shell)}")
        cwd = raw.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise fail("cwd", f"cwd must be text, got {type_name(cwd)}")
        env = raw.get("env")
        if env is not None and not (
            isinstance(env, dict) and all(isinstance(v, str) for v in env.values())
        ):
            raise fail("env", "env must be a table of text values")
        if not (isinstance(value, str) or (isinstance(value, list) and value)):
            raise fail(
                "command",
                'command must be a list such as ["pg_dump", "mydb"] or text, '
                f"got {type_name(value)}",
            )
        if isinstance(value, list) and shell:
            raise fail("shell", "shell = true needs command as one line of text")
        try:
            command = Command(value, cwd=self.cwd(cwd), env=env, shell=shell)
        except CronworkError as exc:
            raise fail("command", str(exc)) from None
        return Target("command", command.line, command=command)

    def celery_target(
        self, raw: Mapping[str, Any], fail: Callable[[str | None, str], _Skip]
    ) -> Target:
        """A celery_task target: its app (the job's, else [scheduler]'s) and queue, checked
        against the app when imports are checked."""
        for key in ("celery_task", *CELERY_KEYS):
            value = raw.get(key, "")
            if not isinstance(value, str) or (key in raw and not value.strip()):
                raise fail(key, f"{key} must be non-empty text, got {type_name(value)}")
        app = raw["celery_app"].strip() if "celery_app" in raw else self.celery_app
        if app is None:
            raise fail(
                "celery_task",
                f"celery_task {quote(raw['celery_task'])} needs an app: set "
                'celery_app = "package.module:app" in [scheduler] or in the job',
            )
        if not IMPORT_PATH.match(app):
            where = "celery_app" if "celery_app" in raw else "celery_task"
            raise fail(
                where,
                f'celery_app {quote(app)} is not an import path such as "package.module:app"',
            )
        queue = raw["celery_queue"].strip() if "celery_queue" in raw else None
        try:
            task = CeleryTask(raw["celery_task"].strip(), app=app, queue=queue)
        except CronworkError as exc:
            raise fail("celery_task", str(exc)) from None
        if self.check_imports:
            from cronwork.executors.celeryjobs import check_task

            job_id = raw["id"]
            try:
                check_task(task, job_id)
            except JobError as exc:
                # The app's key: the job's own, else the [scheduler] line it came from.
                field = exc.field if exc.field in raw else "celery_task"
                message = str(exc).removeprefix(f"job {job_id!r}: ")
                if exc.field == "celery_app" and "celery_app" not in raw:
                    message += " (celery_app of [scheduler])"
                raise fail(field, message) from None
        return Target("celery", task.name, celery=task)

    def cwd(self, cwd: str | None) -> str | None:
        # A relative cwd means "relative to the job file", wherever the scheduler starts.
        if cwd is None or os.path.isabs(cwd):
            return cwd
        return str((Path(self.name).resolve().parent / cwd).resolve())

    def dependencies(
        self, jobs: Mapping[str, Job], disabled: Sequence[str], where: Mapping[str, int]
    ) -> None:
        from cronwork.dependencies import find_cycle, upstream_of

        for job_id, job in jobs.items():
            path = ("jobs", where[job_id], "depends_on")
            for name in upstream_of(job):
                if name == job_id:
                    self.problem(path, "a job cannot depend on itself", _label(job_id))
                elif name in disabled:
                    self.problem(
                        path, f"depends on {quote(name)}, which is disabled", _label(job_id)
                    )
                elif name not in where:
                    self.problem(
                        path,
                        f"depends on unknown job {quote(name)}{suggest(name, where)}; "
                        "a job file's dependencies must be defined in the same file",
                        _label(job_id),
                    )
        if self.problems:
            return
        cycle = find_cycle(jobs)
        if cycle:
            self.problem(
                ("jobs", where[cycle[0]], "depends_on"),
                "dependency cycle: " + " -> ".join(cycle),
                _label(cycle[0]),
            )


def _label(job_id: str) -> str:
    return f"job {quote(job_id)}"


def _moment(value: Any) -> Any:
    # TOML and YAML both turn a bare date into a date; a job means midnight of that day.
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time())
    return value


def _explain(exc: CronworkError, job_id: str, raw: Mapping[str, Any]) -> tuple[str | None, str]:
    """The key ``exc`` from make_job is about, and its message without the job's name.

    The error names its field; a field the job does not set points at the job's id, except
    a zone, which may come from [scheduler] or the caller: that points at the job itself.
    """
    message = str(exc)
    for prefix in (f"job {job_id!r}: ", f"job {quote(job_id)}: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    field = exc.field if isinstance(exc, (JobError, ScheduleError)) else None
    key = None if field is None else field.partition(".")[0]  # notify.url is under notify
    if key is not None and (key in raw or key == "tz"):
        return key, message
    return None, message


def _upstream_first(jobs: Mapping[str, Job]) -> list[Job]:
    """Jobs in file order, moved so each comes after the jobs it depends on."""
    from cronwork.dependencies import upstream_of

    ordered: list[Job] = []
    placed: set[str] = set()

    def place(job_id: str) -> None:
        if job_id in placed or job_id not in jobs:
            return
        placed.add(job_id)
        for name in upstream_of(jobs[job_id]):
            place(name)
        ordered.append(jobs[job_id])

    for job_id in jobs:
        place(job_id)
    return ordered
