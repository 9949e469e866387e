"""Telling a run's processes and a node's process from strangers: pids are reused."""

from __future__ import annotations

import os
import signal
import socket
import time

import psutil

from cronwork.engine import make_node_id
from cronwork.executors.procs import (
    Proc,
    node_is_dead,
    node_stamp,
    read_proc,
    run_processes,
    send,
)


def test_a_node_id_names_this_machine_this_process_and_when_it_started() -> None:
    stamp = node_stamp()
    assert stamp is not None
    me = read_proc(os.getpid())
    assert me is not None and stamp.endswith(f"-{me.start}")
    host, pid, _random, last = make_node_id().split(":")
    assert (host, pid, last) == (socket.gethostname(), str(os.getpid()), stamp)


def test_this_process_is_alive_and_a_reused_pid_is_not_the_same_node() -> None:
    alive = make_node_id()
    assert not node_is_dead(alive)
    host, pid, random, stamp = alive.split(":")
    place, _, start = stamp.partition("-")
    # The same pid with another start time: the node's process ended and the pid was reused.
    assert node_is_dead(f"{host}:{pid}:{random}:{place}-{int(start) + 1}")


def test_a_pid_no_process_has_is_a_dead_node() -> None:
    child = psutil.Popen(["true"])
    child.wait()
    host, _pid, random, stamp = make_node_id().split(":")
    assert node_is_dead(f"{host}:{child.pid}:{random}:{stamp}")


def test_nodes_that_cannot_be_judged_count_as_alive() -> None:
    host, _pid, random, stamp = make_node_id().split(":")
    place, _, start = stamp.partition("-")
    gone = 2**22 + 1  # above any pid_max: no process has it
    assert not node_is_dead(f"elsewhere:{gone}:{random}:{stamp}")  # another machine
    assert not node_is_dead(f"{host}:{gone}:{random}:ffffffff-{start}")  # another boot or namespace
    assert not node_is_dead(f"{host}:{gone}:{random}")  # no stamp (older cronwork, no /proc)
    assert not node_is_dead("worker-1")  # chosen by the user
    assert place != "ffffffff"


def test_a_signal_to_a_process_whose_start_time_changed_is_not_sent() -> None:
    bystander = psutil.Popen(["sleep", "30"])
    try:
        found = read_proc(bystander.pid)
        assert found is not None
        # What a kill would hold if the pid had been reused since the process was found.
        stale = Proc(found.pid, found.start - 1, found.ppid, found.pgrp, zombie=False)
        assert not send(stale, signal.SIGKILL)
        assert bystander.is_running() and bystander.status() != psutil.STATUS_ZOMBIE
        assert send(found, signal.SIGKILL)
        assert bystander.wait(timeout=5) == -signal.SIGKILL
    finally:
        if bystander.is_running():
            bystander.kill()
        bystander.wait()


def test_a_runs_processes_are_the_tagged_their_groups_and_their_descendants() -> None:
    env = {**os.environ, "CRONWORK_RUN_TAG": "n/7/abc"}
    # A tagged shell whose child cleared its environment, and an untagged stranger.
    tagged = psutil.Popen(["sh", "-c", "env -i sleep 30 & wait"], env=env, start_new_session=True)
    stranger = psutil.Popen(["sleep", "30"], start_new_session=True)
    try:
        for _ in range(250):
            if tagged.children():
                break
            time.sleep(0.02)
        [child] = tagged.children()
        found = {p.pid for p in run_processes("n/7/abc".__eq__)}
        assert found == {tagged.pid, child.pid}
        assert run_processes("n/7/abd".__eq__) == []
    finally:
        for proc in (tagged, stranger):
            for child in proc.children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()
