"""``cronwork serve``: the scheduler and the HTTP API in one process.

The scheduler runs as under ``cronwork run`` (job file synced, events logged, the first
SIGTERM waits for running jobs); uvicorn serves ``cronwork.web.create_app`` on the main
thread. ``--no-scheduler`` serves the store alone, for API nodes apart from scheduler nodes.
Only Typer is imported until the command runs.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    open_store_at,
    store_url,
)

if TYPE_CHECKING:
    from cronwork.cli.foreground import Signals
    from cronwork.scheduler import Scheduler

TOKEN_ENV = "CRONWORK_TOKEN"
READ_TOKEN_ENV = "CRONWORK_READ_TOKEN"


def default_base_url(host: str, port: int) -> str | None:
    """``http://host:port`` when people can open that; None for a wildcard host or port 0."""
    bare = host.strip().strip("[]")
    if port == 0 or bare in ("", "0.0.0.0", "::"):
        return None
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _usage_error(message: str) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(2)


def serve(
    file: JobFileArgument = None,
    store: StoreOption = None,
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="PORT", help="Port (0: any free one).")
    ] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            envvar=TOKEN_ENV,
            metavar="TOKEN",
            show_default=False,
            help=f"Token of callers who may change things [default: ${TOKEN_ENV}]; "
            "needed for any address but loopback.",
        ),
    ] = None,
    read_token: Annotated[
        str | None,
        typer.Option(
            envvar=READ_TOKEN_ENV,
            metavar="TOKEN",
            show_default=False,
            help=f"Token of callers who may only read [default: ${READ_TOKEN_ENV}].",
        ),
    ] = None,
    allow_commands: Annotated[
        bool,
        typer.Option(
            "--allow-commands",
            help="Let callers create and change command jobs, and call any import path.",
        ),
    ] = False,
    no_scheduler: Annotated[
        bool,
        typer.Option(
            "--no-scheduler", help="Serve the store only; schedulers run in other processes."
        ),
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            show_default=False,
            help="The address people open, for links in notifications "
            "[default: http://HOST:PORT unless HOST is a wildcard or PORT is 0]",
        ),
    ] = None,
    log_format: LogFormatOption = "human",
    log_level: LogLevelOption = None,
    max_running: MaxRunningOption = None,
    force: ForceSyncOption = False,
) -> None:
    """Run the scheduler and serve the REST API (and its events) until SIGINT or SIGTERM.

    Prints the URL once it listens. Without a token only a loopback address is served;
    browsers log in at /login with the token. /healthz needs no token.
    """
    from cronwork.web import WEB_EXTRA_MISSING, web_available

    if not web_available():
        raise _usage_error(f"cronwork serve: {WEB_EXTRA_MISSING}")
    if log_format not in ("human", "json"):
        raise typer.BadParameter("use human or json", param_hint="--log-format")
    if log_level is not None and log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("use debug, info, warning or error", param_hint="--log-level")
    token = token or None
    read_token = read_token or None
    if token is None and not is_loopback(host):
        raise _usage_error(
            f"--host {host} is not a loopback address: set --token (or ${TOKEN_ENV}) "
            "before serving other machines"
        )
    if read_token is not None and token is None:
        raise _usage_error("--read-token needs --token (the token that may change things)")
    code = _serve(
        file,
        store=store,
        host=host,
        port=port,
        options={"token": token, "read_token": read_token, "allow_commands": allow_commands},
        no_scheduler=no_scheduler,
        base_url=base_url or default_base_url(host, port),
        log_format=log_format,
        log_level=log_level.lower() if log_level else None,
        max_running=max_running,
        force=force,
    )
    raise typer.Exit(code)


def _serve(
    file: Path | None,
    *,
    store: str | None,
    host: str,
    port: int,
    options: dict[str, Any],
    no_scheduler: bool,
    base_url: str | None,
    log_format: str,
    log_level: str | None,
    max_running: int | None,
    force: bool,
) -> int:
    from cronwork.cli import foreground
    from cronwork.web import create_app

    scheduler: Scheduler | None = None
    if no_scheduler:
        job_file, settings = foreground.load_file(file, log_format=log_format, log_level=log_level)
        opened = open_store_at(store_url(store, settings.store), "create")
        foreground.sync_file(opened, job_file, force=force)
        app = create_app(opened, **options)
    else:
        scheduler = foreground.open_scheduler(
            file,
            store=store,
            default_store=DEFAULT_STORE,
            log_format=log_format,
            log_level=log_level,
            max_running=max_running,
            force=force,
            base_url=base_url,
        )
        opened = scheduler.store
        app = create_app(scheduler, **options)
    signals = foreground.Signals()
    signals.install()
    try:
        served = _run_server(app, host, port, scheduler, signals)
        if scheduler is None or not scheduler.running:
            return 0 if served else 1
        return foreground.shut_down(scheduler, signals)
    finally:
        if scheduler is not None and scheduler.running:
            scheduler.close()
        if scheduler is None:
            opened.close()


# How many requests do their store work at once (the API's plain routes run on threads).
# Their work is Python under one interpreter lock, shared with the scheduler: taken a few at
# a time, each request ends sooner than when all go on together, while a store call that
# waits on its database still leaves the others a thread. Four callers of the jobs list, with
# the scheduler running 1,000 runs/s: p99 59 ms with every request on a thread of its own,
# 50 ms two at a time (benchmarks/api.py). The process is this command's own, so it may set
# this for every route; an app mounted elsewhere keeps its server's setting.
REQUEST_THREADS = 2


def _take_turns() -> None:
    """Let REQUEST_THREADS requests at most do their store work at once."""
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS


def _run_server(
    app: Any, host: str, port: int, scheduler: Scheduler | None, signals: Signals
) -> bool:
    """Serve ``app`` until a signal; start ``scheduler`` once listening. False if it never
    listened (the port was taken)."""
    import uvicorn

    from cronwork.cli import foreground

    class Server(uvicorn.Server):
        """uvicorn's server, starting the scheduler once it listens and saying where."""

        async def startup(self, sockets: Any = None) -> None:
            _take_turns()
            await super().startup(sockets)
            if not self.started:
                return
            if signals.count:
                # Signalled while starting, before uvicorn listened for signals: stop now.
                self.should_exit = True
                return
            if scheduler is not None:
                foreground.started(scheduler)
            bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else port
            shown = f"[{host}]" if ":" in host else host
            foreground.log(logging.INFO, f"serving http://{shown}:{bound}/")

        def handle_exit(self, sig: int, frame: Any) -> None:
            # Live event streams never end by themselves: end them so the server can stop.
            hub = app.state.service.hub
            if hub.loop is not None and not hub.loop.is_closed():
                hub.loop.call_soon_threadsafe(hub.close)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,  # request lines are not logged: nothing of a request leaks there
        server_header=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    server = Server(config)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind
        return False
    return server.started


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``cronwork`` command."""
    app.command(
        epilog=examples(
            "cronwork serve examples/jobs.toml            # http://127.0.0.1:8080/",
            "CRONWORK_TOKEN=s3cret cronwork serve jobs.toml --host 0.0.0.0",
            "cronwork serve --no-scheduler --store postgresql://db/cron --token ...",
        )
    )(serve)


register(app)
