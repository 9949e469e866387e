"""The commands that change jobs in the store: add, remove, pause, resume, trigger, stop."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from cronwork.cli.app import JobIdArgument, StoreOption, app, examples, open_scheduler, say
from cronwork.errors import CronworkError


@app.command(
    epilog=examples(
        'cronwork add backup "0 3 * * *" --timeout 30m --retries 2 -- pg_dump -Fc mydb',
        'cronwork add ping "every 5m" -- curl -fsS https://example.com/health',
        'cronwork add report "every monday at 09:00" --tz Europe/Berlin --call reports:weekly',
        'cronwork add greet "every 1h" --call tasks:hello -- world     # args for the function',
        'cronwork add report "0 7 * * *" --celery-task proj.tasks.report '
        "--celery-app proj.celery:app -- 2024",
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
    celery_task: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Send this Celery task to the worker fleet."),
    ] = None,
    celery_app: Annotated[
        str | None,
        typer.Option(
            envvar="CRONWORK_CELERY_APP",
            metavar="PKG.MOD:APP",
            help="The Celery app of --celery-task [default: $CRONWORK_CELERY_APP]",
            show_default=False,
        ),
    ] = None,
    celery_queue: Annotated[
        str | None, typer.Option(metavar="QUEUE", help="The queue of --celery-task.")
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
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            metavar="URL",
            help="POST to this webhook when a run fails, times out, is missed or lost "
            "(repeatable).",
        ),
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a job with this id.")] = False,
    store: StoreOption = None,
) -> None:
    """Add a job to the store: a command after --, a function with --call, or a Celery task
    with --celery-task.

    A running scheduler on the same store picks it up within a second. --call imports the
    function now (from the current folder too), so a typo fails here; so does --celery-app,
    and a task name its app does not know.
    """
    import json

    from cronwork.targets import CeleryTask, Command

    args: tuple[Any, ...] = ()
    target: Any
    if celery_task is not None:
        from cronwork.cli.importpaths import append_user_folder

        if call is not None:
            raise typer.BadParameter("give --call or --celery-task, not both")
        if celery_app is None:
            raise typer.BadParameter("a Celery task needs --celery-app PKG.MOD:APP")
        append_user_folder(os.getcwd())
        target = CeleryTask(celery_task, app=celery_app, queue=celery_queue)
        args = tuple(command or ())
    elif call is not None:
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
        if call is None and celery_task is None:
            raise typer.BadParameter(
                "--kwargs applies to --call and --celery-task", param_hint="--kwargs"
            )
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
    sched = open_scheduler(store, "create")
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
            notify=tuple(notify or ()),
            **options,
        )
    except DuplicateJob:
        # The library's message names replace=True; here the flag is what to type.
        raise CronworkError(
            f"job {job_id!r} exists already; pass --replace to replace it"
        ) from None
    from cronwork.cli.render import when

    say(f"added {job.id}: {job.target.describe()} — next run {when(job.next_run_at)}")


@app.command(
    name="remove", epilog=examples("cronwork remove backup", "cronwork remove extract --force")
)
def remove(
    job_id: JobIdArgument,
    force: Annotated[
        bool, typer.Option("--force", help="Remove it even if other jobs depend on it.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Remove a job; its run history stays. A job others depend on needs --force."""
    open_scheduler(store, "existing").remove_job(job_id, force=force)
    say(f"removed {job_id}")


@app.command(epilog=examples("cronwork pause backup", 'cronwork pause backup --note "disk full"'))
def pause(
    job_id: JobIdArgument,
    store: StoreOption = None,
    note: Annotated[
        str | None, typer.Option(help="Why it is paused; shown until the job is resumed.")
    ] = None,
) -> None:
    """Pause a job: no new runs until resumed (a running one goes on)."""
    open_scheduler(store, "existing").pause_job(job_id, note=note)
    say(f"paused {job_id}" + (f": {note}" if note else ""))


@app.command(epilog=examples("cronwork resume backup"))
def resume(job_id: JobIdArgument, store: StoreOption = None) -> None:
    """Resume a paused job from its next slot after now."""
    open_scheduler(store, "existing").resume_job(job_id)
    say(f"resumed {job_id}")


@app.command(
    epilog=examples("cronwork trigger backup", "cronwork logs $(cronwork trigger -q backup)")
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
    sched = open_scheduler(store, "existing")
    run_, verdict = sched.operations.trigger_unless_overlapping(job_id)
    if quiet:
        sys.stdout.write(f"{run_.id}\n")
    if verdict.skipped:
        raise CronworkError(f"run {run_.id} of {job_id} skipped: {verdict.reason}")
    if not quiet:
        say(f"triggered {job_id}: run {run_.id}{', ' + verdict.reason if verdict.reason else ''}")


@app.command(epilog=examples("cronwork stop backup"))
def stop(job_id: JobIdArgument, store: StoreOption = None) -> None:
    """Cancel what is running (or waiting to run) of a job; its processes are killed."""
    cancelled = open_scheduler(store, "existing").stop(job_id)
    count = len(cancelled) if isinstance(cancelled, (list, tuple)) else int(cancelled or 0)
    if count:
        say(f"stopping {job_id}: {count} run{'s' if count != 1 else ''} cancelled")
    else:
        say(f"{job_id} has nothing running")
