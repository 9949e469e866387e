"""`cronwork run`: the scheduler in the foreground (the loop itself is in cli/foreground.py)."""

from __future__ import annotations

import typer

from cronwork.cli.app import (
    DEFAULT_STORE,
    ForceSyncOption,
    JobFileArgument,
    LogFormatOption,
    LogLevelOption,
    MaxRunningOption,
    StoreOption,
    app,
    examples,
)


@app.command(
    epilog=examples(
        "cronwork run examples/jobs.toml",
        "cronwork run jobs.yaml --store sqlite:////var/lib/cronwork/cronwork.db",
        "cronwork run --log-format json | jq .",
        "cronwork run    # no file: run the jobs already in the store",
    )
)
def run(
    file: JobFileArgument = None,
    store: StoreOption = None,
    log_format: LogFormatOption = "human",
    log_level: LogLevelOption = None,
    max_running: MaxRunningOption = None,
    force: ForceSyncOption = False,
) -> None:
    """Run the scheduler in the foreground until SIGINT or SIGTERM.

    The file's jobs replace the ones it defined before (jobs added from the command line
    stay), all at once or not at all; a job the file dropped that others depend on needs
    --force. call = "tasks:hello" imports tasks.py beside the file (its folder, then the
    current one, go after the installed modules on sys.path). The first signal waits for
    running jobs, a second stops at once.
    """
    if log_format not in ("human", "json"):
        raise typer.BadParameter("use human or json", param_hint="--log-format")
    if log_level is not None and log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("use debug, info, warning or error", param_hint="--log-level")
    from cronwork.cli.foreground import run_foreground

    code = run_foreground(
        file,
        store=store,
        default_store=DEFAULT_STORE,
        log_format=log_format,
        log_level=log_level.lower() if log_level else None,
        max_running=max_running,
        force=force,
    )
    raise typer.Exit(code)
