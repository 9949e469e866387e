"""Routes outside ``/api/v1`` for monitors: ``/healthz`` (no token needed).

The ``/metrics`` endpoint of the metrics feature belongs beside it, in this router.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from cronwork.web.service import service_of
from cronwork.web.shapes import Health

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
