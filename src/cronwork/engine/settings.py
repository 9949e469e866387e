"""What the faces pass to the engine, and the engine's fixed intervals and batch sizes."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from cronwork.clock import Clock
from cronwork.events import Listeners
from cronwork.executors import Executor
from cronwork.executors.procs import node_stamp
from cronwork.notify import NotifyTarget
from cronwork.stores import Store
from cronwork.targets import TaskRegistry

DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_HORIZON = timedelta(seconds=1)
# The memory store has no other node to compete with, and claimed runs that live a shorter
# while before they start leave less for the garbage collector's full passes to walk.
MEMORY_HORIZON = timedelta(milliseconds=100)
# Persistent stores are shared with other processes (the CLI, other nodes), whose changes
# the engine can only see by looking; the memory store changes only through this process.
DEFAULT_POLL = timedelta(seconds=1)
MEMORY_POLL: timedelta | None = None
# While the store cannot be reached, the loop tries again after a delay doubling from the
# first to the cap (seconds): a restarting server is back within seconds, and a long outage
# costs a try every quarter of a minute rather than one every poll.
OUTAGE_FIRST = 0.5
OUTAGE_CAP = 15.0
BROKEN_CHECK_EVERY = timedelta(seconds=30)
# How often a shared store is re-read for trigger jobs another process added.
TRIGGERS_REFRESH_EVERY = timedelta(seconds=10)
PRUNE_EVERY = timedelta(minutes=5)
# How often the output of running commands is copied into their records, so that a page or
# an API client in another process can follow it live.
OUTPUT_FLUSH_EVERY = timedelta(seconds=1)
# Claims are taken in slices so that finishing runs are recorded between them: a claim of
# thousands of slots in one go would stall the loop for tens of milliseconds.
CLAIM_LIMIT = 200
# On a store several nodes claim from (stores.base.Clustered), smaller slices: nodes that
# wake together each take a slice while the rows of the others' are locked (SKIP LOCKED),
# so the due slots of one instant spread over the nodes instead of going to the first.
CLUSTER_CLAIM_LIMIT = 20
CLAIM_BATCH = timedelta(milliseconds=50)
FLUSH_DELAY = 0.02
INLINE_FLUSH_DELAY = 0.005
FLUSH_AT = 500
# The least the loop sleeps when the store reports work it then does not hand out, so that a
# confused store cannot turn the loop into a busy spin.
MIN_SLEEP = timedelta(milliseconds=10)
# The granularity of dispatch timers (seconds), on the event loop's clock; see
# Engine.arm_dispatch.
DISPATCH_TICK = 0.001


def make_node_id() -> str:
    """A node id unique to this process: ``host:pid:random:place-start`` (see node_is_dead).

    ``place-start`` says which boot and pid namespace the pid belongs to and when the process
    started, so that a later scheduler on this machine can tell this one has ended even if the
    pid was reused; it is left out where it cannot be known (no /proc).
    """
    node = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    stamp = node_stamp()
    return node if stamp is None else f"{node}:{stamp}"


@dataclass
class Settings:
    """What the faces pass to the engine."""

    store: Store
    clock: Clock
    listeners: Listeners
    tasks: TaskRegistry
    max_running: int
    node: str
    lease: timedelta
    horizon: timedelta
    poll: timedelta | None
    keep_runs: int | None
    keep_runs_for: timedelta | None
    kill_grace: float
    freeze_gc: bool = False
    # Targets told about every job's runs, besides each job's own (see cronwork.notifier).
    notify: tuple[NotifyTarget, ...] = ()
    # The dashboard's address, for links to run pages in notifications.
    base_url: str | None = None
    executors: dict[str, Executor] = field(default_factory=dict)
