"""``create_app``: the ASGI app of ``cronwork serve``, also for mounting in your own server.

The app is a face like the CLI: its routes call the same operations and the same job-file
checker. It is assembled here from its parts: the API (``api``), the login page and ``/``
(``login``), the security headers (``security``) and the live events (``events``). Pages
of a dashboard are routers added the same way, beside the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from cronwork.clock import SystemClock
from cronwork.errors import (
    CronworkError,
    DuplicateJob,
    JobError,
    JobNotFound,
    RunNotFound,
    ScheduleError,
    StoreError,
)
from cronwork.metrics import Metrics
from cronwork.operations import Operations
from cronwork.stores import Store
from cronwork.web import api, health, login, pages
from cronwork.web.auth import Tokens
from cronwork.web.events import EventHub, StorePoller
from cronwork.web.security import SecurityHeaders
from cronwork.web.service import Service

if TYPE_CHECKING:
    from cronwork.scheduler import Scheduler

logger = logging.getLogger("cronwork.web")

# Seconds /metrics reuses the gauges it read from the store (see _service).
METRICS_CACHE = 1.0


def create_app(
    source: Scheduler | Store,
    *,
    token: str | None = None,
    read_token: str | None = None,
    allow_commands: bool = False,
    poll_interval: float = 1.0,
) -> FastAPI:
    """The app serving ``source``: a Scheduler (its engine runs here) or a Store alone.

    With no ``token`` (and no ``read_token``) anyone who reaches the app may do anything, so
    it answers only to loopback host names; ``read_token`` may read but not change anything;
    ``allow_commands`` lets callers create and change command jobs.
    """
    if read_token is not None and token is None:
        raise CronworkError("a read-only token needs a token for writing beside it")
    tokens = Tokens(write=token, read=read_token)
    service = _service(source, tokens, allow_commands, poll_interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.hub.loop = asyncio.get_running_loop()
        poller = None
        if service.poller is not None:
            poller = asyncio.create_task(service.poller.run(), name="cronwork-event-poller")
        try:
            yield
        finally:
            service.hub.close()
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller

    app = FastAPI(
        title="cronwork",
        version=_version(),
        summary="Jobs, runs and live events of a cronwork scheduler.",
        lifespan=lifespan,
        # The interactive docs pages load their assets from a CDN: no request leaves here.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.service = service
    # The route table: the API, the monitors' routes (/healthz, /metrics), the login page
    # and `/`.
    app.include_router(api.router)
    app.include_router(health.router)
    pages.install(app)  # the dashboard's pages, before the plain page at / they replace
    app.include_router(login.router)
    _add_error_handlers(app)
    app.add_middleware(SecurityHeaders, loopback_only=tokens.open)
    return app


def _service(
    source: Scheduler | Store, tokens: Tokens, allow_commands: bool, poll_interval: float
) -> Service:
    operations: Operations | None = getattr(source, "operations", None)
    if operations is not None:
        scheduler: Any = source

        def attach(hub: EventHub) -> Callable[[], None]:
            remove: Callable[[], None] = scheduler.on("*", hub.publish)
            return remove

        # The store's gauges are reused for a second: scrapes come every 15 s or so, and a
        # burst of them must not queue behind the scheduler's writes for the store's lock.
        metrics = Metrics(operations.store, cache_for=METRICS_CACHE)
        metrics.attach(scheduler.listeners)
        return Service(
            operations=operations,
            tokens=tokens,
            allow_commands=allow_commands,
            scheduler=scheduler,
            hub=EventHub(attach),
            metrics=metrics,
        )
    if not isinstance(source, Store):
        raise CronworkError(
            f"create_app serves a Scheduler or a Store, got {type(source).__name__}"
        )
    hub = EventHub()
    return Service(
        operations=Operations(source, SystemClock()),
        tokens=tokens,
        allow_commands=allow_commands,
        hub=hub,
        poller=StorePoller(source, hub, poll_interval),
        metrics=Metrics(source, cache_for=METRICS_CACHE),
    )


def _version() -> str:
    from cronwork import __version__

    return str(__version__)


def _answer(status: int, message: str, field: str | None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"error": ..., "field": ...}`` with the status of its kind."""

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        detail: Any = exc.detail
        if isinstance(detail, dict):
            answer = _answer(exc.status_code, str(detail.get("error")), detail.get("field"))
        else:
            answer = _answer(exc.status_code, str(detail), None)
        for name, value in (exc.headers or {}).items():
            answer.headers[name] = value
        return answer

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = [str(part) for part in first.get("loc", ()) if part not in ("query", "path")]
        field = where[-1] if where else None
        message = str(first.get("msg", "invalid request"))
        return _answer(422, f"{field}: {message}" if field else message, field)

    async def cronwork_error(request: Request, exc: Exception) -> JSONResponse:
        field = getattr(exc, "field", None)
        if isinstance(exc, (JobNotFound, RunNotFound)):
            return _answer(404, str(exc), None)
        if isinstance(exc, DuplicateJob):
            return _answer(409, str(exc), "id")
        if isinstance(exc, (JobError, ScheduleError)):
            return _answer(422, str(exc), field)
        if isinstance(exc, StoreError):
            logger.error("store error on %s %s: %s", request.method, request.url.path, exc)
            return _answer(503, f"the store cannot be used: {exc}", None)
        return _answer(422, str(exc), field)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(CronworkError, cronwork_error)
