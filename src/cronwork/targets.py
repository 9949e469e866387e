"""What a job runs: a callable, an import path, a registered task name, a command, or a
Celery task sent to a worker fleet."""

from __future__ import annotations

import importlib
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from cronwork.errors import TargetError
from cronwork.importpaths import shadowing


@dataclass(frozen=True, slots=True)
class Command:
    """A command line run as a subprocess; stdout and stderr are captured, exit code 0 is success.

    ``Command("./backup.sh --full")`` splits the string with shlex unless ``shell=True``.
    """

    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] | None = field(default=None, hash=False)
    shell: bool = False

    def __init__(
        self,
        argv: str | Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        shell: bool = False,
    ) -> None:
        if isinstance(argv, str):
            if not argv.strip():
                raise TargetError("command is empty")
            parts: tuple[str, ...] = (argv,) if shell else tuple(_split(argv))
        else:
            parts = tuple(argv)
            if not parts:
                raise TargetError("command is empty")
            for i, part in enumerate(parts):
                if not isinstance(part, str):
                    raise TargetError(
                        f"command argument {i} must be a string, got {type(part).__name__}"
                    )
        if env is not None:
            for key, value in env.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise TargetError(f"command env entry {key!r} must map a string to a string")
        object.__setattr__(self, "argv", parts)
        object.__setattr__(self, "cwd", cwd)
        object.__setattr__(self, "env", dict(env) if env is not None else None)
        object.__setattr__(self, "shell", shell)

    @property
    def line(self) -> str:
        """The command as one shell-quoted line, for display."""
        if self.shell:
            return self.argv[0]
        return shlex.join(self.argv)


@dataclass(frozen=True, slots=True)
class CeleryTask:
    """A Celery task run by name on a worker fleet, e.g. ``CeleryTask("proj.tasks.report")``.

    ``app`` is a Celery app or its import path (``"proj.celery:app"``); None means the
    scheduler's ``celery_app`` (or, run by a CeleryExecutor directly, the executor's app).
    ``queue`` routes the task (None: the app's routing decides). The job's ``args`` and
    ``kwargs`` are the task's, and must be JSON. Only the task's name travels: the tasks'
    code lives on the workers.
    """

    name: str
    app: Any = None
    queue: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise TargetError(f"a Celery task needs a task name, got {self.name!r}")
        if self.app is not None and not isinstance(self.app, str) and not _is_celery_app(self.app):
            raise TargetError(
                f"Celery app must be a Celery app or its import path 'package.module:app', "
                f"got {type(self.app).__name__}"
            )
        if self.queue is not None and (not isinstance(self.queue, str) or not self.queue.strip()):
            raise TargetError(f"a Celery queue must be a non-empty name, got {self.queue!r}")

    @property
    def app_path(self) -> str | None:
        """The app's import path, if it was given as one."""
        return self.app if isinstance(self.app, str) else None


def _is_celery_app(obj: object) -> bool:
    try:
        from celery import Celery
    except ImportError:
        return False
    return isinstance(obj, Celery)


def _split(text: str) -> list[str]:
    try:
        parts = shlex.split(text)
    except ValueError as exc:
        raise TargetError(f"cannot split command {text!r}: {exc}") from None
    if not parts:
        raise TargetError("command is empty")
    return parts


#: What a target resolves to, and an executor runs.
Runnable = Callable[..., Any] | Command | CeleryTask

TargetKind = Literal["call", "task", "command", "callable", "celery"]


@dataclass(frozen=True, slots=True)
class Target:
    """A job's target in the form stores persist.

    ``call``: an import path ``package.module:function``; ``task``: a name registered with
    ``@scheduler.task``; ``command``: a Command; ``callable``: a Python object with no import
    path (lambdas, closures), which only the memory store can keep; ``celery``: a CeleryTask
    (``ref`` is its task name), which a store keeps when its app is an import path.
    """

    kind: TargetKind
    ref: str
    command: Command | None = None
    func: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    celery: CeleryTask | None = None

    @property
    def persistable(self) -> bool:
        """True when the target can be written to a database and resolved by another process."""
        if self.celery is not None:
            return self.celery.app_path is not None
        return self.kind != "callable"

    def describe(self) -> str:
        """Return a short human form: the import path, task name or command line."""
        if self.kind == "task":
            return f"task {self.ref}"
        if self.celery is not None:
            queue = self.celery.queue
            return f"celery task {self.ref}" + (f" (queue {queue})" if queue else "")
        return self.ref


class TaskRegistry:
    """Named tasks: the form of target that survives restarts without an import path."""

    def __init__(self) -> None:
        self._tasks: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, func: Callable[..., Any]) -> None:
        """Register ``func`` under ``name``; re-registering the same name replaces it."""
        if not isinstance(name, str) or not name.strip():
            raise TargetError("task name must be a non-empty string")
        if not callable(func):
            raise TargetError(f"task {name!r} must be callable, got {type(func).__name__}")
        self._tasks[name] = func

    def get(self, name: str) -> Callable[..., Any] | None:
        """Return the task registered under ``name``, or None."""
        return self._tasks.get(name)

    def names(self) -> list[str]:
        """Return the registered task names, sorted."""
        return sorted(self._tasks)


IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def import_path_of(func: Callable[..., Any]) -> str | None:
    """Return ``module:qualname`` if importing it yields ``func`` itself, else None."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        return None
    path = f"{module}:{qualname}"
    try:
        found = import_target(path)
    except TargetError:
        return None
    if found is func or getattr(found, "__wrapped__", None) is func:
        return path
    return None


def import_target(path: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (attributes may be dotted) and return the callable."""
    obj = import_object(path, "function")
    if not callable(obj):
        raise TargetError(f"{path!r} is not callable (it is {type(obj).__name__})")
    return cast("Callable[..., Any]", obj)


def import_object(path: str, what: str) -> Any:
    """Import ``package.module:name`` (dotted attributes allowed); ``what`` names it in errors.

    A module of the user's folders that an installed module of the same name would hide is
    refused (see importpaths.shadowing), as is anything that fails at import time.
    """
    if not IMPORT_PATH.match(path):
        raise TargetError(f"{path!r} is not an import path of the form 'package.module:{what}'")
    module_name, _, attr = path.partition(":")
    hidden = shadowing(module_name)
    if hidden is not None:
        raise TargetError(hidden)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure makes the target unresolvable
        raise TargetError(f"cannot import module {module_name!r} for {path!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def make_target(obj: object, registry: TaskRegistry | None = None) -> Target:
    """Turn what a user passed as a job target into a Target, or raise TargetError."""
    if isinstance(obj, Target):
        return obj
    if isinstance(obj, Command):
        return Target("command", obj.line, command=obj)
    if isinstance(obj, CeleryTask):
        return Target("celery", obj.name, celery=obj)
    if isinstance(obj, str):
        text = obj.strip()
        if registry is not None and registry.get(text) is not None:
            return Target("task", text)
        if IMPORT_PATH.match(text):
            return Target("call", text)
        raise TargetError(
            f"target {obj!r} is neither a registered task nor an import path "
            "'package.module:function'; for a shell command use cronwork.Command(...)"
        )
    if callable(obj):
        path = import_path_of(obj)
        if path is not None:
            return Target("call", path, func=obj)
        name = getattr(obj, "__qualname__", None) or type(obj).__name__
        return Target("callable", name, func=obj)
    raise TargetError(
        f"target must be a callable, an import path, a task name, a Command or a CeleryTask, "
        f"got {type(obj).__name__}"
    )


def resolve_target(target: Target, registry: TaskRegistry | None = None) -> Runnable:
    """Return what an executor runs for ``target``, or raise TargetError."""
    if target.command is not None:
        return target.command
    if target.celery is not None:
        # Sent by name: its app is imported (and checked) by the Celery executor.
        return target.celery
    if target.func is not None:
        return target.func
    if target.kind == "task":
        func = registry.get(target.ref) if registry is not None else None
        if func is None:
            raise TargetError(f"no task named {target.ref!r} is registered")
        return func
    if target.kind == "call":
        return import_target(target.ref)
    raise TargetError(f"target {target.ref!r} cannot be resolved in this process")
