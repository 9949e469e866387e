"""What the web app serves: the operations, the store, the access rules and the events.

One ``Service`` per app, kept on ``app.state.service``; routes reach it through
``service_of(request)``. It is built from a scheduler (the engine runs in this process, its
events come from the engine) or from a store alone (an API node: events come from polling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from cronwork.operations import Operations
from cronwork.stores import Store
from cronwork.web.auth import Tokens
from cronwork.web.events import EventHub, StorePoller

if TYPE_CHECKING:
    from cronwork.metrics import Metrics
    from cronwork.scheduler import Scheduler


@dataclass
class Service:
    """The app's collaborators and settings."""

    operations: Operations
    tokens: Tokens
    allow_commands: bool = False
    scheduler: Scheduler | None = None
    hub: EventHub = field(default_factory=EventHub)
    poller: StorePoller | None = None
    # The Prometheus metrics of GET /metrics: counted from the scheduler's events when one
    # runs here, the store's gauges in any case (see cronwork.metrics).
    metrics: Metrics | None = None

    @property
    def store(self) -> Store:
        """The store every route reads and writes."""
        return self.operations.store

    @property
    def zone(self) -> str | None:
        """The default time zone of new jobs and previews (None: this machine's)."""
        zone: Any = self.operations.timezone
        return None if zone is None else str(getattr(zone, "key", zone))

    def scheduler_state(self) -> str:
        """``running``, ``stopped``, or ``none`` on a server without a scheduler."""
        if self.scheduler is None:
            return "none"
        return "running" if self.scheduler.running else "stopped"

    def trusted_celery_apps(self) -> set[str]:
        """Celery apps (import paths) that stored jobs send tasks through, and the
        scheduler's own: the ones HTTP may name without --allow-commands."""
        apps = {
            job.target.celery.app_path
            for job in self.store.jobs()
            if job.target.celery is not None and job.target.celery.app_path is not None
        }
        default = self.operations.celery_app
        if isinstance(default, str):
            apps.add(default)
        return apps

    def trusted_modules(self) -> set[str]:
        """Modules whose functions stored jobs call by import path: the ones HTTP may name
        without --allow-commands."""
        return {ref.partition(":")[0] for kind, ref in self.store.named_targets() if kind == "call"}


def service_of(request: Request) -> Service:
    """The service of the app that received ``request``."""
    service: Service = request.app.state.service
    return service
