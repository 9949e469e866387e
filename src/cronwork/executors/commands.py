"""Run a `Command` as a subprocess in its own process group.

The command starts a new session (``start_new_session=True``), so its pid is also its process
group id. At the deadline or on cancel the run's processes get SIGTERM, then SIGKILL after
``kill_grace``: its process group, and on Linux every process carrying the run's tag
(``CRONWORK_RUN_TAG`` in the environment, see `procs`), so children that left the group with
``setsid`` or a double fork die with it too. stdout and stderr share one pipe whose reader keeps
only the last ``output_limit`` bytes, so a command printing gigabytes costs a fixed amount of
memory.

A command never outlives its scheduler unnoticed. On Linux its first process gets SIGKILL when
the scheduler dies (a parent-death signal), and a watchdog process kills the rest of every run
still going; a restarted scheduler ends whatever is left of its dead predecessor's runs before
it marks them lost (see Engine.start).

When a command exits by itself, background children it leaves behind are not killed (cron does
not either); we stop reading their output shortly after the command itself has exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import Callable
from typing import Any

from cronwork.errors import TargetError
from cronwork.executors.base import (
    BaseExecution,
    Invocation,
    Outcome,
    TaskExecutor,
    log_extra,
    logger,
)
from cronwork.executors.procs import (
    TAG_VAR,
    Proc,
    die_with_parent,
    has_proc,
    read_proc,
    run_processes,
    signal_all,
    watchdog,
)
from cronwork.runs import RunStatus
from cronwork.targets import Command

# How long to keep reading output after the process exited, for data still in the pipe;
# a background child that holds the pipe open must not keep the run alive.
DRAIN_GRACE = 0.5
_POLL = 0.05
# SIGKILL rounds after the grace: a process forking as fast as it is killed must not hold the run.
_KILL_ROUNDS = 20


class TailProtocol(asyncio.Protocol):
    """Collects what a pipe delivers, keeping only the last ``limit`` bytes."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        """Append ``data``, dropping the oldest bytes beyond the limit."""
        self.buffer += data
        if self.limit is not None and len(self.buffer) > self.limit:
            del self.buffer[: len(self.buffer) - self.limit]

    def connection_lost(self, exc: Exception | None) -> None:
        """Mark the pipe as closed (EOF or error)."""
        if not self.closed.done():
            self.closed.set_result(None)


class PipeReader:
    """The read end of an ``os.pipe()`` consumed on the event loop into a bounded buffer."""

    def __init__(self, limit: int | None) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self._limit = limit
        self._transport: asyncio.ReadTransport | None = None
        self._protocol: TailProtocol | None = None

    async def open(self) -> None:
        """Start reading; call after the write end was handed to the child."""
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(self.read_fd, "rb", buffering=0)
        self._transport, self._protocol = await loop.connect_read_pipe(
            lambda: TailProtocol(self._limit), pipe
        )

    def close_write_end(self) -> None:
        """Close the parent's copy of the write end so EOF arrives when the child exits."""
        with contextlib.suppress(OSError):
            os.close(self.write_fd)

    def so_far(self) -> bytes | None:
        """What was read until now (the kept tail), or None before reading began."""
        return None if self._protocol is None else bytes(self._protocol.buffer)

    async def drain(self, grace: float) -> bytes:
        """Wait up to ``grace`` seconds for EOF, stop reading and return what was kept."""
        if self._protocol is None or self._transport is None:
            return b""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._protocol.closed), grace)
        self._transport.close()
        return bytes(self._protocol.buffer)

    def abandon(self) -> None:
        """Release both ends when the child never started."""
        self.close_write_end()
        if self._transport is not None:
            self._transport.close()
        else:
            with contextlib.suppress(OSError):
                os.close(self.read_fd)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # A member we cannot signal (setuid) still counts as alive.
        return True
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    # killpg(0) also succeeds for zombies, and orphans wait to be reaped by init, which some
    # container inits do slowly; on Linux, look for a member that is not a zombie.
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


class RunProcesses:
    """What a run started: its first process (leading its own group) and everything tagged.

    ``leader`` is the first process as /proc showed it right after the start (None where there
    is no /proc); the group is signalled only while that very process, alive or a zombie not
    yet reaped, still holds the group's id, so a reused id is never hit.
    """

    def __init__(self, proc: asyncio.subprocess.Process, tag: str) -> None:
        self.proc = proc
        self.tag = tag
        self.tracked = has_proc()
        leader = read_proc(proc.pid)
        # Popen returns after the child's exec, so by now it leads its own group; anything
        # else is not our child (it ended, was reaped, and the pid went to someone else).
        self.leader = leader if leader is not None and leader.pgrp == proc.pid else None
        # Every process found so far (pid -> start time): one still alive keeps its group
        # known to be the run's after the first process has ended and been reaped.
        self.known: dict[int, int] = {}

    def _group_is_ours(self) -> bool:
        if not self.tracked:
            # Without /proc: the leader is our child, so its pid (the group id) cannot be
            # reused before we reap it.
            return self.proc.returncode is None
        if self.leader is None:
            return False
        current = read_proc(self.leader.pid)
        return current is not None and current.start == self.leader.start

    def others(self) -> list[Proc]:
        """The run's live processes found through /proc (empty where there is none)."""
        if not self.tracked:
            return []
        found = run_processes(self.tag.__eq__, self.leader, self.known)
        self.known.update((p.pid, p.start) for p in found)
        return found

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the group and to every other process of the run."""
        # Found before the group is signalled: once the first process has ended, its group's
        # other members are known to be ours only through this scan.
        found = self.others()
        if self._group_is_ours():
            _signal_group(self.proc.pid, signum)
        signal_all(found, signum)

    def alive(self) -> bool:
        """True while any process of the run runs (zombies do not count)."""
        if self.tracked:
            return bool(self.others())
        return self.proc.returncode is None or _group_alive(self.proc.pid)


async def terminate_group(processes: RunProcesses, grace: float) -> None:
    """SIGTERM the run's processes, SIGKILL what is left after ``grace``, reap the leader."""
    proc = processes.proc
    # The /proc scans read every process's environment: done off the loop.
    await asyncio.to_thread(processes.signal, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + grace
    # Most processes are not our children, so there is nothing to wait on: poll until none
    # is left or the grace is over.
    while loop.time() < give_up:
        if proc.returncode is not None and not await asyncio.to_thread(processes.alive):
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), _POLL)
    for _ in range(_KILL_ROUNDS):
        await asyncio.to_thread(processes.signal, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), _POLL)
        if proc.returncode is not None and not await asyncio.to_thread(processes.alive):
            break
    await proc.wait()


def describe_exit(returncode: int) -> str:
    """``exit code 3`` or ``killed by signal SIGKILL`` for a subprocess's return code."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {name}"
    return f"exit code {returncode}"


def spawn_error(exc: OSError, program: str, cwd: str | None) -> str:
    """A clear message for a subprocess that could not be started."""
    if cwd is not None and exc.filename == cwd:
        return f"working directory not found: {cwd}"
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {program}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {program}"
    return f"cannot start {program}: {exc}"


class GroupExecution(BaseExecution):
    """A run whose work is a child process leading its own process group.

    Subclasses implement ``_execute``: spawn with ``**self._spawn_options()`` and the
    environment of ``self._tagged_environment()``, hand the process to ``_started()`` once it
    exists, and return the outcome.
    """

    kind = "subprocess"

    def __init__(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None, node: str
    ) -> None:
        super().__init__(invocation, on_overdue)
        # Unique to this start: another scheduler (another database) may use the same run id.
        self.tag = f"{node}/{invocation.context.run_id}/{secrets.token_hex(4)}"
        self._proc: asyncio.subprocess.Process | None = None
        self._processes: RunProcesses | None = None
        self._killer: asyncio.Task[None] | None = None
        self._watched = False  # whether the watchdog was told this run's tag
        self.task = self.loop.create_task(self._run())

    async def _execute(self) -> Outcome:
        raise NotImplementedError

    def _spawn_options(self) -> dict[str, Any]:
        """Popen options every run's process gets: its own session, and death with us."""
        return {"start_new_session": True, "preexec_fn": die_with_parent()}

    def _tagged_environment(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the run's tag, which the watchdog learns here, before the fork.

        Told after the fork, the watchdog would miss a scheduler killed in between: the child
        already runs (and may have started its own children) while the watchdog is still
        being spawned, and a tag it never heard of is a run it never kills.
        """
        if has_proc() and not self._watched:
            self._watched = True
            watchdog().watch(self.tag)
        env[TAG_VAR] = self.tag
        return env

    def _started(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._processes = RunProcesses(proc, self.tag)
        # cancel() or the deadline may have come while the process was being spawned.
        if self._stopping is not None:
            self._stop(*self._stopping)

    async def _run(self) -> None:
        try:
            outcome = await self._execute()
        except asyncio.CancelledError:
            # The loop is going away (asyncio.run cancels leftover tasks): there is no time for
            # a grace period, and nothing of the run may outlive us.
            if self._processes is not None and self._processes.proc.returncode is None:
                self._processes.signal(signal.SIGKILL)
            self._finish(Outcome(RunStatus.CANCELLED, error="event loop shut down"))
            raise
        except Exception as exc:  # a bug here must still end the run, not hang the engine
            logger.exception(
                "%s runner failed", self.kind, extra=log_extra(self.invocation.context)
            )
            outcome = Outcome(
                RunStatus.FAILED, error=f"cronwork could not run the {self.kind}: {exc}"
            )
        finally:
            if self._watched:
                watchdog().forget(self.tag)
        self._finish(outcome)

    async def _reap(
        self, proc: asyncio.subprocess.Process
    ) -> tuple[int, tuple[RunStatus, str] | None]:
        """Wait for the process (and any kill in progress); return its code and the stop request."""
        returncode = await proc.wait()
        if self._killer is not None:
            await self._killer
        # Only a stop that signalled the group decides the status; one that came after the
        # process exited by itself changes nothing.
        return returncode, self._stopping if self._killer is not None else None

    async def _kill(self, processes: RunProcesses) -> None:
        await terminate_group(processes, self.invocation.kill_grace)

    def _stop(self, status: RunStatus, reason: str) -> None:
        processes = self._processes
        if processes is not None and processes.proc.returncode is None and self._killer is None:
            self._killer = self.loop.create_task(self._kill(processes))


class CommandExecution(GroupExecution):
    """A command running as a subprocess group."""

    kind = "command"

    def __init__(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None, node: str
    ) -> None:
        assert isinstance(invocation.target, Command)
        self.command = invocation.target
        self._pipe: PipeReader | None = None
        super().__init__(invocation, on_overdue, node)

    def output_so_far(self) -> str | None:
        """What the command has printed until now (the kept tail), see ShowsOutput."""
        data = None if self._pipe is None else self._pipe.so_far()
        return None if data is None else data.decode("utf-8", errors="replace")

    def _environment(self) -> dict[str, str]:
        ctx = self.invocation.context
        env = dict(os.environ)
        env.update(self.command.env or {})
        env["CRONWORK_JOB_ID"] = ctx.job_id
        env["CRONWORK_RUN_ID"] = ctx.run_id
        env["CRONWORK_SCHEDULED_FOR"] = ctx.scheduled_for.isoformat()
        env["CRONWORK_ATTEMPT"] = str(ctx.attempt)
        return self._tagged_environment(env)

    async def _execute(self) -> Outcome:
        cmd = self.command
        pipe = self._pipe = PipeReader(self.invocation.output_limit)
        try:
            if cmd.shell:
                proc = await asyncio.create_subprocess_shell(
                    cmd.argv[0],
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=pipe.write_fd,
                    stderr=pipe.write_fd,
                    cwd=cmd.cwd,
                    env=self._environment(),
                    **self._spawn_options(),
                )
            else:
                proc = await asyncio.create_subprocess_exec(
                    *cmd.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=pipe.write_fd,
                    stderr=pipe.write_fd,
                    cwd=cmd.cwd,
                    env=self._environment(),
                    **self._spawn_options(),
                )
        except OSError as exc:
            pipe.abandon()
            return Outcome(RunStatus.FAILED, error=spawn_error(exc, cmd.argv[0], cmd.cwd))
        pipe.close_write_end()
        self._started(proc)
        await pipe.open()
        returncode, stopping = await self._reap(proc)
        data = await pipe.drain(DRAIN_GRACE)
        output = data.decode("utf-8", errors="replace")
        if stopping is not None:
            status, reason = stopping
            return Outcome(status, exit_code=returncode, output=output, error=reason)
        if returncode == 0:
            return Outcome(RunStatus.SUCCEEDED, exit_code=0, output=output)
        return Outcome(
            RunStatus.FAILED, exit_code=returncode, output=output, error=describe_exit(returncode)
        )


class CommandExecutor(TaskExecutor):
    """Runs `Command` targets as subprocesses."""

    name = "command"

    def __init__(self, node: str | None = None) -> None:
        super().__init__()
        # Runs are tagged with the node id, so that a restart can find a dead node's processes.
        self.node = node if node is not None else f"{os.getpid()}.{secrets.token_hex(3)}"

    def start(
        self, invocation: Invocation, on_overdue: Callable[[], None] | None = None
    ) -> CommandExecution:
        """Spawn the command of ``invocation`` and return its execution."""
        self._open()
        if not isinstance(invocation.target, Command):
            raise TargetError(
                f"the command executor runs Command targets, not {invocation.target!r}"
            )
        return self._track(CommandExecution(invocation, on_overdue, self.node))

    async def shutdown(self, wait: bool = True) -> None:
        """Refuse new runs; wait for running commands, or stop them when ``wait`` is False."""
        await self._stop_running(wait)
