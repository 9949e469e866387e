"""Processes a command started are killed with it, even those that left its process group."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from test_command_executor import assert_all_gone, make_ctx, read_pids, run

from cronwork.executors import CommandExecutor, Invocation, Outcome
from cronwork.runs import RunStatus
from cronwork.targets import Command

# Each script starts a process that outlives its own parent's process group one way or another,
# writes that process's pid to $PIDS, and then waits far longer than the test.
ESCAPES = {
    "setsid": 'setsid sleep 300 & echo $! > "$PIDS"; sleep 305',
    "double fork": "(setsid sh -c 'echo $$ > \"$PIDS\"; exec sleep 300' &) ; sleep 305",
    "nohup": 'nohup sleep 300 > /dev/null 2>&1 & echo $! > "$PIDS"; sleep 305',
    "new group": 'perl -e \'setpgrp(0, 0); exec "sleep", "300"\' & echo $! > "$PIDS"; sleep 305',
}


def escapee_command(tmp_path: Path, script: str) -> tuple[Command, Path]:
    pids = tmp_path / "pids"
    return Command(["sh", "-c", script], env={"PIDS": str(pids)}), pids


def escapee_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("escape", list(ESCAPES))
def test_the_timeout_kill_reaches_processes_that_left_the_group(
    tmp_path: Path, escape: str
) -> None:
    command, pids = escapee_command(tmp_path, ESCAPES[escape])
    outcome = run(Invocation(command, context=make_ctx(), timeout=1.0, kill_grace=1.0))
    assert outcome.status is RunStatus.TIMED_OUT
    [escapee] = read_pids(pids, 1)
    assert_all_gone([escapee])


@pytest.mark.slow
@pytest.mark.parametrize("escape", list(ESCAPES))
def test_cancel_reaches_processes_that_left_the_group(tmp_path: Path, escape: str) -> None:
    command, pids = escapee_command(tmp_path, ESCAPES[escape])

    async def main() -> tuple[Outcome, int]:
        executor = CommandExecutor()
        execution = executor.start(Invocation(command, context=make_ctx(), kill_grace=1.0))
        [escapee] = await asyncio.to_thread(read_pids, pids, 1)
        assert escapee_alive(escapee)
        execution.cancel("operator said stop")
        return await asyncio.wait_for(execution.wait(), 10), escapee

    outcome, escapee = asyncio.run(main())
    assert outcome.status is RunStatus.CANCELLED
    assert_all_gone([escapee])


@pytest.mark.slow
def test_a_process_of_someone_else_carrying_a_run_id_is_left_alone(tmp_path: Path) -> None:
    # Another scheduler (another database) may have a run with the same id: only the
    # processes this run started are killed, not everything with CRONWORK_RUN_ID=run-c.
    bystander = psutil.Popen(
        ["sleep", "300"], env={**os.environ, "CRONWORK_RUN_ID": "run-c", "CRONWORK_JOB_ID": "job-c"}
    )
    try:
        command, pids = escapee_command(tmp_path, ESCAPES["setsid"])
        outcome = run(Invocation(command, context=make_ctx(), timeout=0.5, kill_grace=0.5))
        assert outcome.status is RunStatus.TIMED_OUT
        assert_all_gone(read_pids(pids, 1))
        time.sleep(0.2)
        assert bystander.is_running() and bystander.status() != psutil.STATUS_ZOMBIE
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.slow
def test_an_untagged_group_member_ignoring_sigterm_dies_after_the_grace(tmp_path: Path) -> None:
    # It cleared its environment (no tag) and outlives the first process, which SIGTERM ends.
    pids = tmp_path / "pids"
    script = f"env -i sh -c 'trap \"\" TERM; echo $$ > {pids}; exec sleep 300' & wait"
    command = Command(["sh", "-c", script])
    outcome = run(Invocation(command, context=make_ctx(), timeout=0.5, kill_grace=0.5))
    assert outcome.status is RunStatus.TIMED_OUT
    assert_all_gone(read_pids(pids, 1))


class _Recorder:
    """Stands in for the watchdog: which tags it knows, as it knows them."""

    def __init__(self) -> None:
        self.tags: set[str] = set()

    def watch(self, tag: str) -> None:
        self.tags.add(tag)

    def forget(self, tag: str) -> None:
        self.tags.discard(tag)


@pytest.mark.parametrize("shell", [False, True], ids=["exec", "shell"])
def test_the_watchdog_knows_a_run_before_its_process_exists(
    monkeypatch: pytest.MonkeyPatch, shell: bool
) -> None:
    # A scheduler killed right after the fork leaves the run to the watchdog alone: it must
    # have heard of the run by then, not once the spawn has returned.
    recorder = _Recorder()
    monkeypatch.setattr("cronwork.executors.commands.watchdog", lambda: recorder)
    known_at_spawn: list[tuple[str, bool]] = []

    def spy(original: Any) -> Any:
        async def spawn(*args: Any, env: dict[str, str], **kwargs: Any) -> Any:
            tag = env["CRONWORK_RUN_TAG"]
            known_at_spawn.append((tag, tag in recorder.tags))
            return await original(*args, env=env, **kwargs)

        return spawn

    for name in ("create_subprocess_exec", "create_subprocess_shell"):
        monkeypatch.setattr(asyncio, name, spy(getattr(asyncio, name)))
    outcome = run(Invocation(Command(["true"], shell=shell), context=make_ctx()))
    assert outcome.status is RunStatus.SUCCEEDED
    assert [known for _, known in known_at_spawn] == [True]
    assert recorder.tags == set()  # and forgotten once the run is over
