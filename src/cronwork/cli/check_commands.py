"""The commands that check without running anything: next (a schedule), validate (a job file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cronwork.cli.app import app, examples, open_scheduler


@app.command(
    name="next",
    epilog=examples(
        'cronwork next "0 9 * * 1-5"',
        'cronwork next "every monday at 09:00" -n 3 --tz Europe/Berlin',
        'cronwork next "every 90m"',
    ),
)
def next_(
    expr: Annotated[str, typer.Argument(metavar="EXPR", help="A schedule, quoted.")],
    count: Annotated[
        int, typer.Option("-n", "--count", min=1, metavar="N", help="How many fire times.")
    ] = 5,
    tz: Annotated[
        str | None, typer.Option("--tz", metavar="ZONE", help="IANA time zone [default: local]")
    ] = None,
    store: Annotated[str | None, typer.Option("--store", hidden=True)] = None,
) -> None:
    """Print a schedule's next fire times and its description in words."""
    from datetime import UTC, datetime

    from rich.text import Text

    from cronwork.cli.render import console, span_text
    from cronwork.timing import parse_schedule
    from cronwork.timing.zones import format_instant

    schedule = parse_schedule(expr, tz=tz)
    out = console()
    out.print(Text(schedule.describe(), style="bold") + f"  ({schedule.tz.key})")
    now = datetime.now(UTC)
    times = schedule.upcoming(count, now)
    if not times:
        out.print("never fires again")
    for moment in times:
        offset = moment.astimezone(schedule.tz).strftime("%z")
        span = span_text((moment - now).total_seconds())
        out.print(f"  {format_instant(moment, schedule.tz)} ({offset[:3]}:{offset[3:]})  in {span}")


@app.command(
    epilog=examples(
        "cronwork validate examples/jobs.toml",
        "cronwork validate jobs.yaml --store sqlite:///cronwork.db  # and what run would change",
    )
)
def validate(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Job file (.toml, .yaml).")],
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="URL",
            help="Also compare with this store and print what `run` would change; fails "
            "if `run` would refuse to sync (it removes jobs others depend on).",
        ),
    ] = None,
) -> None:
    """Check a job file and print each job's next three fire times; runs nothing."""
    from datetime import UTC, datetime

    from cronwork.cli.importpaths import add_target_folders
    from cronwork.cli.render import console, when
    from cronwork.jobfile import load_job_file, plan_sync
    from cronwork.targets import TaskRegistry

    add_target_folders(file)
    # The command line has no registered tasks: a task target could never run from here.
    job_file = load_job_file(file, check_imports=True, tasks=TaskRegistry())
    from rich.table import Table

    out = console()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("ID", "SCHEDULE", "TARGET", "NEXT FIRE TIMES"):
        table.add_column(name, overflow="fold")
    now = datetime.now(UTC)
    for job in job_file.jobs:
        times = job.schedule.upcoming(3, now)
        description = job.schedule.describe()
        shown = job.schedule_text
        if description.lower() != shown.lower():
            shown += f"\n[dim]{description}[/dim]"
        table.add_row(
            job.id,
            shown,
            job.target.describe(),
            "\n".join(when(t, now) for t in times) or "never",
        )
    for job_id in job_file.disabled:
        table.add_row(job_id, "[dim]disabled[/dim]", "", "")
    out.print(table)
    disabled = f", {len(job_file.disabled)} disabled" if job_file.disabled else ""
    out.print(f"[green]ok[/green]: {file}: {len(job_file.jobs)} jobs{disabled}")
    if store is not None:
        missing = _missing_file(store)
        if missing is not None:
            report = plan_sync([], job_file)
            out.print(
                f"{store} has no database file {missing} yet; `cronwork run` would create "
                f"it and make: {report.summary()}"
            )
            return
        report = plan_sync(open_scheduler(store, "read").jobs(), job_file)
        out.print(f"against {store}, `cronwork run` would make: {report.summary()}")
        if report.needed:
            # `cronwork run` would refuse this sync: fail the way it would.
            from cronwork.jobfile import JobFileError

            raise JobFileError(report.needed_problems(file))


def _missing_file(url: str) -> Path | None:
    """The absolute path of a SQLite store URL's file if it does not exist, else None."""
    from cronwork.stores import sqlite_path_from_url

    text = url.strip()
    if not text.startswith("sqlite://"):
        return None
    path = sqlite_path_from_url(text)
    return None if path.exists() else path.absolute()
