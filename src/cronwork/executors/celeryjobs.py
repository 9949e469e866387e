"""Celery jobs at add time: the app a job's `CeleryTask` runs on, and what can be checked
before its first run.

A job's task names its app, or takes the scheduler's ``celery_app`` when it is added, so a
stored job says by itself where it runs. The checks import the app, as the executor will:
it must have a result backend cronwork can follow, and, when the app registers tasks of its
own (its task modules, those of ``include`` and ``imports`` too, import where the scheduler
runs), the task's name must be one of them. An app holding only the fleet's configuration
registers none, and then the name is checked by the workers at the first run (the run fails
with ``NotRegistered``).
"""

from __future__ import annotations

import difflib
from typing import Any

from cronwork.errors import TargetError
from cronwork.targets import CeleryTask

#: The field that errors about the app and the task name point at (the job-file keys).
APP_FIELD = "celery_app"
TASK_FIELD = "celery_task"


def with_app(task: CeleryTask, default_app: Any, job_id: str) -> CeleryTask:
    """``task`` with ``default_app`` when it names none; TargetError when neither gives one."""
    if task.app is not None:
        return task
    if default_app is None:
        raise TargetError(
            f"job {job_id!r}: Celery task {task.name!r} names no app: give "
            "CeleryTask(app='package.module:app'), Scheduler(celery_app=...), or "
            'celery_app = "package.module:app" in the job file',
            job_id=job_id,
            field=APP_FIELD,
            value=None,
        )
    return CeleryTask(task.name, app=default_app, queue=task.queue)


def check_task(task: CeleryTask, job_id: str) -> None:
    """Raise TargetError unless ``task``'s app imports, can be followed and knows the task."""
    from cronwork.executors.celeryapp import check_app, import_app

    where = f"job {job_id!r}"
    try:
        app = import_app(task.app) if isinstance(task.app, str) else task.app
        check_app(app)
    except TargetError as exc:
        raise TargetError(
            f"{where}: celery_app: {exc}", job_id=job_id, field=APP_FIELD, value=task.app
        ) from None
    try:
        # The modules of the app's `include` and `imports`, as a worker imports them at start.
        app.loader.import_default_modules()
    except ImportError:
        return  # the fleet's configuration without its tasks' code: nothing to check against
    except Exception as exc:
        raise TargetError(
            f"{where}: celery_app {_app_name(task)}: cannot import its task modules: "
            f"{type(exc).__name__}: {exc}",
            job_id=job_id,
            field=APP_FIELD,
            value=task.app,
        ) from None
    try:
        registered = set(app.tasks.keys())
    except Exception as exc:  # finalizing the app runs its task decorators
        raise TargetError(
            f"{where}: celery_app {_app_name(task)}: cannot load its tasks: "
            f"{type(exc).__name__}: {exc}",
            job_id=job_id,
            field=APP_FIELD,
            value=task.app,
        ) from None
    own = sorted(name for name in registered if not name.startswith("celery."))
    if not own or task.name in registered:
        return
    close = difflib.get_close_matches(task.name, own, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = ", ".join(own[:10]) + (", ..." if len(own) > 10 else "")
    raise TargetError(
        f"{where}: celery_task {task.name!r} is not a task of Celery app "
        f"{_app_name(task)}{hint}; it knows {known}",
        job_id=job_id,
        field=TASK_FIELD,
        value=task.name,
    )


def _app_name(task: CeleryTask) -> str:
    return repr(task.app) if isinstance(task.app, str) else repr(str(task.app.main))
