"""CommandExecutor: subprocesses in their own process group, bounded output, clean kills."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from cronwork.executors import CommandExecutor, Invocation, Outcome, RunContext
from cronwork.runs import RunStatus
from cronwork.targets import Command


def make_ctx() -> RunContext:
    return RunContext("job-c", "run-c", datetime(2024, 5, 6, 7, 8, tzinfo=UTC), 3, None)


def run(invocation: Invocation, **start: Any) -> Outcome:
    async def main() -> Outcome:
        executor = CommandExecutor()
        outcome = await executor.start(invocation, **start).wait()
        await executor.shutdown()
        return outcome

    return asyncio.run(main())


def gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for init to reap it counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def assert_all_gone(pids: Iterable[int], within: float = 3.0) -> None:
    pids = list(pids)
    give_up = time.monotonic() + within
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < give_up, f"still running: {[p for p in pids if not gone(p)]}"
        time.sleep(0.05)


def read_pids(path: Path, count: int) -> list[int]:
    give_up = time.monotonic() + 5
    while True:
        if path.exists():
            pids = [int(word) for word in path.read_text().split()]
            if len(pids) == count:
                return pids
        assert time.monotonic() < give_up, "the script never wrote its pids"
        time.sleep(0.02)


def test_success_captures_stdout_and_stderr_merged() -> None:
    outcome = run(Invocation(Command(["sh", "-c", "echo out; echo err >&2"]), context=make_ctx()))
    assert outcome == Outcome(RunStatus.SUCCEEDED, exit_code=0, output="out\nerr\n")


def test_nonzero_exit_is_failed_with_the_code() -> None:
    outcome = run(Invocation(Command("sh -c 'echo nope; exit 3'"), context=make_ctx()))
    assert outcome == Outcome(RunStatus.FAILED, exit_code=3, output="nope\n", error="exit code 3")


def test_death_by_signal_is_a_negative_exit_code() -> None:
    outcome = run(Invocation(Command("sh -c 'kill -9 $$'"), context=make_ctx()))
    assert outcome.status is RunStatus.FAILED
    assert outcome.exit_code == -9
    assert outcome.error == "killed by signal SIGKILL"


def test_missing_executable_is_a_failed_outcome_not_an_exception() -> None:
    outcome = run(Invocation(Command("./nope.sh --flag"), context=make_ctx()))
    assert outcome == Outcome(RunStatus.FAILED, error="command not found: ./nope.sh")


def test_missing_working_directory_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    outcome = run(Invocation(Command("true", cwd=missing), context=make_ctx()))
    assert outcome == Outcome(RunStatus.FAILED, error=f"working directory not found: {missing}")


def test_shell_commands_env_cwd_and_run_variables(tmp_path: Path) -> None:
    command = Command(
        'echo "$GREETING $(pwd)"; echo "$CRONWORK_JOB_ID $CRONWORK_RUN_ID";'
        ' echo "$CRONWORK_SCHEDULED_FOR $CRONWORK_ATTEMPT"; echo "${PATH:+path kept}"',
        shell=True,
        cwd=str(tmp_path),
        env={"GREETING": "hello"},
    )
    outcome = run(Invocation(command, context=make_ctx()))
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == (
        f"hello {tmp_path}\njob-c run-c\n2024-05-06T07:08:00+00:00 3\npath kept\n"
    )


@pytest.mark.slow
def test_output_keeps_exactly_the_last_output_limit_bytes() -> None:
    # About 5 MB of numbered lines; only the tail survives.
    script = "import sys; sys.stdout.write(''.join(f'{i:08d}\\n' for i in range(600000)))"
    outcome = run(
        Invocation(Command([sys.executable, "-c", script]), context=make_ctx(), output_limit=1000)
    )
    expected = "".join(f"{i:08d}\n" for i in range(600000))[-1000:]
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == expected


def test_invalid_utf8_is_replaced() -> None:
    outcome = run(Invocation(Command(["printf", r"caf\351"]), context=make_ctx()))
    assert outcome.output == "caf\ufffd"


@pytest.mark.slow
def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = tmp_path / "spawner.sh"
    script.write_text(f'#!/bin/sh\nsleep 60 &\necho $$ $! > "{pids}"\nsleep 60\n')
    script.chmod(0o755)
    began = time.monotonic()
    outcome = run(Invocation(Command([str(script)]), context=make_ctx(), timeout=0.5))
    assert time.monotonic() - began < 3
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.exit_code == -15
    assert outcome.error == "timed out after 0.5s"
    assert_all_gone(read_pids(pids, 2))


@pytest.mark.slow
def test_a_command_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = Command(f"trap '' TERM; sleep 60 & echo $$ $! > {pids}; wait", shell=True)
    began = time.monotonic()
    outcome = run(Invocation(command, context=make_ctx(), timeout=0.3, kill_grace=0.5))
    elapsed = time.monotonic() - began
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.exit_code == -9
    assert 0.8 <= elapsed < 3
    assert_all_gone(read_pids(pids, 2))


def test_cancel_stops_the_command(tmp_path: Path) -> None:
    pids = tmp_path / "pids"

    async def main() -> Outcome:
        executor = CommandExecutor()
        command = Command(f"sleep 60 & echo $$ $! > {pids}; wait", shell=True)
        execution = executor.start(Invocation(command, context=make_ctx()))
        await asyncio.to_thread(read_pids, pids, 2)
        execution.cancel("operator said stop")
        return await asyncio.wait_for(execution.wait(), 5)

    outcome = asyncio.run(main())
    assert outcome.status is RunStatus.CANCELLED
    assert outcome.error == "operator said stop"
    assert_all_gone(read_pids(pids, 2))


def test_cancel_right_after_start_still_cancels() -> None:
    async def main() -> Outcome:
        executor = CommandExecutor()
        execution = executor.start(Invocation(Command("sleep 60"), context=make_ctx()))
        execution.cancel()
        return await asyncio.wait_for(execution.wait(), 5)

    outcome = asyncio.run(main())
    assert outcome.status is RunStatus.CANCELLED


def test_a_background_child_holding_the_pipe_does_not_hold_the_run(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = Command(f"sleep 30 & echo $! > {pids}; echo done", shell=True)
    began = time.monotonic()
    outcome = run(Invocation(command, context=make_ctx()))
    assert time.monotonic() - began < 2
    assert outcome == Outcome(RunStatus.SUCCEEDED, exit_code=0, output="done\n")
    [child] = read_pids(pids, 1)
    psutil.Process(child).kill()


def test_soft_timeout_calls_on_overdue_once() -> None:
    overdue: list[None] = []
    outcome = run(
        Invocation(Command("sleep 0.3"), context=make_ctx(), timeout=0.05, on_timeout="warn"),
        on_overdue=lambda: overdue.append(None),
    )
    assert outcome == Outcome(RunStatus.SUCCEEDED, exit_code=0, output="")
    assert overdue == [None]


def test_a_command_still_running_when_the_loop_ends_is_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"

    async def main() -> None:
        executor = CommandExecutor()
        command = Command(f"sleep 60 & echo $$ $! > {pids}; wait", shell=True)
        executor.start(Invocation(command, context=make_ctx()))
        await asyncio.to_thread(read_pids, pids, 2)

    asyncio.run(main())
    assert_all_gone(read_pids(pids, 2))
