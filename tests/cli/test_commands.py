"""The cronwork command in-process: help, next, validate, management, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from cronwork.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_every_command_has_help_with_examples(cli) -> None:  # type: ignore[no-untyped-def]
    assert set(COMMANDS) == {
        "add", "backfill", "history", "list", "logs", "next", "pause", "remove", "resume", "run",
        "serve", "show", "stop", "trigger", "validate",
    }  # fmt: skip
    for name in COMMANDS:
        result = cli(name, "--help")
        assert result.code == 0, name
        assert "Examples:" in result.out, name
        assert f"cronwork {name}" in result.out, name


def test_top_level_help_lists_commands_and_completion(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--help")
    assert result.code == 0
    assert "--install-completion" in result.out
    for name in COMMANDS:
        assert name in result.out


def test_store_option_everywhere_but_next(cli) -> None:  # type: ignore[no-untyped-def]
    for name in COMMANDS:
        help_text = cli(name, "--help").out
        assert ("--store" in help_text) == (name != "next"), name


def test_usage_errors_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("frobnicate").code == 2
    assert cli("add").code == 2
    assert cli("history", "--limit", "zero").code == 2
    assert cli("run", "--log-format", "xml").code == 2


def test_next_prints_description_and_fire_times(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("next", "0 9 * * 1-5", "-n", "3", "--tz", "Europe/Berlin")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "At 09:00, Monday through Friday  (Europe/Berlin)"
    assert len(lines) == 4
    assert all(" 09:00 CE" in line for line in lines[1:])


def test_next_with_a_bad_expression_is_one_line_exit_1(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("next", "0 9 * * 99")
    assert result.code == 1
    assert result.out == ""
    assert result.err == 'error: day-of-week 99 out of range 0-7 (column 9 of "0 9 * * 99")\n'


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD = """\
[[jobs]]
id = "hello"
schedule = "every 10s"
command = ["echo", "hi"]

[[jobs]]
id = "later"
schedule = "0 3 * * *"
call = "json:dumps"
args = [1]
depends_on = "hello"
"""


def test_validate_prints_next_three_fire_times(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("validate", str(write(tmp_path / "jobs.toml", GOOD)))
    assert result.code == 0, result.err
    assert "hello" in result.out
    assert "At 03:00" in result.out
    assert result.out.count(" (in ") == 6
    assert result.out.rstrip().endswith("jobs.toml: 2 jobs")
    assert not (tmp_path / "test.db").exists()


def test_validate_reports_every_problem_one_per_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "jobs.toml", GOOD.replace('"every 10s"', '"every soon"') + "oops = 1\n")
    result = cli("validate", str(path))
    assert result.code == 1
    lines = result.err.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"error: {path}:") for line in lines)
    assert "Traceback" not in result.err


def test_validate_imports_call_targets(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "mytasks.py", "def ok():\n    return 1\n")
    text = '[[jobs]]\nid = "x"\nschedule = "every 1h"\ncall = "mytasks:ko"\n'
    result = cli("validate", str(write(tmp_path / "jobs.toml", text)))
    assert result.code == 1
    assert "module 'mytasks' has no attribute 'ko'" in result.err
    result = cli("validate", str(write(tmp_path / "jobs.toml", text.replace(":ko", ":ok"))))
    assert result.code == 0, result.err


def test_validate_with_a_store_shows_what_run_would_change(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "jobs.toml", GOOD)
    result = cli("validate", str(path), "--store", "sqlite:///test.db")
    assert "2 added, 0 updated, 0 unchanged, 0 removed" in result.out


def test_add_list_show_pause_resume_remove(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("add", "backup", "0 3 * * *", "--timeout", "30m", "--retries", "2", "--",
                 "pg_dump", "-Fc", "my db")  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.startswith("added backup: pg_dump -Fc 'my db'")
    assert cli("add", "hello", "every 1h", "--call", "json:dumps", "--", "x").code == 0

    listed = json.loads(cli("list", "--json").out)
    assert [job["id"] for job in listed] == ["backup", "hello"]
    backup = listed[0]
    assert backup["target"]["argv"] == ["pg_dump", "-Fc", "my db"]
    assert backup["timeout"] == 1800.0
    assert backup["retries"] == 2
    assert backup["paused"] is False
    assert backup["schedule"] == "0 3 * * *"
    assert listed[1]["args"] == ["x"]

    table = cli("list").out.splitlines()
    assert table[0].split() == ["ID", "SCHEDULE", "NEXT", "RUN", "LAST", "STATUS", "PAUSED",
                                "TARGET"]  # fmt: skip
    assert table[1].startswith("backup")

    assert cli("pause", "backup").out == "paused backup\n"
    assert json.loads(cli("show", "backup", "--json").out)["paused"] is True
    assert cli("pause", "backup", "--note", "disk full").out == "paused backup: disk full\n"
    assert json.loads(cli("show", "backup", "--json").out)["pause_note"] == "disk full"
    assert "yes: disk full" in cli("show", "backup").out
    assert "yes" in cli("list").out.splitlines()[1]
    assert cli("resume", "backup").code == 0
    shown = cli("show", "backup").out
    assert "At 03:00" in shown and "upcoming" in shown

    assert cli("remove", "backup").code == 0
    assert [job["id"] for job in json.loads(cli("list", "--json").out)] == ["hello"]


def test_trigger_records_a_manual_run(cli) -> None:  # type: ignore[no-untyped-def]
    cli("add", "hello", "every 1h", "--", "echo", "hi")
    run_id = cli("trigger", "-q", "hello").out.strip()
    runs = json.loads(cli("history", "hello", "--json").out)
    assert [(r["id"], r["trigger"], r["status"]) for r in runs] == [(run_id, "manual", "scheduled")]
    assert "no output yet" in cli("logs", run_id).err


@pytest.mark.parametrize(
    "args",
    [
        ("show", "nope"),
        ("remove", "nope"),
        ("pause", "nope"),
        ("resume", "nope"),
        ("trigger", "nope"),
        ("stop", "nope"),
        ("history", "nope"),
        ("logs", "12345"),
    ],
)
def test_unknown_ids_are_one_line_exit_1(cli, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.code == 1
    assert result.err.startswith("error: ")
    assert result.err.count("\n") == 1


def test_bad_input_to_add_changes_nothing(cli) -> None:  # type: ignore[no-untyped-def]
    cli("add", "keep", "every 1h", "--", "true")
    before = cli("list", "--json").out
    for args in [
        ("add", "x", "every soon", "--", "true"),
        ("add", "x", "0 3 * * *", "--timeout", "soon", "--", "true"),
        ("add", "x", "0 3 * * *", "--call", "json:nope"),
        ("add", "x", "0 3 * * *", "--tz", "Mars/Base", "--", "true"),
        ("add", "keep", "every 1h", "--", "true"),
    ]:
        result = cli(*args)
        assert result.code == 1, args
        assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
    assert cli("add", "x", "0 3 * * *").code == 2  # nothing to run
    assert cli("list", "--json").out == before


def test_a_bad_store_url_is_a_user_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("list", "--store", "mysql://nope")
    assert result.code == 1
    assert result.err.startswith("error: unknown store URL")


def test_history_status_filter_is_checked(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("history", "--status", "nope").code == 2
    cli("add", "keep", "every 1h", "--", "true")
    assert cli("history", "--status", "failed").out == "no runs yet\n"


def test_add_refuses_what_the_validator_refuses_naming_job_and_field(cli) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (("--retries", "99999999999999999999999"), "retries"),
        (("--retries", "1001"), "at most 1000"),
        (("--timeout", "999999999d"), "timeout 999999999d is too long"),
        (("--retry-backoff", "99999999d"), "retry_backoff"),
        (("--tag", ""), "tags"),
    ]
    for options, message in cases:
        result = cli("add", "x", "every 1h", *options, "--", "true")
        assert result.code == 1, options
        assert result.err.startswith("error: job 'x': "), result.err
        assert message in result.err, result.err
    for schedule, message in [
        ("every ５m", "non-ASCII digit"),
        ("every 1ms", 'schedule "every 1ms"'),
        ("every 999999999d", "at most 366d"),
        ("at 2020-01-01 00:00", "never fires"),
    ]:
        result = cli("add", "x", schedule, "--", "true")
        assert result.code == 1, schedule
        assert result.err.startswith("error: job 'x': schedule"), result.err
        assert message in result.err, result.err
    nan = cli("add", "x", "every 1h", "--call", "json:dumps", "--kwargs", '{"obj": NaN}')
    assert nan.code == 1 and "JSON" in nan.err, nan.err
    assert cli("list", "--json").out.strip() in ("[]", "")


CELERY_APP = """\
from celery import Celery

app = Celery("fleet", broker="redis://127.0.0.1:6379/0", backend="redis://127.0.0.1:6379/0")


@app.task(name="fleet.report", shared=False)
def report(month: str) -> str:
    return month
"""


def test_add_a_celery_task_checked_against_its_app(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("celery", reason="Celery jobs need cronwork[celery]")
    (tmp_path / "cli_fleet.py").write_text(CELERY_APP)
    refused = cli(
        "add", "report", "0 7 * * *", "--celery-task", "fleet.reprot",
        "--celery-app", "cli_fleet:app",
    )  # fmt: skip
    assert refused.code == 1
    assert refused.err.strip() == (
        "error: job 'report': celery_task 'fleet.reprot' is not a task of Celery app "
        "'cli_fleet:app' (did you mean 'fleet.report'?); it knows fleet.report"
    )
    assert "report" not in cli("list").out
    added = cli(
        "add", "report", "0 7 * * *", "--celery-task", "fleet.report",
        "--celery-app", "cli_fleet:app", "--celery-queue", "reports", "--", "2024-05",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert added.out.startswith("added report: celery task fleet.report (queue reports)")
    [shown] = json.loads(cli("list", "--json").out)
    assert shown["args"] == ["2024-05"]
    assert shown["target"] == {
        "kind": "celery", "ref": "fleet.report", "app": "cli_fleet:app", "queue": "reports",
    }  # fmt: skip
