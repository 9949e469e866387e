"""Routes outside ``/api/v1`` for monitors: ``/healthz`` (no token needed) and ``/metrics``
(Prometheus' text format, read with the token like the API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from cronwork.web.api import Reads
from cronwork.web.service import service_of
from cronwork.web.shapes import Health, Problem

router = APIRouter()


@router.get(
    "/healthz",
    response_model=Health,
    tags=["service"],
    responses={503: {"model": Health, "description": "the store cannot be read"}},
)
def healthz(request: Request, response: Response) -> dict[str, Any]:
    """Whether the scheduler runs and the store answers; needs no token."""
    from cronwork import __version__

    svc = service_of(request)
    try:
        svc.store.next_wakeup()
        store = "ok"
    except Exception as exc:  # the answer is the report: any failure means unavailable
        store = f"unavailable: {type(exc).__name__}"
    scheduler = svc.scheduler_state()
    healthy = store == "ok" and scheduler in ("running", "none")
    if not healthy:
        response.status_code = 503
    return {
        "status": "ok" if healthy else "failing",
        "scheduler": scheduler,
        "store": store,
        "version": __version__,
    }


@router.get(
    "/metrics",
    tags=["service"],
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "the metrics"},
        401: {"model": Problem, "description": "no token, or a wrong one"},
    },
)
def metrics(request: Request, caller: Reads) -> Response:
    """Prometheus metrics of the scheduler and its store (docs/metrics.md)."""
    found = service_of(request).metrics
    if found is None:  # pragma: no cover - create_app always sets them
        return Response(status_code=404)
    body, content_type = found.render()
    return Response(body, media_type=content_type)
