"""The ``cronwork`` command: run a job file in the foreground and manage jobs in a store.

Only Typer is imported at start-up, so ``cronwork --help`` stays fast; each command imports
the scheduler, the store, Rich or YAML when it runs. Errors the user can fix (CronworkError)
print one ``error: ...`` line and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer

from cronwork.errors import CronworkError

if TYPE_CHECKING:
    from cronwork.scheduler import Scheduler
    from cronwork.stores import Store

# What a command may do to the store's file: `add` (and `run`) create it; commands on jobs
# that must exist already only open a cronwork database; the looking commands only read.
Access = Literal["create", "existing", "read"]

DEFAULT_STORE = "sqlite:///cronwork.db"
STORE_ENV = "CRONWORK_STORE"

app = typer.Typer(
    name="cronwork",
    help=(
        "cronwork: cron's simplicity with history, retries, timeouts and a terminal view.\n\n"
        "Define jobs in a TOML or YAML file and run them with `cronwork run jobs.toml`, or add "
        "them from the command line. Every command works on a store (--store, default "
        f"${STORE_ENV}, else {DEFAULT_STORE} in the current folder); the management commands "
        "work while a scheduler runs on the same store."
    ),
    epilog=(
        "\b\nExamples:\n"
        "  cronwork run examples/jobs.toml\n"
        '  cronwork add backup "0 3 * * *" --timeout 30m --retries 2 -- pg_dump mydb\n'
        "  cronwork list\n"
        "  cronwork history backup\n"
        '  cronwork next "every monday at 09:00" -n 3'
    ),
    rich_markup_mode=None,  # Rich help imports a lot; plain help keeps --help fast
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _complete_job_id(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of job ids from the store the command line names."""
    try:
        opened = _open_store(_store_url(ctx.params.get("store")), "read")
        try:
            return [job.id for job in opened.jobs() if job.id.startswith(incomplete)]
        finally:
            opened.close()
    except Exception:  # completion must never print a traceback into the shell
        return []


StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar=STORE_ENV,
        metavar="URL",
        show_default=False,
        help=f"Store URL: sqlite:///relative.db, sqlite:////absolute.db, "
        f"postgresql://user@host/db or memory:// "
        f"[default: ${STORE_ENV}, else {DEFAULT_STORE}]",
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print JSON with the field names of the Python API."),
]
JobIdArgument = Annotated[
    str,
    typer.Argument(metavar="ID", help="The job id.", autocompletion=_complete_job_id),
]


def _store_url(store: str | None, file_store: str | None = None) -> str:
    """The store to use: --store (or $CRONWORK_STORE), then the job file's, then the default."""
    return store or file_store or DEFAULT_STORE


def _open_store(url: str, access: Access) -> Store:
    """The store at ``url``, opened as ``access`` allows: only `create` makes a new file
    or a new schema."""
    from cronwork.stores import SqliteStore, open_store, sqlite_path_from_url

    text = url.strip()
    if text.startswith("sqlite://"):
        store: Store = SqliteStore(sqlite_path_from_url(text), access=access)
    elif text.startswith(("postgresql://", "postgres://")):
        # Imported here: psycopg is an extra; a missing one is a one-line StoreError.
        from cronwork.stores.postgres import PostgresStore

        store = PostgresStore(text, access=access)
    else:
        store = open_store(text)
    store.open()
    return store


def _scheduler(store: str | None, access: Access) -> Scheduler:
    """A scheduler that is not started: management calls go straight to the store."""
    from cronwork.scheduler import Scheduler

    opened = _open_store(_store_url(store), access)
    _opened.append(opened)
    return Scheduler(opened)


# Stores the commands opened, closed by main() however the command ends.
_opened: list[Store] = []


def _examples(*lines: str) -> str:
    # \b keeps Click from re-wrapping the example lines into one paragraph.
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _say(message: str) -> None:
    from cronwork.cli.render import console

    console().print(message, markup=False)


# -- run ------------------------------------------------------------------------------------


@app.command(
    epilog=_examples(
        "cronwork run examples/jobs.toml",
        "cronwork run jobs.yaml --store sqlite:////var/lib/cronwork/cronwork.db",
        "cronwork run --log-format json | jq .",
        "cronwork run    # no file: run the jobs already in the store",
    )
)
def run(
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="Job file (.toml, .yaml); its jobs are synced into the store first.",
            show_default=False,
        ),
    ] = None,
    store: StoreOption = None,
    log_format: Annotated[
        str, typer.Option("--log-format", metavar="human|json", help="Log line format.")
    ] = "human",
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            metavar="LEVEL",
            help="debug, info, warning or error [default: the file's, else info]",
            show_default=False,
        ),
    ] = None,
    max_running: Annotated[
        int | None,
        typer.Option(
            "--max-running",
            min=1,
            metavar="N",
            help="Runs at once [default: the file's, else 10]",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Sync even if it removes jobs that other jobs depend on."),
    ] = False,
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


# -- add and change -------------------------------------------------------------------------


@app.command(
    epilog=_examples(
        'cronwork add backup "0 3 * * *" --timeout 30m --retries 2 -- pg_dump -Fc mydb',
        'cronwork add ping "every 5m" -- curl -fsS https://example.com/health',
        'cronwork add report "every monday at 09:00" --tz Europe/Berlin --call reports:weekly',
        'cronwork add greet "every 1h" --call tasks:hello -- world     # args for the function',
    ),
)
def add(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="A new job id.")],
    schedule: Annotated[
        str,
        typer.Argument(
            metavar="SCHEDULE", help='Cron expression, "every 30m", "at 2026-12-01 10:00"...'
        ),
    ],
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="COMMAND",
            help="The command to run (after --), or the arguments of --call.",
            show_default=False,
        ),
    ] = None,
    call: Annotated[
        str | None, typer.Option("--call", metavar="PKG.MOD:FUNC", help="Run a function.")
    ] = None,
    timeout: Annotated[
        str | None, typer.Option(metavar="DURATION", help='Expected duration, e.g. "30m".')
    ] = None,
    retries: Annotated[int, typer.Option(min=0, metavar="N", help="Retries after a failure.")] = 0,
    retry_backoff: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION", help="First retry delay [default: 10s]", show_default=False
        ),
    ] = None,
    overlap: Annotated[
        str, typer.Option(metavar="skip|allow|queue|replace", help="When a run is still going.")
    ] = "skip",
    misfire: Annotated[
        str, typer.Option(metavar="skip|once|all", help="Slots missed while down.")
    ] = "once",
    tz: Annotated[
        str | None,
        typer.Option("--tz", metavar="ZONE", help="IANA time zone [default: local]"),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="TAG", help="A tag (repeatable).")
    ] = None,
    depends_on: Annotated[
        list[str] | None,
        typer.Option("--depends-on", metavar="ID", help="Wait for this job (repeatable)."),
    ] = None,
    kwargs: Annotated[
        str | None,
        typer.Option(metavar="JSON", help='Keyword arguments for --call, e.g. {"n": 3}.'),
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Add it paused.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a job with this id.")] = False,
    store: StoreOption = None,
) -> None:
    """Add a job to the store: a command after --, or a function with --call.

    A running scheduler on the same store picks it up within a second. --call imports the
    function now (from the current folder too), so a typo fails here.
    """
    import json

    from cronwork.targets import Command

    args: tuple[Any, ...] = ()
    target: Any
    if call is not None:
        from cronwork.cli.importpaths import append_user_folder

        append_user_folder(os.getcwd())
        target = call
        args = tuple(command or ())
    elif command:
        target = Command(command)
    else:
        raise typer.BadParameter("nothing to run: give a command after -- or --call pkg.mod:func")
    kw: dict[str, Any] = {}
    if kwargs is not None:
        if call is None:
            raise typer.BadParameter("--kwargs applies to --call", param_hint="--kwargs")
        try:
            kw = json.loads(kwargs)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--kwargs") from None
        if not isinstance(kw, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="--kwargs")
    from cronwork.errors import ScheduleError
    from cronwork.jobs import schedule_error
    from cronwork.timing import parse_schedule

    options: dict[str, Any] = {}
    if retry_backoff is not None:
        options["retry_backoff"] = retry_backoff
    try:
        schedule_obj = parse_schedule(schedule, tz=tz, job_id=job_id)
    except ScheduleError as exc:
        raise schedule_error(job_id, schedule, exc) from None
    except CronworkError as exc:
        raise CronworkError(f"job {job_id!r}: schedule: {exc}") from None
    # Only now: a schedule typo must not leave a new, empty database behind.
    sched = _scheduler(store, "create")
    from cronwork.errors import DuplicateJob

    try:
        job = sched.add_job(
            job_id,
            target,
            schedule_obj,
            timeout=timeout,
            retries=retries,
            overlap=overlap,
            misfire=misfire,
            args=args,
            kwargs=kw,
            tags=tuple(tag or ()),
            depends_on=tuple(depends_on or ()),
            replace=replace,
            paused=paused,
            **options,
        )
    except DuplicateJob:
        # The library's message names replace=True; here the flag is what to type.
        raise CronworkError(
            f"job {job_id!r} exists already; pass --replace to replace it"
        ) from None
    from cronwork.cli.render import when

    _say(f"added {job.id}: {job.target.describe()} — next run {when(job.next_run_at)}")


@app.command(
    name="remove", epilog=_examples("cronwork remove backup", "cronwork remove extract --force")
)
def remove(
    job_id: JobIdArgument,
    force: Annotated[
        bool, typer.Option("--force", help="Remove it even if other jobs depend on it.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Remove a job; its run history stays. A job others depend on needs --force."""
    _scheduler(store, "existing").remove_job(job_id, force=force)
    _say(f"removed {job_id}")


@app.command(epilog=_examples("cronwork pause backup", 'cronwork pause backup --note "disk full"'))
def pause(
    job_id: JobIdArgument,
    store: StoreOption = None,
    note: Annotated[
        str | None, typer.Option(help="Why it is paused; shown until the job is resumed.")
    ] = None,
) -> None:
    """Pause a job: no new runs until resumed (a running one goes on)."""
    _scheduler(store, "existing").pause_job(job_id, note=note)
    _say(f"paused {job_id}" + (f": {note}" if note else ""))


@app.command(epilog=_examples("cronwork resume backup"))
def resume(job_id: JobIdArgument, store: StoreOption = None) -> None:
    """Resume a paused job from its next slot after now."""
    _scheduler(store, "existing").resume_job(job_id)
    _say(f"resumed {job_id}")


@app.command(
    epilog=_examples("cronwork trigger backup", "cronwork logs $(cronwork trigger -q backup)")
)
def trigger(
    job_id: JobIdArgument,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the run id.")] = False,
    store: StoreOption = None,
) -> None:
    """Run a job now, outside its schedule (a running scheduler starts it within a second).

    If the job is running and its overlap policy would skip the new run, the run is recorded
    as skipped at once and the command exits 1.
    """
    sched = _scheduler(store, "existing")
    run_, verdict = sched.operations.trigger_unless_overlapping(job_id)
    if quiet:
        sys.stdout.write(f"{run_.id}\n")
    if verdict.skipped:
        raise CronworkError(f"run {run_.id} of {job_id} skipped: {verdict.reason}")
    if not quiet:
        _say(f"triggered {job_id}: run {run_.id}{', ' + verdict.reason if verdict.reason else ''}")


@app.command(epilog=_examples("cronwork stop backup"))
def stop(job_id: JobIdArgument, store: StoreOption = None) -> None:
    """Cancel what is running (or waiting to run) of a job; its processes are killed."""
    cancelled = _scheduler(store, "existing").stop(job_id)
    count = len(cancelled) if isinstance(cancelled, (list, tuple)) else int(cancelled or 0)
    if count:
        _say(f"stopping {job_id}: {count} run{'s' if count != 1 else ''} cancelled")
    else:
        _say(f"{job_id} has nothing running")


# -- look -----------------------------------------------------------------------------------


@app.command(name="list", epilog=_examples("cronwork list", "cronwork list --json | jq '.[].id'"))
def list_(store: StoreOption = None, as_json: JsonOption = False) -> None:
    """List jobs: id, schedule, next run, last status, paused."""
    from cronwork.cli import render

    sched = _scheduler(store, "read")
    jobs = sched.jobs()
    last = {job.id: next(iter(sched.runs(job_id=job.id, limit=1)), None) for job in jobs}
    if as_json:
        render.print_json([render.job_to_dict(job, last[job.id]) for job in jobs])
        return
    if not jobs:
        _say("no jobs; add one with `cronwork add` or run a job file with `cronwork run`")
        return
    render.show(render.jobs_table(jobs, last))


@app.command(epilog=_examples("cronwork show backup", "cronwork show backup --json"))
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

    sched = _scheduler(store, "read")
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
    epilog=_examples(
        "cronwork history",
        "cronwork history backup -n 50",
        "cronwork history --status failed --json",
    )
)
def history(
    job_id: Annotated[
        str | None,
        typer.Argument(metavar="ID", help="Only this job.", autocompletion=_complete_job_id),
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
    sched = _scheduler(store, "read")
    found = sched.runs(job_id=job_id, status=wanted, limit=limit)
    if job_id is not None and not found and not _has_history(sched, job_id):
        sched.get_job(job_id)  # raises JobNotFound for an id that never existed
    if as_json:
        render.print_json([render.run_to_dict(r) for r in found])
        return
    if not found:
        _say("no runs yet")
        return
    render.show(render.runs_table(found, show_job=job_id is None))


def _has_history(sched: Scheduler, job_id: str) -> bool:
    # A removed job keeps its history, so only an id with neither job nor runs is unknown.
    return bool(sched.runs(job_id=job_id, limit=1))


@app.command(epilog=_examples("cronwork logs 42", "cronwork logs 42 > out.txt"))
def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id from history.")],
    store: StoreOption = None,
) -> None:
    """Print a run's captured output, then its error (with traceback) if it has one."""
    sched = _scheduler(store, "read")
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


# -- timing and files -----------------------------------------------------------------------


@app.command(
    name="next",
    epilog=_examples(
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
    epilog=_examples(
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
        report = plan_sync(_scheduler(store, "read").jobs(), job_file)
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


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(1)


def _run_command(command: Any, argv: list[str] | None) -> None:
    try:
        command.main(args=argv, prog_name="cronwork")
    finally:
        while _opened:
            _opened.pop().close()


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
