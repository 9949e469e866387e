"""Celery jobs in job files: [scheduler] celery_app, celery_task, celery_queue and their errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("celery", reason="Celery jobs need cronwork[celery]")

from cronwork.jobfile import JobFileError, load_job_file, parse_job_file, sync_job_file
from cronwork.stores import SqliteStore
from cronwork.targets import CeleryTask

# A fleet's app as a scheduler beside it would import it: a result backend, and one task.
FLEET_APP = """\
from celery import Celery

app = Celery("fleet", broker="redis://127.0.0.1:6379/0", backend="redis://127.0.0.1:6379/0")
other = Celery("other", broker="redis://127.0.0.1:6379/0", backend="redis://127.0.0.1:6379/0")


@app.task(name="fleet.report", shared=False)
def report(month: str) -> str:
    return month
"""

TOML = """\
[scheduler]
celery_app = "jobfile_fleet:app"

[[jobs]]
id = "report"
schedule = "0 7 * * *"
celery_task = "fleet.report"
celery_queue = "reports"
args = ["2024-05"]
timeout = "10m"
retries = 2

[[jobs]]
id = "elsewhere"
schedule = "every 1h"
celery_task = "other.thing"
celery_app = "jobfile_fleet:other"
"""


@pytest.fixture
def fleet_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "jobfile_fleet.py").write_text(FLEET_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def problems(text: str, **options: bool) -> list[str]:
    with pytest.raises(JobFileError) as caught:
        parse_job_file(textwrap.dedent(text), name="jobs.toml", **options)
    return caught.value.problems


def test_a_celery_task_job_takes_the_schedulers_app_unless_it_names_its_own(
    fleet_app: Path,
) -> None:
    path = fleet_app / "jobs.toml"
    path.write_text(TOML)
    report, elsewhere = load_job_file(path, check_imports=True).jobs
    assert report.target.celery == CeleryTask(
        "fleet.report", app="jobfile_fleet:app", queue="reports"
    )
    assert report.args == ("2024-05",)
    assert report.retries == 2
    assert elsewhere.target.celery == CeleryTask("other.thing", app="jobfile_fleet:other")


def test_a_task_name_the_app_does_not_know_is_named_at_its_line(fleet_app: Path) -> None:
    text = TOML.replace('celery_task = "fleet.report"', 'celery_task = "fleet.reprot"')
    assert problems(text, check_imports=True) == [
        "jobs.toml:7: job \"report\": celery_task 'fleet.reprot' is not a task of Celery app "
        "'jobfile_fleet:app' (did you mean 'fleet.report'?); it knows fleet.report"
    ]


def test_an_app_that_does_not_import_is_named_with_the_scheduler_key_it_came_from() -> None:
    text = TOML.replace('"jobfile_fleet:app"', '"nosuchfleet:app"')
    [problem] = problems(text, check_imports=True)
    assert problem.startswith('jobs.toml:7: job "report": celery_app: cannot import module')
    assert problem.endswith("(celery_app of [scheduler])")


def test_a_celery_task_without_an_app_anywhere_is_refused() -> None:
    assert problems(
        """\
        [[jobs]]
        id = "report"
        schedule = "0 7 * * *"
        celery_task = "fleet.report"
        """
    ) == [
        'jobs.toml:4: job "report": celery_task "fleet.report" needs an app: set '
        'celery_app = "package.module:app" in [scheduler] or in the job'
    ]


@pytest.mark.parametrize(
    ("job", "problem"),
    [
        (
            'call = "json:dumps"\ncelery_queue = "q"',
            'jobs.toml:5: job "x": celery_queue applies to celery_task targets only',
        ),
        (
            'celery_task = "t"\ncelery_app = "jobfile_fleet"',
            'jobs.toml:5: job "x": celery_app "jobfile_fleet" is not an import path such as '
            '"package.module:app"',
        ),
        (
            'celery_task = "t"\ncelery_app = "a:b"\ncelery_queue = 3',
            'jobs.toml:6: job "x": celery_queue must be non-empty text, got a whole number',
        ),
        (
            'celery_task = "t"\ncall = "json:dumps"\ncelery_app = "a:b"',
            'jobs.toml:4: job "x": has both call and celery_task; give exactly one target',
        ),
    ],
)
def test_celery_keys_are_checked_like_every_key(job: str, problem: str) -> None:
    text = 'id = "x"\nschedule = "every 1h"\n' + job
    assert problems("[[jobs]]\n" + text + "\n") == [problem]


def test_the_same_file_synced_again_into_sqlite_changes_nothing(tmp_path: Path) -> None:
    # The stored form of a Celery job reads back equal to the file's.
    path = tmp_path / "jobs.toml"
    path.write_text(TOML)
    store = SqliteStore(tmp_path / "jobs.db")
    store.open()
    try:
        assert sync_job_file(store, load_job_file(path)).added == ["report", "elsewhere"]
        again = sync_job_file(store, load_job_file(path))
        assert again.unchanged == ["report", "elsewhere"]
        path.write_text(TOML.replace('celery_queue = "reports"', 'celery_queue = "monthly"'))
        changed = sync_job_file(store, load_job_file(path))
        assert changed.updated == ["report"]
        assert store.get_job("report").target.celery == CeleryTask(
            "fleet.report", app="jobfile_fleet:app", queue="monthly"
        )
    finally:
        store.close()
