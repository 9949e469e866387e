"""End to end: what a hostile working folder or store path must not do to the cronwork command.

Each test starts the real command as a subprocess on this checkout's source, through both
entry points where they differ: ``python -m cronwork`` (which puts the current folder first on
sys.path by itself) and the ``cronwork`` console script (which does not).
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clikit import wait_for

from cronwork.runs import Run, RunStatus
from cronwork.stores import SqliteStore

SRC = Path(__file__).resolve().parents[2] / "src"
CONSOLE_SCRIPT = Path(sys.executable).with_name("cronwork")
MODULE = (sys.executable, "-m", "cronwork")
ENTRY_POINTS = [
    pytest.param(MODULE, id="python-m"),
    pytest.param(
        (str(CONSOLE_SCRIPT),),
        id="console-script",
        marks=pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="no console script"),
    ),
]
STORE = "sqlite:///cronwork.db"


def cronwork(
    cwd: Path, *args: str, entry: tuple[str, ...] = MODULE, umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "CRONWORK_STORE": STORE}
    return subprocess.run(
        [*entry, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=None if umask is None else (lambda: os.umask(umask) and None),
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.args, result.stdout, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` with a hash of its bytes."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


# -- item 7: the working folder and the job file's folder ----------------------------------

# Modules cronwork or its dependencies import after start-up: a file of that name in the
# working folder or beside the job file must never be imported instead.
SHADOWED = ("sqlite3", "json", "rich", "typer", "click", "yaml", "logging", "asyncio", "datetime")


def plant_impostors(folder: Path) -> None:
    for name in SHADOWED:
        (folder / f"{name}.py").write_text(f"raise SystemExit('impostor {name}.py imported')\n")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_files_in_the_working_folder_never_replace_installed_modules(
    tmp_path: Path, entry: tuple[str, ...]
) -> None:
    plant_impostors(tmp_path)
    (tmp_path / "tasks.py").write_text("def hello():\n    print('hello from tasks')\n")
    jobs = tmp_path / "jobs.toml"
    jobs.write_text('[[jobs]]\nid = "ping"\nschedule = "every 1h"\ncall = "tasks:hello"\n')

    assert "added greet" in ok(cronwork(tmp_path, "add", "greet", "every 1h",
                                         "--call", "tasks:hello", entry=entry))  # fmt: skip
    assert "greet" in ok(cronwork(tmp_path, "list", entry=entry))
    assert "ok" in ok(cronwork(tmp_path, "validate", str(jobs), entry=entry))
    assert "At" in ok(cronwork(tmp_path, "next", "0 9 * * *", entry=entry))


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_run_imports_targets_beside_the_job_file_but_installed_modules_first(
    tmp_path: Path, entry: tuple[str, ...]
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    plant_impostors(tmp_path)
    plant_impostors(folder)
    (folder / "filetasks.py").write_text("def ping():\n    print('pong')\n")
    jobs = folder / "jobs.toml"
    jobs.write_text(
        '[[jobs]]\nid = "ping"\nschedule = "every 1s"\ncall = "filetasks:ping"\n\n'
        '[[jobs]]\nid = "child"\nschedule = "every 1s"\ncall = "filetasks:ping"\n'
        'executor = "process"\n'
    )
    log = (tmp_path / "run.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [*entry, "run", str(jobs), "--store", STORE],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: _both_succeeded((tmp_path / "run.log").read_text())
                 or proc.poll() is not None)  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, (tmp_path / "run.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "run.log").read_text()
    assert "impostor" not in text
    assert _both_succeeded(text), text


def _both_succeeded(log: str) -> bool:
    # The process executor's child must not import the impostors either.
    return "run succeeded job=ping" in log and "run succeeded job=child" in log


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_target_module_named_like_an_installed_one_is_a_clear_error(
    tmp_path: Path, entry: tuple[str, ...]
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "yaml.py").write_text("def hello():\n    print('mine')\n")
    jobs = folder / "jobs.toml"
    jobs.write_text('[[jobs]]\nid = "mine"\nschedule = "every 1h"\ncall = "yaml:hello"\n')

    error = one_line_error(cronwork(tmp_path, "validate", str(jobs), entry=entry))
    assert str(folder / "yaml.py") in error
    assert "installed module" in error and "rename" in error

    (tmp_path / "json.py").write_text("def hello():\n    print('mine')\n")
    error = one_line_error(
        cronwork(tmp_path, "add", "mine", "every 1h", "--call", "json:hello", entry=entry)
    )
    assert str(tmp_path / "json.py") in error
    assert "standard library" in error and "rename" in error
    assert "mine" not in cronwork(tmp_path, "list", entry=entry).stdout


# -- item 8: a new database is private -----------------------------------------------------


def test_a_new_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    ok(cronwork(tmp_path, "add", "backup", "0 3 * * *", "--", "true", umask=0o022))
    assert (tmp_path / "cronwork.db").stat().st_mode & 0o777 == 0o600


# -- item 9: reading never writes ----------------------------------------------------------

READERS = [
    ("list",),
    ("show", "backup"),
    ("history",),
    ("history", "backup"),
    ("logs", "1"),
]
CHANGERS = [
    ("remove", "backup"),
    ("pause", "backup"),
    ("resume", "backup"),
    ("trigger", "backup"),
    ("stop", "backup"),
]


def test_no_command_but_add_and_run_creates_a_missing_store(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.toml"
    jobs.write_text('[[jobs]]\nid = "a"\nschedule = "every 1h"\ncommand = ["true"]\n')
    before = fingerprint(tmp_path)
    store = "sqlite:///typo.db"
    for args in [*READERS, *CHANGERS]:
        error = one_line_error(cronwork(tmp_path, *args, "--store", store))
        assert f"no database file {tmp_path / 'typo.db'}" in error, (args, error)
        assert fingerprint(tmp_path) == before, args
    # add creates the file, but not for input it refuses.
    one_line_error(cronwork(tmp_path, "add", "x", "every soon", "--store", store, "--", "true"))
    assert fingerprint(tmp_path) == before
    # validate compares with the store; a missing one is named, and would start empty.
    out = ok(cronwork(tmp_path, "validate", str(jobs), "--store", store))
    assert f"no database file {tmp_path / 'typo.db'} yet" in out
    assert "1 added" in out
    assert fingerprint(tmp_path) == before


def foreign_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE foo (x INTEGER)")
    conn.execute("INSERT INTO foo VALUES (1)")
    conn.commit()
    conn.close()


def test_a_foreign_sqlite_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    foreign_database(tmp_path / "app.db")
    jobs = tmp_path / "jobs.toml"
    jobs.write_text('[[jobs]]\nid = "a"\nschedule = "every 1h"\ncommand = ["true"]\n')
    before = fingerprint(tmp_path)
    for args in [*READERS, *CHANGERS, ("validate", str(jobs))]:
        error = one_line_error(cronwork(tmp_path, *args, "--store", "sqlite:///app.db"))
        assert "app.db is not a cronwork database" in error, (args, error)
        assert "foo" in error
        assert fingerprint(tmp_path) == before, args
    conn = sqlite3.connect(tmp_path / "app.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_reading_changes_no_byte_of_a_closed_database(tmp_path: Path) -> None:
    ok(cronwork(tmp_path, "add", "backup", "0 3 * * *", "--", "true"))
    database = tmp_path / "cronwork.db"
    before = database.read_bytes()
    for args in READERS:
        cronwork(tmp_path, *args)
    assert database.read_bytes() == before
    # A reader of a WAL file may have to leave an empty -wal and the -shm index behind.
    wal = tmp_path / "cronwork.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.fixture
def held_open(tmp_path: Path) -> Iterator[SqliteStore]:
    """The store, created by `cronwork add`, then held open with uncheckpointed writes."""
    ok(cronwork(tmp_path, "add", "backup", "0 3 * * *", "--", "true"))
    store = SqliteStore(tmp_path / "cronwork.db")
    store.open()
    yield store
    store.close()


def test_reading_sees_what_a_process_holding_the_store_open_wrote(
    tmp_path: Path, held_open: SqliteStore
) -> None:
    job = held_open.get_job("backup")
    held_open.add_job(job.replace(id="second"))
    assert (tmp_path / "cronwork.db-wal").stat().st_size > 0
    listed = ok(cronwork(tmp_path, "list"))
    assert "backup" in listed and "second" in listed
    # The writer goes on writing after the reader has gone.
    held_open.add_job(job.replace(id="third"))
    assert "third" in ok(cronwork(tmp_path, "list"))


# -- item 14: the command line speaks its own flags ----------------------------------------


def test_a_duplicate_id_names_the_replace_flag(tmp_path: Path) -> None:
    ok(cronwork(tmp_path, "add", "backup", "0 3 * * *", "--", "true"))
    error = one_line_error(cronwork(tmp_path, "add", "backup", "0 4 * * *", "--", "true"))
    assert "--replace" in error and "replace=True" not in error
    ok(cronwork(tmp_path, "add", "backup", "0 4 * * *", "--replace", "--", "true"))


def running_run(store: SqliteStore, job_id: str) -> Run:
    now = datetime.now(UTC)
    run = Run(
        id="",
        job_id=job_id,
        scheduled_for=now - timedelta(minutes=1),
        status=RunStatus.RUNNING,
        node="elsewhere",
        started_at=now - timedelta(minutes=1),
        lease_until=now + timedelta(hours=1),
    )
    stored = store.add_run(run)
    assert stored is not None
    return stored


def test_trigger_says_when_overlap_skips_the_run_at_once(
    tmp_path: Path, held_open: SqliteStore
) -> None:
    running = running_run(held_open, "backup")
    result = cronwork(tmp_path, "trigger", "backup")
    error = one_line_error(result)
    assert "triggered" not in result.stdout
    runs = held_open.runs(job_id="backup")
    skipped = [r for r in runs if r.trigger == "manual"]
    assert [r.status for r in skipped] == [RunStatus.SKIPPED]
    assert error == (
        f"error: run {skipped[0].id} of backup skipped: run {running.id} is still running "
        "(overlap=skip)\n"
    )
    assert skipped[0].error == f"skipped: run {running.id} is still running (overlap=skip)"

    quiet = cronwork(tmp_path, "trigger", "-q", "backup")
    one_line_error(quiet)
    newest = held_open.runs(job_id="backup", limit=1)[0]
    assert newest.status is RunStatus.SKIPPED
    assert quiet.stdout == f"{newest.id}\n"


@pytest.mark.parametrize(
    ("overlap", "says"),
    [
        ("queue", "queued behind run {running} (overlap=queue)"),
        ("replace", "replacing run {running}, which is cancelled (overlap=replace)"),
    ],
)
def test_trigger_says_what_overlap_does_to_a_run_that_still_starts(
    tmp_path: Path, held_open: SqliteStore, overlap: str, says: str
) -> None:
    ok(cronwork(tmp_path, "add", "other", "0 3 * * *", "--overlap", overlap, "--", "true"))
    running = running_run(held_open, "other")
    out = ok(cronwork(tmp_path, "trigger", "other"))
    pending = [r for r in held_open.runs(job_id="other") if r.trigger == "manual"]
    assert [r.status for r in pending] == [RunStatus.SCHEDULED]
    assert out == f"triggered other: run {pending[0].id}, {says.format(running=running.id)}\n"
