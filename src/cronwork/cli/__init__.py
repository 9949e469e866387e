"""The ``cronwork`` command: run a job file in the foreground and manage jobs in a store.

Only Typer is imported at start-up, so ``cronwork --help`` stays fast; each command imports
the scheduler, the store, Rich or YAML when it runs. Errors the user can fix (CronworkError)
print one ``error: ...`` line and exit 1; usage errors exit 2.

The app and what its commands share are in `app`; the commands are in modules named after
what they do, imported below in the order ``cronwork --help`` lists them: `run_command`,
`job_commands` (add, remove, pause, resume, trigger, stop), `backfill_command`,
`view_commands` (list, show, history, logs) and `check_commands` (next, validate).
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import typer

from cronwork.cli.app import DEFAULT_STORE, STORE_ENV, app, opened_stores
from cronwork.errors import CronworkError

# Each command module registers its commands on `app` when imported; `cronwork --help` lists
# them in this order, so it is kept as written.
# isort: off
from cronwork.cli import run_command, serve, job_commands, backfill_command  # noqa: F401
from cronwork.cli import view_commands, check_commands  # noqa: F401
# isort: on

__all__ = ["DEFAULT_STORE", "STORE_ENV", "app", "main"]


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(1)


def _run_command(command: Any, argv: list[str] | None) -> None:
    try:
        command.main(args=argv, prog_name="cronwork")
    finally:
        while opened_stores:
            opened_stores.pop().close()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``cronwork`` console script."""
    command = typer.main.get_command(app)
    try:
        _run_command(command, argv)
    except CronworkError as exc:
        problems = getattr(exc, "problems", None)
        if problems and len(problems) > 1:
            for problem in problems[:-1]:
                sys.stderr.write(f"error: {problem}\n")
            _fail(problems[-1])
        _fail(str(exc) or type(exc).__name__)
    except BrokenPipeError:
        # `cronwork history | head` closes the pipe early; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
