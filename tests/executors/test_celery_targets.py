"""CeleryTask and CeleryExecutor's checks that need no broker: targets, apps, the extra."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from cronwork.errors import TargetError
from cronwork.executors.celery import CeleryExecutor, CeleryTask
from cronwork.executors.celeryapp import MISSING_EXTRA, check_app, import_app, render_result

celery = pytest.importorskip("celery", reason="needs cronwork[celery]")


def app(**conf: Any) -> Any:
    return celery.Celery("t", broker="memory://", **conf)


def test_a_missing_extra_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "celery", None)
    with pytest.raises(TargetError) as caught:
        CeleryExecutor()
    assert str(caught.value) == "the Celery executor needs celery: pip install 'cronwork[celery]'"
    assert str(caught.value) == MISSING_EXTRA


def test_a_task_needs_a_name_and_an_app_or_its_path() -> None:
    with pytest.raises(TargetError, match="needs a task name"):
        CeleryTask("  ")
    with pytest.raises(TargetError, match="must be a Celery app or its import path"):
        CeleryTask("proj.tasks.report", app=42)
    assert CeleryTask("proj.tasks.report", app="proj.celery:app").queue is None


def test_an_app_path_must_name_a_celery_app() -> None:
    with pytest.raises(TargetError, match="not an import path"):
        import_app("proj.celery")
    with pytest.raises(TargetError, match="cannot import module 'no_such_mod'"):
        import_app("no_such_mod:app")
    with pytest.raises(TargetError, match="'json:dumps' is not a Celery app"):
        import_app("json:dumps")


def test_an_app_without_a_shared_result_backend_is_refused() -> None:
    with pytest.raises(TargetError, match="has no result backend"):
        check_app(app())
    with pytest.raises(TargetError, match=r"rpc:// result backend"):
        check_app(app(backend="rpc://"))
    check_app(app(backend="redis://127.0.0.1:6379/0"))


def test_a_task_naming_no_app_needs_the_executors() -> None:
    with pytest.raises(TargetError, match="names no app and the executor has none"):
        CeleryExecutor().resolve_app(CeleryTask("proj.tasks.report"))


def test_results_are_json_or_repr_and_bounded() -> None:
    assert render_result({"rows": 3}, 100) == '{"rows": 3}'
    assert render_result({1, 2}, 100) == "{1, 2}"
    assert render_result("x" * 50, 10) == '"xxxxxxxxx\n... (42 more characters not kept)'
