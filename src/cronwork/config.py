"""Job files: TOML and YAML with one schema, validated whole before anything changes.

A job file has a ``scheduler`` table (store URL, ``max_running``, ``timezone``, ``log_level``)
and a list of ``jobs``. ``load_job_file`` reads and validates every job (building each through
``make_job``) and raises ``JobFileError`` listing every problem as
``file:line: job "id": message``; only a file without problems yields a ``JobFile``, which
``sync_job_file`` then writes into a store. So a file with any error changes nothing.

Line numbers: YAML nodes carry their position; for TOML, which ``tomllib`` parses without
positions, ``_TomlLines`` scans the source for ``[[jobs]]`` headers and ``key =`` lines.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from cronwork.dependencies import removals_needed
from cronwork.errors import ConfigError, CronworkError, StoreError
from cronwork.jobs import JOB_ID, POLICY_SETTINGS, RUN_SETTINGS, Job, make_job
from cronwork.targets import IMPORT_PATH, Command, Target, TaskRegistry, import_target

__all__ = [
    "JOB_KEYS",
    "SCHEDULER_KEYS",
    "JobFile",
    "JobFileError",
    "Settings",
    "SyncReport",
    "add_import_path",
    "load_job_file",
    "parse_job_file",
    "plan_sync",
    "sync_job_file",
]

SCHEDULER_KEYS = ("store", "max_running", "timezone", "log_level")
TOP_KEYS = ("scheduler", "jobs")
TARGET_KEYS = ("command", "call", "task")
JOB_KEYS = (
    "id",
    "schedule",
    *TARGET_KEYS,
    "cwd",
    "env",
    "shell",
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
    "function": "call",
    "depends": "depends_on",
    "after": "depends_on",
    "retry": "retries",
    "cron": "schedule",
    "every": "schedule",
    "disabled": "enabled",
    "paused": "enabled",
}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Settings:
    """The ``[scheduler]`` table; None means "not set in the file"."""

    store: str | None = None
    max_running: int | None = None
    timezone: str | None = None
    log_level: str | None = None


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


class JobFileError(ConfigError):
    """A job file with one or more problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        text = self.problems[0]
        if len(self.problems) > 1:
            text += f" (and {len(self.problems) - 1} more)"
        super().__init__(text)


def origin_of(path: str | os.PathLike[str]) -> str:
    """The origin recorded on jobs defined by the file at ``path``."""
    return f"file:{Path(path).resolve()}"


def add_import_path(path: str | os.PathLike[str]) -> str:
    """Put the job file's folder last on sys.path, so ``call`` targets import from beside it.

    So ``call = "tasks:hello"`` imports ``tasks.py`` beside the job file, from wherever
    ``cronwork run`` was started; being last, a ``json.py`` there never replaces an installed
    module (a target named like one is refused, see cronwork.importpaths). Returns the folder.
    """
    from cronwork.importpaths import append_user_folder

    return append_user_folder(Path(path).resolve().parent)


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
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JobFileError([f"{file}: no such job file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobFileError([f"{file}: cannot read the job file: {exc}"]) from None
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
    kind = (fmt or Path(name).suffix.lstrip(".")).lower()
    data: Any
    lines: Callable[[Path_], int | None]
    if kind == "toml":
        data = _load_toml(text, name)
        lines = _TomlLines(text).line
    elif kind in ("yaml", "yml"):
        data, lines = _load_yaml(text, name)
    else:
        raise JobFileError(
            [f"{name}: unknown job file format {kind!r}; use a .toml, .yaml or .yml file"]
        )
    checker = _Checker(name, lines, check_imports=check_imports, tasks=tasks)
    job_file = checker.check(data, origin or origin_of(name), default_tz=tz)
    if checker.problems:
        raise JobFileError(checker.problems)
    assert job_file is not None
    return job_file


# -- parsing --------------------------------------------------------------------------------

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _load_toml(text: str, name: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        if found:
            number = int(found.group(1))
            message = message[: found.start()]
            if message == "Cannot overwrite a value":
                # tomllib does not say which key; the line it points at does.
                key = _KEY.match(text.splitlines()[number - 1] if number else "")
                if key:
                    given = key.group(1) or key.group(2) or key.group(3)
                    message = f"duplicate key {_quote(given)} ({message})"
            raise JobFileError([f"{name}:{number}: {message}"]) from None
        raise JobFileError([f"{name}: {message}"]) from None


def _load_yaml(text: str, name: str) -> tuple[Any, Callable[[Path_], int | None]]:
    try:
        import yaml
    except ImportError:
        raise JobFileError(
            [f"{name}: YAML job files need PyYAML: pip install 'cronwork[yaml]'"]
        ) from None
    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise JobFileError([f"{where}: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise JobFileError([f"{name}: {exc}"]) from None
    finally:
        loader.dispose()

    def line(path: Path_) -> int | None:
        current = node
        found: int | None = current.start_mark.line + 1 if current is not None else None
        for step in path:
            if isinstance(current, yaml.MappingNode) and isinstance(step, str):
                for key, value in current.value:
                    if getattr(key, "value", None) == step:
                        found = key.start_mark.line + 1
                        current = value
                        break
                else:
                    return found
            elif isinstance(current, yaml.SequenceNode) and isinstance(step, int):
                if step >= len(current.value):
                    return found
                current = current.value[step]
                found = current.start_mark.line + 1
            else:
                return found
        return found

    return data, line


@functools.cache
def _yaml_loader() -> type[Any]:
    """PyYAML's SafeLoader, refusing a key given twice in one mapping (it keeps the last)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            _refuse_duplicate_keys(node)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _refuse_duplicate_keys(node: Any) -> None:
    """Raise a marked YAML error at the second of two equal scalar keys of ``node``."""
    import yaml

    first: dict[tuple[str, str], Any] = {}
    for key, _ in node.value:
        # Merge keys (<<) bring in defaults that keys given here may override.
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        earlier = first.setdefault((key.tag, key.value), key)
        if earlier is not key:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {_quote(key.value)} (first at line {earlier.start_mark.line + 1})",
                key.start_mark,
            )


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*[=.]""")


class _TomlLines:
    """Finds the line of a key in a TOML source by scanning it; no TOML positions exist.

    Good enough for files people write by hand: ``[[jobs]]`` blocks in order, keys at the
    start of a line. A key it cannot find falls back to its table's header line.
    """

    def __init__(self, text: str) -> None:
        self.jobs: list[tuple[int, dict[str, int]]] = []
        self.tables: dict[str, tuple[int, dict[str, int]]] = {"": (1, {})}
        keys = self.tables[""][1]
        for number, raw in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(raw)
            if header and not raw.lstrip().startswith("#"):
                table = ".".join(part.strip().strip("\"'") for part in header.group(2).split("."))
                if header.group(1) == "[[" and table == "jobs":
                    self.jobs.append((number, {}))
                    keys = self.jobs[-1][1]
                elif table.startswith("jobs.") and self.jobs:
                    # A sub-table of the current job, e.g. [jobs.kwargs]: point at its header.
                    self.jobs[-1][1].setdefault(table.split(".")[1], number)
                    keys = {}
                else:
                    self.tables[table] = (number, {})
                    keys = self.tables[table][1]
                continue
            key = _KEY.match(raw)
            if key:
                keys.setdefault(key.group(1) or key.group(2) or key.group(3), number)

    def line(self, path: Path_) -> int | None:
        """Line of ``("jobs", 2, "timeout")``, ``("scheduler", "store")`` or a prefix."""
        if not path:
            return None
        if path[0] == "jobs" and len(path) >= 2 and isinstance(path[1], int):
            if path[1] >= len(self.jobs):
                return self.tables[""][1].get("jobs")
            start, keys = self.jobs[path[1]]
            if len(path) >= 3 and isinstance(path[2], str):
                return keys.get(path[2], start)
            return start
        head = str(path[0])
        if head in self.tables:
            start, keys = self.tables[head]
            if len(path) >= 2:
                return keys.get(str(path[1]), start)
            return start
        return self.tables[""][1].get(head)


# -- validation -----------------------------------------------------------------------------


class _Skip(Exception):
    """This job has a problem already recorded; go on with the next one."""


def _suggest(key: str, known: Iterable[str]) -> str:
    choices = list(known)
    guess = _SYNONYMS.get(key.lower())
    if guess not in choices:
        close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
        guess = close[0] if close else None
    return f' (did you mean "{guess}"?)' if guess else ""


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _type_name(value: object) -> str:
    names = {
        str: "text",
        bool: "true/false",
        int: "a whole number",
        float: "a number",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


class _Checker:
    """Collects problems across the whole file so the user sees them all at once."""

    def __init__(
        self,
        name: str,
        lines: Callable[[Path_], int | None],
        *,
        check_imports: bool,
        tasks: TaskRegistry | None,
    ) -> None:
        self.tasks = tasks
        self.name = name
        self.lines = lines
        self.check_imports = check_imports
        self.problems: list[str] = []

    def problem(self, path: Path_, message: str, label: str | None = None) -> None:
        line = self.lines(path)
        where = f"{self.name}:{line}" if line is not None else self.name
        self.problems.append(f"{where}: {label}: {message}" if label else f"{where}: {message}")

    def check(self, data: Any, origin: str, *, default_tz: str | None) -> JobFile | None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.problem(
                (),
                f"a job file holds a table with [scheduler] and [[jobs]], got {_type_name(data)}",
            )
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.problem(
                    (str(key),),
                    f'unknown key "{key}"{_suggest(str(key), TOP_KEYS)}; '
                    'a job file has "scheduler" and "jobs"',
                )
        settings = self.settings(data.get("scheduler", {}))
        raw_jobs = data.get("jobs", [])
        if not isinstance(raw_jobs, list):
            self.problem(("jobs",), f"jobs must be a list of tables, got {_type_name(raw_jobs)}")
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
            self.problem(("scheduler",), f"scheduler must be a table, got {_type_name(raw)}")
            return Settings()
        values: dict[str, Any] = {}
        for key, value in raw.items():
            path = ("scheduler", str(key))
            if key not in SCHEDULER_KEYS:
                self.problem(
                    path, f'unknown key "{key}"{_suggest(str(key), SCHEDULER_KEYS)}', "scheduler"
                )
            elif key == "max_running":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    self.problem(
                        path, f"max_running must be a whole number >= 1, got {value!r}", "scheduler"
                    )
                else:
                    values[key] = value
            elif not isinstance(value, str) or not value.strip():
                self.problem(
                    path, f"{key} must be non-empty text, got {_type_name(value)}", "scheduler"
                )
            elif key == "log_level" and value.lower() not in LOG_LEVELS:
                allowed = ", ".join(_quote(level) for level in LOG_LEVELS)
                self.problem(
                    path, f"log_level {_quote(value)} is not one of {allowed}", "scheduler"
                )
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
        base: Path_ = ("jobs", index)
        if not isinstance(raw, dict):
            self.problem(base, f"must be a table, got {_type_name(raw)}", f"job #{index + 1}")
            raise _Skip
        job_id = raw.get("id")
        if job_id is None:
            self.problem(base, 'missing key "id"', f"job #{index + 1}")
            raise _Skip
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            self.problem(
                (*base, "id"),
                f"id {job_id!r} is invalid: use 1-200 letters, digits and _ . : @ / -, "
                "starting with a letter, digit or _",
                f"job #{index + 1}",
            )
            raise _Skip
        label = _label(job_id)

        def fail(key: str | None, message: str) -> _Skip:
            self.problem((*base, key) if key else (*base, "id"), message, label)
            return _Skip()

        for key in raw:
            if key not in JOB_KEYS:
                raise fail(str(key), f'unknown key "{key}"{_suggest(str(key), JOB_KEYS)}')
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise fail("enabled", f"enabled must be true or false, got {_type_name(enabled)}")
        if "schedule" not in raw:
            raise fail(None, 'missing key "schedule" (e.g. schedule = "0 3 * * *" or "every 1h")')
        schedule = raw["schedule"]
        if not isinstance(schedule, str):
            raise fail(
                "schedule",
                f'schedule must be text such as "0 3 * * *" or "every 1h", '
                f"got {_type_name(schedule)}",
            )
        target = self.target(raw, fail)
        for key, kind in _TYPES.items():
            if key in raw and not _is(raw[key], kind):
                raise fail(key, f"{key} must be {_KIND_NAMES[kind]}, got {_type_name(raw[key])}")
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
            if not JOB_ID.match(dep):
                raise fail("depends_on", f"depends_on {dep!r} is not a valid job id")
        options = {
            key: _moment(raw[key]) if key in ("start_at", "end_at") else raw[key]
            for key in _MAKE_JOB_KEYS
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
            key, message = _explain(str(exc), job_id, raw)
            raise fail(key, message) from None
        return job_id, job, enabled

    def target(self, raw: Mapping[str, Any], fail: Callable[[str | None, str], _Skip]) -> Target:
        given = [key for key in TARGET_KEYS if key in raw]
        if not given:
            raise fail(
                None,
                'needs a target: command = ["prog", "arg"], call = "pkg.mod:func" or task = "name"',
            )
        if len(given) > 1:
            raise fail(given[1], f"has both {given[0]} and {given[1]}; give exactly one target")
        kind = given[0]
        value = raw[kind]
        if kind != "command":
            for key in ("cwd", "env", "shell"):
                if key in raw:
                    raise fail(key, f"{key} applies to command targets only")
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
                    raise fail("call", f"call {_quote(value)}: {exc}") from None
            return Target("call", value.strip())
        if kind == "task":
            if not isinstance(value, str) or not value.strip():
                raise fail("task", f"task must be a task name, got {_type_name(value)}")
            if self.tasks is not None and self.tasks.get(value.strip()) is None:
                raise fail(
                    "task",
                    f"task {_quote(value)} is not registered; tasks are registered with "
                    '@scheduler.task in your program; here use call = "module:function"',
                )
            return Target("task", value.strip())
        shell = raw.get("shell", False)
        if not isinstance(shell, bool):
            raise fail("shell", f"shell must be true or false, got {_type_name(shell)}")
        cwd = raw.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise fail("cwd", f"cwd must be text, got {_type_name(cwd)}")
        env = raw.get("env")
        if env is not None and not (
            isinstance(env, dict) and all(isinstance(v, str) for v in env.values())
        ):
            raise fail("env", "env must be a table of text values")
        if not (isinstance(value, str) or (isinstance(value, list) and value)):
            raise fail(
                "command",
                'command must be a list such as ["pg_dump", "mydb"] or text, '
                f"got {_type_name(value)}",
            )
        if isinstance(value, list) and shell:
            raise fail("shell", "shell = true needs command as one line of text")
        try:
            command = Command(value, cwd=self.cwd(cwd), env=env, shell=shell)
        except CronworkError as exc:
            raise fail("command", str(exc)) from None
        return Target("command", command.line, command=command)

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
                        path, f"depends on {_quote(name)}, which is disabled", _label(job_id)
                    )
                elif name not in where:
                    self.problem(
                        path,
                        f"depends on unknown job {_quote(name)}{_suggest(name, where)}; "
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
    return f"job {_quote(job_id)}"


# Keys passed to make_job as they are (after the type check below).
_MAKE_JOB_KEYS = (*POLICY_SETTINGS, *RUN_SETTINGS)

_TYPES: dict[str, str] = {
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


def _moment(value: Any) -> Any:
    # TOML and YAML both turn a bare date into a date; a job means midnight of that day.
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time())
    return value


# Which key a make_job message is about: the messages start with the field name.
_MESSAGE_KEYS = {"unknown time zone": "tz", "time zone": "tz", "a job cannot depend": "depends_on"}


def _explain(message: str, job_id: str, raw: Mapping[str, Any]) -> tuple[str | None, str]:
    for prefix in (f"job {job_id!r}: ", f"job {_quote(job_id)}: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    for start, key in _MESSAGE_KEYS.items():
        if message.startswith(start):
            return key, message
    word = re.match(r"[A-Za-z_]+", message)
    if word and word.group(0) in raw:
        return word.group(0), message
    if word and word.group(0) == "schedule":
        return "schedule", message
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


# -- syncing into a store -------------------------------------------------------------------


@dataclass(slots=True)
class SyncReport:
    """What a sync changed, by job id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: Removed ids that jobs staying in the store depend on, with those jobs' ids: a sync
    #: refuses them without ``force``.
    needed: dict[str, list[str]] = field(default_factory=dict)

    def needed_problems(self, path: Path) -> list[str]:
        """One line per removal others depend on, as ``cronwork remove`` words it."""
        from cronwork.dependencies import needed_message

        return [
            f"{path}: {needed_message(job_id, names, 'cronwork run')}"
            for job_id, names in self.needed.items()
        ]

    def summary(self) -> str:
        """One line such as ``2 added, 1 updated, 3 unchanged, 0 removed``."""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed"
        )


def _definition(job: Job) -> Job:
    # The part of a job the file decides; the rest is state the store and operators own.
    return job.replace(next_run_at=None, paused=False, broken=None, created_at=None)


def plan_sync(
    existing: Iterable[Job], job_file: JobFile, now: datetime | None = None
) -> SyncReport:
    """What ``sync_job_file`` would change in a store holding ``existing``; writes nothing."""
    report, _, _ = _plan({job.id: job for job in existing}, job_file, now or _utcnow())
    return report


def sync_job_file(
    store: Any, job_file: JobFile, now: datetime | None = None, *, force: bool = False
) -> SyncReport:
    """Make ``store`` hold exactly the file's jobs among those with the file's origin.

    New jobs are added; changed ones replaced, keeping ``next_run_at`` when the schedule did
    not change, and keeping an operator's pause; jobs the file no longer defines (or now
    disables) are removed, unless other jobs depend on them and ``force`` is false: then
    JobFileError. Jobs with another origin (added from the CLI or code) stay, unless the file
    defines the same id: then the file takes it over. All of it is one store transaction:
    on any error the store is left as it was.
    """
    moment = now or _utcnow()
    reports: list[SyncReport] = []

    def plan(stored: list[Job]) -> tuple[list[Job], list[str]]:
        report, writes, removals = _plan({job.id: job for job in stored}, job_file, moment)
        if report.needed and not force:
            raise JobFileError(report.needed_problems(job_file.path))
        reports.append(report)
        return writes, removals

    try:
        store.sync_jobs(plan)
    except StoreError as exc:
        raise StoreError(f"{job_file.path}: nothing was synced: {exc}") from exc
    return reports[-1]


def _utcnow() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


def _plan(
    existing: Mapping[str, Job], job_file: JobFile, now: datetime
) -> tuple[SyncReport, list[Job], list[str]]:
    report = SyncReport()
    writes: list[Job] = []
    for job in job_file.jobs:
        old = existing.get(job.id)
        if old is None:
            writes.append(job.replace(next_run_at=job.schedule.next_after(now), created_at=now))
            report.added.append(job.id)
            continue
        if _definition(old) == _definition(job) and old.broken is None:
            report.unchanged.append(job.id)
            continue
        keep_slot = old.schedule == job.schedule and old.next_run_at is not None
        writes.append(
            job.replace(
                next_run_at=old.next_run_at if keep_slot else job.schedule.next_after(now),
                paused=old.paused,
                created_at=old.created_at or now,
            )
        )
        report.updated.append(job.id)
    defined = {job.id for job in job_file.jobs}
    removals = [
        old.id
        for old in existing.values()
        if old.origin == job_file.origin and old.id not in defined
    ]
    report.removed.extend(removals)
    after = {**existing, **{job.id: job for job in writes}}
    report.needed = removals_needed(after, removals)
    return report, writes, removals
