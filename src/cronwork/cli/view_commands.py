"""The commands that show jobs and runs: list, show, history, logs."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cronwork.cli.app import (
    JobIdArgument,
    JsonOption,
    StoreOption,
    app,
    complete_job_id,
    examples,
    open_scheduler,
    say,
)

if TYPE_CHECKING:
    from cronwork.scheduler import Scheduler


@app.command(name="list", epilog=examples("cronwork list", "cronwork list --json | jq '.[].id'"))
def list_(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """List jobs: id, schedule, next run, last status, paused."""
    from cronwork.cli import render

    sched = open_scheduler(store, "read")
    jobs = sched.jobs()
    last = {job.id: next(iter(sched.runs(job_id=job.id, limit=1)), None) for job in jobs}
    if as_json:
        render.print_json([render.job_to_dict(job, last[job.id]) for job in jobs])
        return
    if not jobs:
        say("no jobs; add one with `cronwork add` or run a job file with `cronwork run`")
        return
    render.show(render.jobs_table(jobs, last))


@app.command(epilog=examples("cronwork show backup", "cronwork show backup --json"))
def show(
    job_id: JobIdArgument,
    store: StoreOption = None,
    as_json: JsonOption = False,
    runs: Annotated[
        int, typer.Option("--runs", min=0, metavar="N", help="Recent runs to show.")
    ] = 5,
) -> None:
    """Show one job: its definition, next fire times and recent runs."""
    from cronwork.cli import render

    sched = open_scheduler(store, "read")
    job = sched.get_job(job_id)
    recent = sched.runs(job_id=job_id, limit=runs) if runs else []
    if as_json:
        data = render.job_to_dict(job)
        data["runs"] = [render.run_to_dict(r) for r in recent]
        render.print_json(data)
        return
    upcoming = []
    if job.next_run_at is not None:
        upcoming = [job.next_run_at, *job.schedule.upcoming(2, job.next_run_at)]
    render.show(render.job_panel(job, recent, upcoming))


@app.command(
    epilog=examples(
        "cronwork history",
        "cronwork history backup -n 50",
        "cronwork history --status failed --json",
    )
)
def history(
    job_id: Annotated[
        str | None,
        typer.Argument(metavar="ID", help="Only this job.", autocompletion=complete_job_id),
    ] = None,
    limit: Annotated[
        int, typer.Option("-n", "--limit", min=1, metavar="N", help="How many runs.")
    ] = 20,
    status: Annotated[
        str | None,
        typer.Option(metavar="STATUS", help="Only runs with this status, e.g. failed."),
    ] = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show runs, newest first: status, attempt, duration and start."""
    from cronwork.cli import render
    from cronwork.runs import RunStatus

    wanted = None
    if status is not None:
        try:
            wanted = RunStatus(status.lower())
        except ValueError:
            allowed = ", ".join(s.value for s in RunStatus)
            raise typer.BadParameter(f"use one of {allowed}", param_hint="--status") from None
    sched = open_scheduler(store, "read")
    found = sched.runs(job_id=job_id, status=wanted, limit=limit)
    if job_id is not None and not found and not _has_history(sched, job_id):
        sched.get_job(job_id)  # raises JobNotFound for an id that never existed
    if as_json:
        render.print_json([render.run_to_dict(r) for r in found])
        return
    if not found:
        say("no runs yet")
        return
    render.show(render.runs_table(found, show_job=job_id is None))


def _has_history(sched: Scheduler, job_id: str) -> bool:
    # A removed job keeps its history, so only an id with neither job nor runs is unknown.
    return bool(sched.runs(job_id=job_id, limit=1))


@app.command(epilog=examples("cronwork logs 42", "cronwork logs 42 > out.txt"))
def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id from history.")],
    store: StoreOption = None,
) -> None:
    """Print a run's captured output, then its error (with traceback) if it has one."""
    sched = open_scheduler(store, "read")
    found = _get_run(sched, run_id)
    if found.output:
        sys.stdout.write(found.output if found.output.endswith("\n") else found.output + "\n")
    if found.error:
        sys.stdout.write(found.error if found.error.endswith("\n") else found.error + "\n")
    if not found.output and not found.error:
        note = "no output yet" if not found.status.finished else "no output"
        sys.stderr.write(f"run {run_id} ({found.job_id}, {found.status.value}): {note}\n")


def _get_run(sched: Scheduler, run_id: str) -> Any:
    getter = getattr(sched, "get_run", None)
    if getter is not None:
        return getter(run_id)
    return sched.store.get_run(run_id)
