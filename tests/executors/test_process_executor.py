"""ProcessExecutor: importable functions in a fresh process group per run."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

import cronwork
from cronwork.errors import TargetError
from cronwork.executors import Invocation, Outcome, ProcessExecutor, RunContext
from cronwork.runs import RunStatus


def make_ctx() -> RunContext:
    return RunContext("job-p", "run-p", datetime(2024, 1, 1, tzinfo=UTC), 1, None)


def run(invocation: Invocation) -> Outcome:
    async def main() -> Outcome:
        executor = ProcessExecutor()
        outcome = await executor.start(invocation).wait()
        await executor.shutdown()
        return outcome

    return asyncio.run(main())


# Targets run in the child, which imports this module by name.


def record(path: str, a: int, *, b: list[int], ctx: RunContext) -> str:
    Path(path).write_text(
        json.dumps([os.getpid(), a, b, ctx.job_id, ctx.attempt, ctx.scheduled_for.isoformat()])
    )
    return "ignored"


async def record_async(path: str) -> None:
    await asyncio.sleep(0)
    Path(path).write_text("async ok")


def explode(message: str) -> None:
    raise ValueError(message)


def shout(word: str) -> None:
    print("out", word, flush=True)
    print("err", word, file=sys.stderr, flush=True)


def exit_abruptly() -> None:
    os._exit(3)


def spawn_and_hang(path: str) -> None:
    child = subprocess.Popen(["sleep", "60"])
    Path(path).write_text(f"{os.getpid()} {child.pid}")
    time.sleep(60)


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_for_pids(path: Path) -> list[int]:
    give_up = time.monotonic() + 10
    while not (path.exists() and len(path.read_text().split()) == 2):
        assert time.monotonic() < give_up, "the function never wrote its pids"
        time.sleep(0.02)
    return [int(word) for word in path.read_text().split()]


def test_runs_in_another_process_with_args_kwargs_and_a_ctx_copy(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    outcome = run(Invocation(record, (str(out), 1), {"b": [2, 3]}, context=make_ctx()))
    assert outcome == Outcome(RunStatus.SUCCEEDED)
    pid, a, b, job_id, attempt, slot = json.loads(out.read_text())
    assert pid != os.getpid()
    assert (a, b, job_id, attempt, slot) == (1, [2, 3], "job-p", 1, "2024-01-01T00:00:00+00:00")


def test_async_functions_run_in_the_child(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    assert run(Invocation(record_async, (str(out),), context=make_ctx())).status == "succeeded"
    assert out.read_text() == "async ok"


def test_exception_is_failed_with_the_remote_traceback() -> None:
    outcome = run(Invocation(explode, ("remote boom",), context=make_ctx()))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith("ValueError: remote boom\nTraceback")
    assert "in explode" in outcome.error


def test_a_process_dying_without_a_report_is_failed() -> None:
    outcome = run(Invocation(exit_abruptly, context=make_ctx()))
    assert outcome == Outcome(
        RunStatus.FAILED,
        exit_code=3,
        error="the process ended without reporting a result (exit code 3)",
    )


def test_lambdas_local_functions_and_non_json_arguments_are_rejected() -> None:
    def local() -> None: ...

    async def main() -> None:
        executor = ProcessExecutor()
        with pytest.raises(TargetError, match="lambda"):
            executor.start(Invocation(lambda: None, context=make_ctx()))
        with pytest.raises(TargetError, match="inside another function"):
            executor.start(Invocation(local, context=make_ctx()))
        with pytest.raises(TargetError, match="JSON"):
            executor.start(Invocation(explode, (object(),), context=make_ctx()))

    asyncio.run(main())


@pytest.mark.slow
def test_a_hanging_function_is_killed_with_its_children_at_the_timeout(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    began = time.monotonic()
    outcome = run(
        Invocation(spawn_and_hang, (str(pids),), context=make_ctx(), timeout=1.0, kill_grace=1)
    )
    assert time.monotonic() - began < 4
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.exit_code == -15
    for pid in wait_for_pids(pids):
        give_up = time.monotonic() + 3
        while not gone(pid):
            assert time.monotonic() < give_up, f"pid {pid} survived the timeout"
            time.sleep(0.05)


def test_cancel_kills_the_process(tmp_path: Path) -> None:
    pids = tmp_path / "pids"

    async def main() -> Outcome:
        executor = ProcessExecutor()
        execution = executor.start(Invocation(spawn_and_hang, (str(pids),), context=make_ctx()))
        await asyncio.to_thread(wait_for_pids, pids)
        execution.cancel()
        return await asyncio.wait_for(execution.wait(), 5)

    outcome = asyncio.run(main())
    assert outcome.status is RunStatus.CANCELLED
    assert outcome.error == "cancelled"
    assert all(gone(pid) for pid in wait_for_pids(pids))


def test_functions_of_the_main_script_run_without_rerunning_its_main_block(
    tmp_path: Path,
) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "import asyncio, sys\n"
        "from datetime import UTC, datetime\n"
        "from cronwork.executors import Invocation, ProcessExecutor, RunContext\n"
        "def hello(name):\n"
        "    print('child', name, __name__, flush=True)\n"
        "async def main():\n"
        "    ctx = RunContext('j', 'r', datetime.now(UTC), 1, None)\n"
        "    execution = ProcessExecutor().start(Invocation(hello, ('x',), context=ctx))\n"
        "    outcome = await execution.wait()\n"
        "    print(outcome.status, repr(outcome.output), flush=True)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    src = str(Path(cronwork.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=30
    )
    # What the child prints is the run's output, not the parent's.
    assert done.stdout == "succeeded 'child x __cronwork_main__\\n'\n", done.stderr


def test_printed_output_and_tracebacks_become_the_run_output() -> None:
    outcome = run(Invocation(shout, ("hey",), context=make_ctx()))
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "out hey\nerr hey\n"


def test_output_capture_can_be_turned_off(capfd: pytest.CaptureFixture[str]) -> None:
    outcome = run(Invocation(shout, ("quiet",), context=make_ctx(), capture_output=False))
    assert outcome.output is None
    captured = capfd.readouterr()
    assert "out quiet" in captured.out and "err quiet" in captured.err
