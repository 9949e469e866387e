"""Run an importable function in a fresh Python process, one process per run.

Why not a ProcessPoolExecutor: a timed-out run must be killed together with any children it
started, which needs one process group per run; pool workers are shared and cannot be killed
without breaking the pool. Why not multiprocessing's "spawn" context: it pickles the target and
its arguments (cronwork pickles nothing), ``Process.start()`` blocks the event loop, and it
cannot start the child in a new session.

So each run is ``python -c <bootstrap>`` started with ``asyncio.create_subprocess_exec`` in its
own session (``start_new_session=True``; the pid is the process group id). The bootstrap reads
one JSON document on stdin: the parent's ``sys.path``, the target as ``module`` + ``qualname``,
JSON arguments and the run context. It imports the function, calls it (running the coroutine
if it returns one) and writes ``{"ok": true}`` or ``{"ok": false, "error": <traceback>}`` to a
dedicated pipe. The child's stdout and stderr share a second pipe whose last
``output_limit`` bytes become the run's output, as for commands (with ``capture_output`` off
they are inherited instead). The return value is discarded: an `Outcome` has no place for
it. Timeouts and cancels reuse the command machinery: SIGTERM to the group and everything tagged
with the run, SIGKILL after ``kill_grace``; like a command, the child dies with its scheduler.

Targets must be importable by reference: module-level functions, not lambdas or functions
defined inside other functions. Arguments must be JSON (tuples arrive as lists). Functions
defined in the ``__main__`` script are supported the way multiprocessing supports them: the
child imports the script under another name, so its ``if __name__ == "__main__":`` block does
not run again. The child's ``ctx`` is a copy whose ``cancelled`` stays False.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import secrets
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cronwork.errors import TargetError
from cronwork.executors.base import (
    Invocation,
    Outcome,
    RunContext,
    TaskExecutor,
    format_error,
    wants_ctx,
)
from cronwork.executors.commands import (
    DRAIN_GRACE,
    GroupExecution,
    PipeReader,
    describe_exit,
    spawn_error,
)
from cronwork.runs import RunStatus
from cronwork.targets import Command

_BOOTSTRAP = (
    "import json, sys\n"
    "payload = json.load(sys.stdin)\n"
    "sys.path[:] = payload['path']\n"
    "from cronwork.executors.processes import child_main\n"
    "child_main(payload)\n"
)
_MAIN_ALIAS = "__cronwork_main__"
_ERROR_LIMIT = 65536


def reference(target: object) -> tuple[str, str, str | None]:
    """Return ``(module, qualname, main_path)`` for an importable function, or raise TargetError."""
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not callable(target) or not isinstance(module, str) or not isinstance(qualname, str):
        raise TargetError(f"the process executor needs a module-level function, got {target!r}")
    if "<lambda>" in qualname:
        raise TargetError(
            f"cannot run lambda {module}.{qualname} in a process: define it with def at "
            "module level so the child process can import it"
        )
    if "<locals>" in qualname:
        raise TargetError(
            f"cannot run {module}.{qualname} in a process: it is defined inside another "
            "function; move it to module level so the child process can import it"
        )
    main_path = None
    if module == "__main__":
        main_path = getattr(sys.modules.get("__main__"), "__file__", None)
        if main_path is None:
            raise TargetError(
                f"cannot run {qualname} in a process: it is defined in an interactive session; "
                "put it in a module"
            )
        main_path = os.path.abspath(main_path)
    else:
        try:
            resolved = _walk(importlib.import_module(module), qualname)
        except (ImportError, AttributeError):
            resolved = None
        if resolved is not target:
            raise TargetError(
                f"cannot run {module}:{qualname} in a process: that name does not import back "
                "to the same function (is it decorated without functools.wraps?)"
            )
    return module, qualname, main_path


def _walk(obj: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _resolve(module: str, qualname: str, main_path: str | None) -> Any:
    if main_path is None:
        return _walk(importlib.import_module(module), qualname)
    spec = importlib.util.spec_from_file_location(_MAIN_ALIAS, main_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {main_path}")
    main = importlib.util.module_from_spec(spec)
    sys.modules[_MAIN_ALIAS] = main
    spec.loader.exec_module(main)
    return _walk(main, qualname)


def _cap(text: str) -> str:
    if len(text) <= _ERROR_LIMIT:
        return text
    half = _ERROR_LIMIT // 2
    return text[:half] + "\n[...]\n" + text[-half:]


def child_main(payload: dict[str, Any]) -> None:
    """Entry point inside the child process: run the function and report over the result pipe."""
    result_fd = payload["result_fd"]
    # Grandchildren must not hold the result pipe open, or the parent would wait for them.
    os.set_inheritable(result_fd, False)
    try:
        func = _resolve(payload["module"], payload["qualname"], payload["main_path"])
        raw = payload["context"]
        ctx = RunContext(
            job_id=raw["job_id"],
            run_id=raw["run_id"],
            scheduled_for=datetime.fromisoformat(raw["scheduled_for"]),
            attempt=raw["attempt"],
            deadline=datetime.fromisoformat(raw["deadline"]) if raw["deadline"] else None,
        )
        kwargs = dict(payload["kwargs"])
        if wants_ctx(func):
            kwargs["ctx"] = ctx
        result = func(*payload["args"], **kwargs)
        if inspect.iscoroutine(result):
            asyncio.run(result)
        report: dict[str, Any] = {"ok": True}
    except BaseException as exc:
        report = {"ok": False, "error": _cap(format_error(exc))}
    with os.fdopen(result_fd, "w", encoding="utf-8") as out:
        json.dump(report, out)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    # Skip interpreter teardown: non-daemon threads the function left must not keep the run
    # alive after it has returned.
    os._exit(0)


class ProcessExecution(GroupExecution):
    """A function running in its own child process group."""

    kind = "process"

    def __init__(
        self,
        invocation: Invocation,
        on_overdue: Callable[[], None] | None,
        payload: dict[str, Any],
        node: str,
    ) -> None:
        self._payload = payload
        super().__init__(invocation, on_overdue, node)

    async def _execute(self) -> Outcome:
        results = PipeReader(limit=None)
        output = (
            PipeReader(self.invocation.output_limit) if self.invocation.capture_output else None
        )
        data = json.dumps({**self._payload, "result_fd": results.write_fd}).encode()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                # -P: no working folder first on sys.path, where a json.py would replace the
                # module the bootstrap imports; the parent's path comes in the payload.
                "-P",
                "-c",
                _BOOTSTRAP,
                stdin=asyncio.subprocess.PIPE,
                stdout=output.write_fd if output is not None else None,
                stderr=output.write_fd if output is not None else None,
                pass_fds=(results.write_fd,),
                env=self._tagged_environment(dict(os.environ)),
                **self._spawn_options(),
            )
        except OSError as exc:
            results.abandon()
            if output is not None:
                output.abandon()
            return Outcome(RunStatus.FAILED, error=spawn_error(exc, sys.executable, None))
        results.close_write_end()
        if output is not None:
            output.close_write_end()
            await output.open()
        self._started(proc)
        await results.open()
        assert proc.stdin is not None
        # The child dies without reading everything when it is killed early.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(data)
            await proc.stdin.drain()
        proc.stdin.close()
        returncode, stopping = await self._reap(proc)
        raw = await results.drain(DRAIN_GRACE)
        printed = None
        if output is not None:
            printed = (await output.drain(DRAIN_GRACE)).decode("utf-8", errors="replace") or None
        if stopping is not None:
            status, reason = stopping
            return Outcome(status, exit_code=returncode, output=printed, error=reason)
        try:
            report = json.loads(raw)
        except ValueError:
            return Outcome(
                RunStatus.FAILED,
                exit_code=returncode,
                output=printed,
                error=f"the process ended without reporting a result ({describe_exit(returncode)})",
            )
        if report.get("ok"):
            return Outcome(RunStatus.SUCCEEDED, output=printed)
        return Outcome(RunStatus.FAILED, output=printed, error=str(report.get("error")))


class ProcessExecutor(TaskExecutor):
    """Runs importable functions, each in a new child process and process group."""

    name = "process"

    def __init__(self, node: str | None = None) -> None:
        super().__init__()
        # Runs are tagged with the node id, so that a restart can find a dead node's processes.
        self.node = node if node is not None else f"{os.getpid()}.{secrets.token_hex(3)}"

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> ProcessExecution:
        """Spawn a process for ``invocation``; raise TargetError if it cannot cross processes."""
        self._open()
        target = invocation.target
        if isinstance(target, Command):
            raise TargetError("the process executor runs functions; use the command executor")
        module, qualname, main_path = reference(target)
        ctx = invocation.context
        payload = {
            "path": list(sys.path),
            "module": module,
            "qualname": qualname,
            "main_path": main_path,
            "args": list(invocation.args),
            "kwargs": dict(invocation.kwargs),
            "context": {
                "job_id": ctx.job_id,
                "run_id": ctx.run_id,
                "scheduled_for": ctx.scheduled_for.isoformat(),
                "attempt": ctx.attempt,
                "deadline": ctx.deadline.isoformat() if ctx.deadline else None,
            },
        }
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as exc:
            raise TargetError(
                f"arguments of {module}:{qualname} must be JSON to cross into a process: {exc}"
            ) from None
        return self._track(ProcessExecution(invocation, on_overdue, payload, self.node))

    async def shutdown(self, wait: bool = True) -> None:
        """Refuse new runs; wait for running processes, or stop them when ``wait`` is False."""
        await self._stop_running(wait)
