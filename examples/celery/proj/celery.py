"""The example fleet's Celery app, configured as cronwork needs (docs/celery.md).

The broker and the result backend come from the environment (compose.yaml sets them), so the
workers and the cronwork schedulers share one configuration.
"""

from __future__ import annotations

import os

from celery import Celery

BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
BACKEND = os.environ.get("CELERY_RESULT_BACKEND", BROKER)

app = Celery("proj", broker=BROKER, backend=BACKEND, include=["proj.tasks"])
app.conf.update(
    # cronwork tells a queued task from a running one, and a dead worker, by this.
    task_track_started=True,
    # A task waits in the broker, not in a busy worker's buffer, while its expiry runs.
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)
