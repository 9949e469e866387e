"""Celery jobs without a broker: CeleryTask targets through add_job, the add-time checks, the
executor they choose, and how stores keep them.

The app of these tests is celery_tasks:app (its broker is never reached here); the engine's
runs on a real worker are in test_celery_engine.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cronwork import CeleryTask, Scheduler, TargetError
from cronwork.errors import JobError
from cronwork.executors import default_executor_name
from cronwork.stores import SqliteStore

celery = pytest.importorskip("celery", reason="Celery jobs need cronwork[celery]")

sys.path.insert(0, str(Path(__file__).parent))
import celery_tasks  # noqa: E402

APP = "celery_tasks:app"
SRC = Path(__file__).parent.parent.parent / "src"


def test_a_celery_task_is_a_target_that_names_its_app_and_queue() -> None:
    with Scheduler() as scheduler:
        job = scheduler.add_job(
            "report",
            CeleryTask("cronwork_tests.add", app=APP, queue="reports"),
            "every 1h",
            args=[2, 3],
        )
    assert job.target.kind == "celery"
    assert job.target.celery == CeleryTask("cronwork_tests.add", app=APP, queue="reports")
    assert job.target.describe() == "celery task cronwork_tests.add (queue reports)"
    assert default_executor_name(job.target.celery) == "celery"


def test_a_task_naming_no_app_takes_the_schedulers() -> None:
    with Scheduler(celery_app=APP) as scheduler:
        job = scheduler.add_job("report", CeleryTask("cronwork_tests.add"), "every 1h")
    assert job.target.celery is not None
    assert job.target.celery.app == APP


def test_a_task_with_no_app_anywhere_is_refused_naming_the_ways_to_give_one() -> None:
    with Scheduler() as scheduler:
        with pytest.raises(TargetError, match="names no app") as caught:
            scheduler.add_job("report", CeleryTask("cronwork_tests.add"), "every 1h")
        assert scheduler.jobs() == []
    assert caught.value.field == "celery_app"


def test_a_task_name_the_app_does_not_know_is_refused_and_nothing_is_stored() -> None:
    with Scheduler(celery_app=APP) as scheduler:
        with pytest.raises(TargetError) as caught:
            scheduler.add_job("report", CeleryTask("cronwork_tests.ad"), "every 1h")
        assert scheduler.jobs() == []
    message = str(caught.value)
    assert message.startswith(
        "job 'report': celery_task 'cronwork_tests.ad' is not a task of Celery app "
        "'celery_tasks:app' (did you mean 'cronwork_tests.add'?); it knows "
    )
    assert (caught.value.field, caught.value.value) == ("celery_task", "cronwork_tests.ad")


def test_an_app_holding_only_configuration_cannot_check_names_and_accepts_them() -> None:
    # The scheduler may know the fleet's settings without the tasks' code. In a process of
    # its own: Celery shares the tasks of every module imported (here, celery_tasks) with
    # every app.
    program = """
import celery
from cronwork import CeleryTask, Scheduler
bare = celery.Celery("fleet", broker="memory://", backend="redis://127.0.0.1:6379/0")
with Scheduler(celery_app=bare) as scheduler:
    job = scheduler.add_job("report", CeleryTask("proj.tasks.report"), "every 1h")
print(job.target.describe())
"""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "celery task proj.tasks.report"


@pytest.mark.parametrize(
    ("app", "problem"),
    [
        ("no_such_module:app", "cannot import module 'no_such_module'"),
        ("json:dumps", "'json:dumps' is not a Celery app"),
        (celery.Celery("nobackend", broker="memory://"), "has no result backend"),
    ],
)
def test_an_app_that_cannot_serve_is_refused_at_add_time(app: Any, problem: str) -> None:
    with Scheduler() as scheduler:
        with pytest.raises(TargetError, match=problem) as caught:
            scheduler.add_job("report", CeleryTask("cronwork_tests.add", app=app), "every 1h")
        assert scheduler.jobs() == []
    assert caught.value.field == "celery_app"


def test_only_the_celery_executor_runs_a_celery_task_and_it_runs_nothing_else() -> None:
    with Scheduler(celery_app=APP) as scheduler:
        with pytest.raises(JobError, match="'thread' cannot run the Celery task"):
            scheduler.add_job("a", CeleryTask("cronwork_tests.add"), "every 1h", executor="thread")
        with pytest.raises(JobError, match="'celery' sends Celery tasks"):
            scheduler.add_job("b", "celery_tasks:add", "every 1h", executor="celery")
        job = scheduler.add_job(
            "c", CeleryTask("cronwork_tests.add"), "every 1h", executor="celery"
        )
    assert job.executor == "celery"


def test_a_stored_celery_job_reads_back_the_same_and_is_not_set_aside(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    scheduler = Scheduler(url, celery_app=APP)
    added = scheduler.add_job(
        "report", CeleryTask("cronwork_tests.add", queue="q1"), "every 1h", kwargs={"a": 1}
    )
    with scheduler:  # a start checks every stored target
        scheduler.idle()
    store = SqliteStore(str(tmp_path / "jobs.db"))
    store.open()
    try:
        stored = store.get_job("report")
    finally:
        store.close()
    assert stored.target == added.target
    assert stored.target.celery == CeleryTask("cronwork_tests.add", app=APP, queue="q1")
    # The engine's check of stored targets (at start) does not take it for an unknown task.
    assert stored.broken is None


def test_a_persistent_store_refuses_an_app_object_asking_for_its_import_path(
    tmp_path: Path,
) -> None:
    with Scheduler(f"sqlite:///{tmp_path / 'jobs.db'}") as scheduler:
        with pytest.raises(TargetError, match="give its import path"):
            scheduler.add_job(
                "report", CeleryTask("cronwork_tests.add", app=celery_tasks.app), "every 1h"
            )
        assert scheduler.jobs() == []


INCLUDING_APP = """\
from celery import Celery

app = Celery("incl", broker="memory://", backend="redis://127.0.0.1:6379/0", include=[{module!r}])
"""
INCLUDED_TASKS = """\
from {app_module} import app


@app.task(name="incl.report", shared=False)
def report() -> None:
    pass
"""


@pytest.mark.parametrize(("name", "refused"), [("incl.report", False), ("incl.reprot", True)])
def test_the_task_modules_an_app_includes_are_imported_for_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, refused: bool
) -> None:
    # As a worker does at start: the app's module names its task modules, never imports them.
    tag = "refused" if refused else "known"
    app_module, tasks_module = f"incl_app_{tag}", f"incl_tasks_{tag}"
    (tmp_path / f"{app_module}.py").write_text(INCLUDING_APP.format(module=tasks_module))
    (tmp_path / f"{tasks_module}.py").write_text(INCLUDED_TASKS.format(app_module=app_module))
    monkeypatch.syspath_prepend(str(tmp_path))
    with Scheduler(celery_app=f"{app_module}:app") as scheduler:
        if refused:
            with pytest.raises(TargetError, match=r"it knows incl\.report$"):
                scheduler.add_job("report", CeleryTask(name), "every 1h")
        else:
            scheduler.add_job("report", CeleryTask(name), "every 1h")


def test_an_app_whose_task_modules_are_not_here_cannot_check_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "incl_app_away.py").write_text(INCLUDING_APP.format(module="not_on_this_host"))
    monkeypatch.syspath_prepend(str(tmp_path))
    with Scheduler(celery_app="incl_app_away:app") as scheduler:
        job = scheduler.add_job("report", CeleryTask("incl.anything"), "every 1h")
    assert job.target.ref == "incl.anything"
