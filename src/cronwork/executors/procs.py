"""The processes a run started: tag them, find them, tell them from strangers, end them.

Every command (and every process-executor child) is started with ``CRONWORK_RUN_TAG`` in its
environment: ``<node>/<run id>/<random>``, unique to this start. Children inherit it through
``setsid``, double forks and ``nohup``, so at kill time a scan of ``/proc/*/environ`` finds the
run's processes even after they left its process group or were reparented. Beside them, the
members of the run's process group and the descendants of all of these are the run's too.

Every signal goes to one verified process: a pid is read together with the process's start
time, and the signal is sent through a pidfd opened on that pid after checking that the start
time is unchanged, so a pid reused by an unrelated process is never hit.

The same place decides whether a node that owned runs is still alive (``node_is_dead``): a node
id made by ``node_stamp`` carries where and when its process started.

This module imports only the standard library: ``watch()`` runs in a small helper process (the
watchdog) started as ``python -I -S`` on this file, without the cronwork package. Where there
is no ``/proc`` (not Linux) the scans find nothing and callers fall back to the process group.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

TAG_VAR = "CRONWORK_RUN_TAG"
PROC = "/proc"
_PR_SET_PDEATHSIG = 1
# How long to keep killing what a run left (a process forking as fast as it is killed).
_KILL_ROUNDS = 50
_POLL = 0.02


@dataclass(frozen=True, slots=True)
class Proc:
    """One process as /proc showed it: pid, start time (clock ticks since boot), parent, group."""

    pid: int
    start: int
    ppid: int
    pgrp: int
    zombie: bool


def read_proc(pid: int) -> Proc | None:
    """The process ``pid`` as it is now, or None when there is none (or no /proc)."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name, which may itself hold spaces and parens:
    # state ppid pgrp session ... starttime is the 20th of them.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return Proc(pid, int(fields[19]), int(fields[1]), int(fields[2]), fields[0] in (b"Z", b"X"))
    except (IndexError, ValueError):
        return None


def snapshot() -> list[Proc]:
    """Every process visible in /proc (empty where there is no /proc)."""
    try:
        entries = os.listdir(PROC)
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.isdigit():
            proc = read_proc(int(entry))
            if proc is not None:
                found.append(proc)
    return found


def has_proc() -> bool:
    """True where processes can be inspected through /proc (Linux)."""
    return os.path.isdir(f"{PROC}/self")


def tag_of(pid: int) -> str | None:
    """The run tag in the environment ``pid`` started with, if any."""
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as f:
            environ = f.read()
    except OSError:
        # Gone, or someone else's process: either way not one we may signal.
        return None
    start = TAG_VAR.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(start):
            return entry[len(start) :].decode("utf-8", "replace")
    return None


def run_of(tag: str) -> str:
    """The ``<node>/<run id>`` part of a run tag: what every start of that run shares."""
    return tag.rpartition("/")[0]


def run_processes(
    ours: Callable[[str], bool], leader: Proc | None = None, known: dict[int, int] | None = None
) -> list[Proc]:
    """The live processes of some runs: those whose tag ``ours`` accepts, the members of their
    process groups and of ``leader``'s, and the descendants of all of them.

    A group counts only while a member of it is known to be ours: tagged, the leader with its
    recorded start time (alive or a zombie), or a process found before, ``known`` as pid ->
    start time. A group id cannot be reused while the group has a member, so it is then ours.
    """
    procs = [p for p in snapshot() if not p.zombie]
    known = known or {}
    found = {}
    for p in procs:
        tag = tag_of(p.pid)
        if (tag is not None and ours(tag)) or known.get(p.pid) == p.start:
            found[p.pid] = p
    groups = {p.pgrp for p in found.values()}
    if leader is not None:
        current = read_proc(leader.pid)
        if current is not None and current.start == leader.start:
            groups.add(leader.pid)
    found.update((p.pid, p) for p in procs if p.pgrp in groups)
    children: dict[int, list[Proc]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    pending = list(found)
    while pending:
        for child in children.get(pending.pop(), ()):
            if child.pid not in found:
                found[child.pid] = child
                pending.append(child.pid)
    found.pop(os.getpid(), None)  # never ourselves, whatever a caller's tag says
    return list(found.values())


def send(proc: Proc, signum: int) -> bool:
    """Send ``signum`` to ``proc`` if that pid still is that process; True if it was sent."""
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):
        fd = None  # no pidfds here: check, then signal by pid (a narrow race remains)
    try:
        # Checked after the pidfd was opened: if the start time still matches, the pidfd
        # refers to the process we found, whatever happens to the pid afterwards.
        current = read_proc(proc.pid)
        if current is None or current.start != proc.start:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if fd is not None:
                signal.pidfd_send_signal(fd, signum)
            else:
                os.kill(proc.pid, signum)
            return True
        return False
    finally:
        if fd is not None:
            os.close(fd)


def signal_all(procs: Iterable[Proc], signum: int) -> int:
    """Send ``signum`` to each of ``procs`` that still is itself; return how many got it."""
    return sum(send(proc, signum) for proc in procs)


def kill_runs(ours: Callable[[str], bool], wait: float = 5.0) -> None:
    """SIGKILL every process of the runs whose tag ``ours`` accepts until none is left (or
    ``wait`` seconds passed)."""
    give_up = time.monotonic() + wait
    for _ in range(_KILL_ROUNDS):
        procs = run_processes(ours)
        if not procs:
            return
        signal_all(procs, signal.SIGKILL)
        if time.monotonic() > give_up:
            return
        time.sleep(_POLL)


# -- dying with the scheduler --------------------------------------------------------------


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the thread that forked it ends.

    Linux sends the parent-death signal when the forking *thread* exits: the engine forks on
    its event loop thread, which lives as long as the engine. Returns None where unsupported.
    """
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then no signal would ever come.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


# -- node liveness ---------------------------------------------------------------------------


def _place() -> str | None:
    """Where pids mean the same thing: this boot of this machine, this pid namespace."""
    try:
        with open(f"{PROC}/sys/kernel/random/boot_id", "rb") as f:
            boot = f.read().strip()
        namespace = os.readlink(f"{PROC}/self/ns/pid").encode()
    except OSError:
        return None
    return hashlib.sha256(boot + b"|" + namespace).hexdigest()[:8]


def node_stamp() -> str | None:
    """``<place>-<start>`` of this process, for node ids; None where it cannot be known."""
    place = _place()
    me = read_proc(os.getpid())
    if place is None or me is None:
        return None
    return f"{place}-{me.start}"


def node_is_dead(node: str) -> bool:
    """True when ``node`` names a process of this machine and pid namespace that has ended.

    Only node ids of the form ``host:pid:random:place-start`` (see make_node_id) can be judged;
    any other node, or one elsewhere, counts as alive: its runs wait for their lease instead.
    A pid now used by another process (a different start time) is a dead node too.
    """
    parts = node.split(":")
    if len(parts) != 4 or parts[0] != socket.gethostname():
        return False
    place, _, start = parts[3].partition("-")
    if not (parts[1].isdigit() and start.isdigit()) or place != _place():
        return False
    proc = read_proc(int(parts[1]))
    return proc is None or proc.zombie or proc.start != int(start)


# -- the watchdog ----------------------------------------------------------------------------


class Watchdog:
    """A helper process that ends the running runs' processes when this process dies.

    The parent-death signal reaches a command's first process only; its children would live
    on. The watchdog reads run tags from a pipe (``+tag`` when a run starts, ``-tag`` when it
    ends); when the pipe reaches end of file, which the kernel makes happen when the scheduler
    dies however it dies, it kills the processes of every run still listed and exits. It forks
    away from its launcher at once, so it is not a child of the scheduler (nothing to reap).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: int | None = None
        self._tags: set[str] = set()

    def watch(self, tag: str) -> None:
        """Have the processes tagged ``tag`` killed should this process die."""
        with self._lock:
            self._tags.add(tag)
            self._send(f"+{tag}\n")

    def forget(self, tag: str) -> None:
        """The run tagged ``tag`` is over: leave its leftovers alone."""
        with self._lock:
            if tag in self._tags:
                self._tags.discard(tag)
                self._send(f"-{tag}\n")

    def _send(self, line: str) -> None:
        if self._pipe is not None:
            try:
                # Non-blocking, and a line is shorter than PIPE_BUF, so it is written whole
                # or not at all: a stuck watchdog must not stall the event loop.
                os.write(self._pipe, line.encode())
                return
            except BlockingIOError:
                return
            except OSError:
                os.close(self._pipe)
                self._pipe = None
        # None yet, or it died: a new one is handed the current tags, this change included.
        self._spawn()

    def _spawn(self) -> None:
        if not sys.executable or not has_proc():
            return
        code = (
            "import os, sys\n"
            "if os.fork(): os._exit(0)\n"
            "import importlib.util as u\n"
            "s = u.spec_from_file_location('cronwork_watchdog', sys.argv[1])\n"
            "m = sys.modules[s.name] = u.module_from_spec(s); s.loader.exec_module(m); m.watch()"
        )
        read_end, write_end = os.pipe()
        try:
            launcher = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", code, __file__],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # Out of the scheduler's process group: a Ctrl-C or a signal to the group
                # must not take the watchdog too.
                start_new_session=True,
            )
        except OSError:
            os.close(write_end)
            return
        finally:
            os.close(read_end)
        launcher.wait()
        with contextlib.suppress(OSError):
            os.write(write_end, "".join(f"+{tag}\n" for tag in sorted(self._tags)).encode())
        os.set_blocking(write_end, False)
        self._pipe = write_end


_WATCHDOG: Watchdog | None = None
_WATCHDOG_LOCK = threading.Lock()


def watchdog() -> Watchdog:
    """This process's watchdog (its helper process starts with the first run it watches)."""
    global _WATCHDOG
    with _WATCHDOG_LOCK:
        if _WATCHDOG is None:
            _WATCHDOG = Watchdog()
        return _WATCHDOG


def watch() -> None:
    """The watchdog's main: follow the tags on stdin; at end of file kill what is listed."""
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_IGN)
    tags: set[str] = set()
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if line.startswith("+"):
            tags.add(line[1:])
        elif line.startswith("-"):
            tags.discard(line[1:])
    if tags:
        kill_runs(tags.__contains__)
