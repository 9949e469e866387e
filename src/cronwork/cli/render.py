"""How the CLI shows jobs and runs: Rich tables for people, JSON objects for scripts.

JSON objects use the field names of the Python API (``Job``, ``Run``): instants are ISO 8601
strings in UTC, durations are seconds, enums are their values.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cronwork.jobs import Job
from cronwork.notify import masked_url
from cronwork.runs import Run, RunStatus
from cronwork.targets import Target
from cronwork.timing import Schedule
from cronwork.timing.zones import local_zone

STATUS_STYLES = {
    RunStatus.SCHEDULED: "cyan",
    RunStatus.RUNNING: "bold blue",
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "bold red",
    RunStatus.TIMED_OUT: "red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.SKIPPED: "dim",
    RunStatus.MISSED: "magenta",
    RunStatus.LOST: "bold magenta",
}


def show(renderable: Any) -> None:
    """Print a table or text on stdout; piped output gets no trailing padding."""
    out = console()
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def console(stderr: bool = False) -> Console:
    """A console that only highlights what we style, so ids and commands print as they are."""
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        # Piped into grep or a file: never cut or wrap, whatever COLUMNS says.
        out = Console(stderr=stderr, highlight=False, width=10_000)
    return out


# -- JSON -----------------------------------------------------------------------------------


def to_plain(value: Any) -> Any:
    """Turn a model value into JSON: datetimes to ISO strings, timedeltas to seconds."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Target):
        plain: dict[str, Any] = {"kind": value.kind, "ref": value.ref}
        if value.command is not None:
            plain.update(
                argv=list(value.command.argv),
                cwd=value.command.cwd,
                env=dict(value.command.env) if value.command.env is not None else None,
                shell=value.command.shell,
            )
        if value.celery is not None:
            app = value.celery.app
            plain.update(
                app=app if isinstance(app, str) or app is None else str(app.main),
                queue=value.celery.queue,
            )
        return plain
    if isinstance(value, Schedule):
        return value.source
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def job_to_dict(job: Job, last: Run | None = None) -> dict[str, Any]:
    """A job as a JSON object; ``schedule`` is its text, plus ``timezone`` and ``description``."""
    data: dict[str, Any] = {}
    for spec in dataclasses.fields(job):
        value = getattr(job, spec.name)
        if spec.name == "schedule":
            data["schedule"] = job.schedule_text
            data["timezone"] = job.timezone
            data["description"] = _describe(job.schedule)
        elif spec.name == "notify":
            # Webhook URLs carry their secret in the path: shown masked, never in full.
            data["notify"] = [{"url": masked_url(t.url), "on": list(t.on)} for t in job.notify]
        else:
            data[spec.name] = to_plain(value)
    if last is not None:
        data["last_run"] = run_to_dict(last)
    return data


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as a JSON object, with its ``duration`` in seconds."""
    data = {spec.name: to_plain(getattr(run, spec.name)) for spec in dataclasses.fields(run)}
    data["duration"] = run.duration
    return data


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


# -- people ---------------------------------------------------------------------------------


def when(moment: datetime | None, now: datetime | None = None, *, relative: bool = True) -> str:
    """``2026-11-23 03:00:00`` in the local zone, with ``(in 4h31m)`` or ``(2m ago)``."""
    if moment is None:
        return "-"
    text = moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")
    if not relative:
        return text
    delta = moment - (now or datetime.now(UTC))
    span = span_text(abs(delta.total_seconds()))
    return f"{text} ({'in ' + span if delta.total_seconds() >= 0 else span + ' ago'})"


def span_text(seconds: float) -> str:
    """A rough span for people: ``45s``, ``4m05s``, ``3h12m``, ``2d4h``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def duration_text(seconds: float | None) -> str:
    """A run's duration: ``0.42s``, ``12.3s``, ``4m05s``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return span_text(seconds)


def status_text(status: RunStatus | str | None) -> Text:
    """The status word in its colour."""
    if status is None:
        return Text("-", style="dim")
    value = RunStatus(status)
    return Text(value.value, style=STATUS_STYLES.get(value, ""))


def _describe(schedule: Schedule) -> str:
    try:
        return schedule.describe()
    except Exception:  # a description is a courtesy; never fail a listing over it
        return schedule.source


def jobs_table(jobs: Sequence[Job], last: dict[str, Run | None]) -> Table:
    """``list``: id, schedule, next run, last status, paused."""
    now = datetime.now(UTC)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("ID", "SCHEDULE", "NEXT RUN", "LAST STATUS", "PAUSED", "TARGET"):
        table.add_column(name, no_wrap=name != "TARGET", overflow="fold")
    for job in jobs:
        run = last.get(job.id)
        status = status_text(run.status if run else None)
        if job.broken:
            status = Text("broken", style="bold red")
        table.add_row(
            job.id,
            job.schedule_text,
            "-" if job.paused else when(job.next_run_at, now),
            status,
            Text("yes", style="yellow") if job.paused else "no",
            job.target.describe(),
        )
    return table


def job_panel(job: Job, runs: Sequence[Run], upcoming: Iterable[datetime]) -> Table:
    """``show``: every field that matters, then the next fire times and the latest runs."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    from cronwork.timing import format_duration

    def dur(td: timedelta | None) -> str:
        return format_duration(td) if td is not None else "-"

    rows: list[tuple[str, str | Text]] = [
        ("id", job.id),
        ("target", f"{job.target.kind}: {job.target.ref}"),
        ("schedule", f"{job.schedule_text}  ({_describe(job.schedule)})"),
        ("timezone", job.timezone),
        (
            "paused",
            Text("yes" + (f": {job.pause_note}" if job.pause_note else ""), style="yellow")
            if job.paused
            else "no",
        ),
        ("next run", "-" if job.paused else when(job.next_run_at)),
        ("timeout", f"{dur(job.timeout)} (on timeout: {job.on_timeout})"),
        ("retries", f"{job.retries} (backoff {dur(job.retry_backoff)})"),
        ("overlap", f"{job.overlap} (max instances {job.max_instances})"),
        ("misfire", f"{job.misfire} (grace {dur(job.misfire_grace)})"),
    ]
    command = job.target.command
    if command is not None and command.cwd:
        rows.append(("cwd", command.cwd))
    if job.args or job.kwargs:
        rows.append(("arguments", json.dumps({"args": list(job.args), "kwargs": job.kwargs})))
    if job.depends_on:
        rows.append(("depends on", ", ".join(job.depends_on)))
    if job.tags:
        rows.append(("tags", ", ".join(job.tags)))
    if job.executor:
        rows.append(("executor", job.executor))
    rows.append(("origin", job.origin or "-"))
    if job.broken:
        rows.append(("broken", Text(job.broken, style="bold red")))
    for key, value in rows:
        grid.add_row(key, value)
    times = list(upcoming)
    if times and not job.paused:
        grid.add_row("upcoming", "\n".join(when(t) for t in times))
    if runs:
        grid.add_row("", "")
        grid.add_row("recent runs", runs_table(runs, show_job=False))
    return grid


def runs_table(runs: Sequence[Run], *, show_job: bool = True) -> Table:
    """``history``: id, job, slot, status, attempt, duration, started."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    columns = ["RUN", "JOB", "SLOT", "STATUS", "ATTEMPT", "DURATION", "STARTED", "TRIGGER"]
    if not show_job:
        columns.remove("JOB")
    for name in columns:
        table.add_column(name, no_wrap=True, justify="right" if name == "ATTEMPT" else "left")
    for run in runs:
        cells: list[str | Text] = [run.id]
        if show_job:
            cells.append(run.job_id)
        duration = run.duration
        if duration is None and run.started_at is not None and not run.status.finished:
            duration = (datetime.now(UTC) - run.started_at).total_seconds()
        cells += [
            when(run.scheduled_for, relative=False),
            status_text(run.status),
            str(run.attempt),
            duration_text(duration),
            when(run.started_at, relative=False),
            run.trigger,
        ]
        table.add_row(*cells)
    return table
