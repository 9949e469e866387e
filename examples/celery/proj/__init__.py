"""The example fleet's code: a Celery app and its tasks (what a team's workers already run)."""
