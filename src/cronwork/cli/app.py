"""The ``cronwork`` command's Typer app and what its commands share: the store options, the
opening of a store and of an unstarted scheduler, and the printing of one line.

Only Typer is imported here, so ``cronwork --help`` stays fast (see cronwork.cli).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

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


def complete_job_id(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of job ids from the store the command line names."""
    try:
        opened = open_store_at(store_url(ctx.params.get("store")), "read")
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
# The options of the commands that run a scheduler (`run` and `serve`).
JobFileArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="FILE",
        help="Job file (.toml, .yaml); its jobs are synced into the store first.",
        show_default=False,
    ),
]
LogFormatOption = Annotated[
    str, typer.Option("--log-format", metavar="human|json", help="Log line format.")
]
LogLevelOption = Annotated[
    str | None,
    typer.Option(
        "--log-level",
        metavar="LEVEL",
        help="debug, info, warning or error [default: the file's, else info]",
        show_default=False,
    ),
]
MaxRunningOption = Annotated[
    int | None,
    typer.Option(
        "--max-running",
        min=1,
        metavar="N",
        help="Runs at once [default: the file's, else 10]",
        show_default=False,
    ),
]
ForceSyncOption = Annotated[
    bool,
    typer.Option("--force", help="Sync even if it removes jobs that other jobs depend on."),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print JSON with the field names of the Python API."),
]
JobIdArgument = Annotated[
    str,
    typer.Argument(metavar="ID", help="The job id.", autocompletion=complete_job_id),
]


def store_url(store: str | None, file_store: str | None = None) -> str:
    """The store to use: --store (or $CRONWORK_STORE), then the job file's, then the default."""
    return store or file_store or DEFAULT_STORE


def open_store_at(url: str, access: Access) -> Store:
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


def open_scheduler(store: str | None, access: Access) -> Scheduler:
    """A scheduler that is not started: management calls go straight to the store."""
    from cronwork.scheduler import Scheduler

    opened = open_store_at(store_url(store), access)
    opened_stores.append(opened)
    return Scheduler(opened)


# Stores the commands opened, closed by main() however the command ends.
opened_stores: list[Store] = []


def examples(*lines: str) -> str:
    """The epilog of a command: its example lines, kept as written."""
    # \b keeps Click from re-wrapping the example lines into one paragraph.
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def say(message: str) -> None:
    """Print one line, as is (no Rich markup)."""
    from cronwork.cli.render import console

    console().print(message, markup=False)
