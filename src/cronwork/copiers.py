"""Fast, typed copies of the records on the path of every run (`Run`, `Job`, the context and
invocation a run is started with).

Every copy the engine and the stores make per run goes through here. Each copier is named
after what it makes (``started``, ``finished``, ``with_id``, ...) and typed by a callback
protocol, so mypy checks every call's keywords and their types; `field_copier` generates
its body from the protocol's keyword-only parameters, so the protocol is the one place that
says which fields a copier sets.

Why generated code, and why not ``dataclasses.replace`` or ``Run.replace``: those loop over
every field by name, and a frozen dataclass's ``__init__`` sets each field through a call to
``object.__setattr__``; both were the largest single cost of claiming and recording runs. A
generated copier is unrolled, and builds the copy as an instance of a plain class with the
same slots, set attribute by attribute, which then becomes an instance of the record's class
(a frozen class lets each slot be set only through its descriptor, one call per field). The
copiers are the generated functions themselves, not wrappers around them, so a copy adds no
Python frame of its own; keyword arguments cost no measurable time over positional ones.
The figures are in docs/architecture.md, "Why the hot path looks like this". Copies are
built from the class's fields, so a field added later is copied too.

``Run.replace`` and ``Job.replace`` stay the general, checked way to change any field by name,
for paths that run once per user action rather than once per run.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from cronwork.executors.base import Invocation, RunContext
from cronwork.jobs import Job
from cronwork.runs import Run, RunStatus
from cronwork.targets import CeleryTask, Command

_BUILDERS: dict[type, type | None] = {}
# Names the generated code uses for itself; a field may not be called so.
_INTERNAL = frozenset({"src", "new", "builder", "cls", "_new"})


def _builder(cls: type) -> type | None:
    """A plain class with ``cls``'s slots, or None when instances cannot change class."""
    if cls not in _BUILDERS:
        slots = cls.__dict__.get("__slots__")
        builder: type | None = None
        if slots is not None:
            builder = type(f"_{cls.__name__}Builder", (), {"__slots__": slots})
            try:
                builder().__class__ = cls
            except TypeError:
                builder = None  # another layout (a base class with slots of its own, say)
        _BUILDERS[cls] = builder
    return _BUILDERS[cls]


def _changed_fields(shape: type) -> tuple[list[str], bool]:
    """The keyword-only parameter names of ``shape.__call__``, and whether it takes a source."""
    params = list(inspect.signature(shape.__call__).parameters.values())[1:]
    changed = [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    sources = [p for p in params if p.kind is inspect.Parameter.POSITIONAL_ONLY]
    if len(changed) + len(sources) != len(params) or len(sources) > 1:
        raise TypeError(f"{shape.__name__}: a copier takes one positional-only source and keywords")
    return changed, bool(sources)


def field_copier(cls: type[Any], shape: type[Any], *, blank: Any = None) -> Any:
    """A copier of ``cls`` records with the signature of ``shape.__call__``.

    ``shape`` is a callback protocol: ``__call__(self, src, /, *, field: type, ...)`` makes a
    copier returning ``src`` with those fields set; without ``src``, the copier copies
    ``blank``. Needs a dataclass with slots. Annotate the result with ``shape`` (a protocol
    cannot be a type argument), so that mypy checks the copier's calls.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    changed, has_source = _changed_fields(shape)
    unknown = set(changed) - set(names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
    if _INTERNAL & set(names):
        raise TypeError(f"{cls.__name__} has a field named like the copier's own variables")
    if has_source == (blank is not None):
        raise TypeError(f"{shape.__name__}: give a source parameter or a blank, not both")
    builder = _builder(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "cls": cls, "builder": builder}
    params = ", ".join(changed)
    if has_source:
        lines = [f"def copy(src, /, *, {params}):"]
    else:
        namespace["src"] = blank
        lines = [f"def copy(*, {params}):"]
    for name in names:
        value = name if name in changed else f"src.{name}"
        if builder is not None:
            lines.append(f"    new.{name} = {value}")
        else:
            slot = next(k.__dict__[name] for k in cls.__mro__ if name in k.__dict__)
            namespace[f"set_{name}"] = slot.__set__
            lines.append(f"    set_{name}(new, {value})")
    if builder is not None:
        lines.insert(1, "    new = builder()")
        lines.append("    new.__class__ = cls")
    else:
        lines.insert(1, "    new = _new(cls)")
    lines.append("    return new")
    exec("\n".join(lines), namespace)
    return namespace["copy"]


# -- runs ----------------------------------------------------------------------------------


class _Started(Protocol):
    def __call__(
        self,
        run: Run,
        /,
        *,
        status: RunStatus,
        node: str | None,
        queued_at: datetime | None,
        started_at: datetime | None,
        output: str | None,
    ) -> Run: ...


class _Finished(Protocol):
    def __call__(
        self,
        run: Run,
        /,
        *,
        status: RunStatus,
        node: str | None,
        queued_at: datetime | None,
        started_at: datetime | None,
        finished_at: datetime | None,
        exit_code: int | None,
        output: str | None,
        error: str | None,
    ) -> Run: ...


class _Unstarted(Protocol):
    def __call__(
        self, run: Run, /, *, status: RunStatus, finished_at: datetime | None, error: str | None
    ) -> Run: ...


class _Queued(Protocol):
    def __call__(self, run: Run, /, *, queued_at: datetime | None) -> Run: ...


class _WithId(Protocol):
    def __call__(self, run: Run, /, *, id: str) -> Run: ...


class _WithLease(Protocol):
    def __call__(self, run: Run, /, *, lease_until: datetime | None) -> Run: ...


class _ClaimedOnTime(Protocol):
    def __call__(
        self,
        *,
        id: str,
        job_id: str,
        scheduled_for: datetime,
        node: str,
        created_at: datetime,
        lease_until: datetime,
        due_at: datetime,
    ) -> Run: ...


class _RunOf(Protocol):
    def __call__(
        self,
        *,
        id: str,
        job_id: str,
        scheduled_for: datetime,
        attempt: int,
        status: RunStatus,
        node: str | None,
        created_at: datetime | None,
        queued_at: datetime | None,
        started_at: datetime | None,
        finished_at: datetime | None,
        lease_until: datetime | None,
        exit_code: int | None,
        output: str | None,
        error: str | None,
        due_at: datetime | None,
        trigger: str,
        cancel_requested: bool,
        waited_for: tuple[str, ...],
    ) -> Run: ...


#: The run as it is while running: started by ``node`` at ``started_at``.
started: _Started = field_copier(Run, _Started)
#: The run as it ended, with its outcome.
finished: _Finished = field_copier(Run, _Finished)
#: The run ended without starting (skipped, failed to start, cancelled while waiting).
unstarted: _Unstarted = field_copier(Run, _Unstarted)
#: The run waiting for a place since ``queued_at``.
queued: _Queued = field_copier(Run, _Queued)
#: The run as the store numbered it.
with_id: _WithId = field_copier(Run, _WithId)
#: The run with its lease renewed.
with_lease: _WithLease = field_copier(Run, _WithLease)
#: The run of a slot claimed on time by ``node``; every other field has its default. The
#: stores' common case, copied from a blank run.
claimed_on_time: _ClaimedOnTime = field_copier(
    Run, _ClaimedOnTime, blank=Run(id="", job_id="", scheduled_for=datetime.min)
)

#: A run from all its fields, as ``Run(...)`` builds it without the call per field of a frozen
#: class's ``__init__`` (stores read history back through it).
run_of: _RunOf = field_copier(Run, _RunOf, blank=Run(id="", job_id="", scheduled_for=datetime.min))


# -- jobs ----------------------------------------------------------------------------------


class _Advanced(Protocol):
    def __call__(self, job: Job, /, *, next_run_at: datetime | None) -> Job: ...


class _JobState(Protocol):
    def __call__(
        self, job: Job, /, *, paused: bool, broken: str | None, next_run_at: datetime | None
    ) -> Job: ...


#: The job with its next slot moved (claims do this per claimed job).
advanced: _Advanced = field_copier(Job, _Advanced)
#: The job with the state a store keeps beside its definition (loading rows does this per job).
job_state: _JobState = field_copier(Job, _JobState)


# -- what a run is started with ------------------------------------------------------------


class _NewContext(Protocol):
    def __call__(
        self,
        *,
        job_id: str,
        run_id: str,
        scheduled_for: datetime,
        attempt: int,
        deadline: datetime | None,
    ) -> RunContext: ...


class _NewInvocation(Protocol):
    def __call__(
        self,
        *,
        target: Callable[..., Any] | Command | CeleryTask,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        context: RunContext,
        timeout: float | None,
        on_timeout: Literal["cancel", "warn"],
        kill_grace: float,
        start_in: float,
    ) -> Invocation: ...


_BLANK_CONTEXT = RunContext("", "", datetime.min, 1, None)
#: A run's context; the fields not given are the defaults (no cancel event yet).
new_context: _NewContext = field_copier(RunContext, _NewContext, blank=_BLANK_CONTEXT)
#: A run's invocation; the fields not given are the defaults.
new_invocation: _NewInvocation = field_copier(
    Invocation, _NewInvocation, blank=Invocation(print, context=_BLANK_CONTEXT)
)
