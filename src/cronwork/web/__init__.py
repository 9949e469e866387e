"""The web face: ``create_app(scheduler_or_store)``, the ASGI app of ``cronwork serve``.

Needs the ``web`` extra (``pip install 'cronwork[web]'``): FastAPI and uvicorn are not
installed with cronwork itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cronwork.errors import CronworkError

if TYPE_CHECKING:
    from cronwork.web.app import create_app

__all__ = ["WEB_EXTRA_MISSING", "create_app", "web_available"]

WEB_EXTRA_MISSING = (
    "the web server needs the web extra: pip install 'cronwork[web]' (FastAPI and uvicorn)"
)


def web_available() -> bool:
    """True when the ``web`` extra's packages can be imported."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


def __getattr__(name: str) -> Any:
    if name == "create_app":
        if not web_available():
            raise CronworkError(WEB_EXTRA_MISSING)
        from cronwork.web.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
