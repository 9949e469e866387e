"""Job files: one schema in TOML and YAML, every error named by file, line, job and key."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from cronwork.jobfile import JobFileError, load_job_file, parse_job_file
from cronwork.policies import Overlap
from cronwork.targets import TaskRegistry

TOML = """\
[scheduler]
store = "sqlite:///jobs.db"
max_running = 4
timezone = "Europe/Berlin"
log_level = "debug"

[[jobs]]
id = "backup"
schedule = "0 3 * * *"
command = ["pg_dump", "mydb"]
timeout = "30m"
retries = 2
overlap = "queue"
tags = ["db"]

[[jobs]]
id = "report"
schedule = "every 1h"
call = "json:dumps"
args = [1]
kwargs = { indent = 2 }
depends_on = "backup"
tz = "UTC"
"""

YAML = """\
scheduler:
  store: sqlite:///jobs.db
  max_running: 4
  timezone: Europe/Berlin
  log_level: debug
jobs:
  - id: backup
    schedule: "0 3 * * *"
    command: [pg_dump, mydb]
    timeout: 30m
    retries: 2
    overlap: queue
    tags: [db]
  - id: report
    schedule: every 1h
    call: json:dumps
    args: [1]
    kwargs: {indent: 2}
    depends_on: backup
    tz: UTC
"""


def parse(text: str, name: str = "jobs.toml", **options: object) -> object:
    return parse_job_file(textwrap.dedent(text), name=name, **options)  # type: ignore[arg-type]


def problems(text: str, name: str = "jobs.toml", **options: object) -> list[str]:
    with pytest.raises(JobFileError) as caught:
        parse(text, name, **options)
    return caught.value.problems


@pytest.mark.parametrize(("text", "name"), [(TOML, "jobs.toml"), (YAML, "jobs.yaml")])
def test_toml_and_yaml_share_one_schema(text: str, name: str) -> None:
    job_file = parse_job_file(text, name=name)
    assert job_file.settings.store == "sqlite:///jobs.db"
    assert job_file.settings.max_running == 4
    assert job_file.settings.timezone == "Europe/Berlin"
    assert job_file.settings.log_level == "debug"
    backup, report = job_file.jobs
    assert backup.id == "backup"
    assert backup.target.command is not None
    assert backup.target.command.argv == ("pg_dump", "mydb")
    assert backup.timeout == timedelta(minutes=30)
    assert backup.retries == 2
    assert backup.overlap is Overlap.QUEUE
    assert backup.tags == ("db",)
    assert backup.timezone == "Europe/Berlin"  # the file's default zone
    assert report.target.kind == "call"
    assert report.target.ref == "json:dumps"
    assert report.args == (1,)
    assert report.kwargs == {"indent": 2}
    assert report.depends_on == ("backup",)
    assert report.timezone == "UTC"


def test_the_same_file_gives_equal_jobs_in_both_formats() -> None:
    toml = parse_job_file(TOML, name="jobs.toml", origin="o")
    yaml = parse_job_file(YAML, name="jobs.yml", origin="o")
    assert toml.jobs == yaml.jobs


def test_bad_duration_names_file_line_job_and_key() -> None:
    found = problems(
        """\
        [[jobs]]
        id = "backup"
        schedule = "0 3 * * *"
        command = ["true"]
        timeout = "soon"
        """
    )
    assert found == [
        'jobs.toml:5: job "backup": timeout "soon" is not a duration (e.g. "30m", "1h30m", "PT30M")'
    ]


def test_yaml_errors_carry_lines_too() -> None:
    found = problems(
        """\
        jobs:
          - id: ok
            schedule: every 1h
            command: [echo]
          - id: backup
            schedule: "0 3 * * 99"
            command: [pg_dump]
        """,
        name="jobs.yaml",
    )
    assert len(found) == 1
    assert found[0].startswith('jobs.yaml:6: job "backup": schedule: day-of-week 99 out of range')


def test_unknown_key_suggests_the_closest_one() -> None:
    found = problems(
        """\
        [[jobs]]
        id = "x"
        schedule = "every 1h"
        command = ["true"]

        timout = "5m"
        """
    )
    assert found == ['jobs.toml:6: job "x": unknown key "timout" (did you mean "timeout"?)']


def test_synonyms_point_to_our_names() -> None:
    found = problems(
        '[[jobs]]\nid = "x"\nschedule = "every 1h"\ncommand = ["true"]\ntimezone = "UTC"\n'
    )
    assert found == ['jobs.toml:5: job "x": unknown key "timezone" (did you mean "tz"?)']


def test_every_bad_job_is_reported_at_once() -> None:
    found = problems(
        """\
        [scheduler]
        max_runing = 3

        [[jobs]]
        id = "a"
        schedule = "every 1h"
        command = ["true"]
        retries = "three"

        [[jobs]]
        id = "b"
        schedule = "whenever"
        command = ["true"]
        """
    )
    assert found[0] == (
        'jobs.toml:2: scheduler: unknown key "max_runing" (did you mean "max_running"?)'
    )
    assert found[1] == 'jobs.toml:8: job "a": retries must be a whole number, got text'
    assert found[2].startswith('jobs.toml:12: job "b": schedule "whenever" is not understood')
    assert len(found) == 3


def test_several_problems_read_as_one_line_in_the_exception() -> None:
    with pytest.raises(JobFileError) as caught:
        parse('[[jobs]]\nid = "a"\n\n[[jobs]]\nid = "b"\n')
    assert str(caught.value).endswith("(and 1 more)")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('id = "x"\nschedule = "every 1h"', 'job "x": needs a target'),
        ('id = "x"\ncommand = ["true"]', 'job "x": missing key "schedule"'),
        ('schedule = "every 1h"\ncommand = ["true"]', 'job #1: missing key "id"'),
        ('id = "x y"\nschedule = "every 1h"\ncommand = ["true"]', "job #1: id 'x y' is invalid"),
        (
            'id = "x"\nschedule = "every 1h"\ncommand = ["true"]\ncall = "a:b"',
            'job "x": has both command and call',
        ),
        ('id = "x"\nschedule = "every 1h"\ncall = "not a path"', "job \"x\": call 'not a path'"),
        ('id = "x"\nschedule = 5\ncommand = ["true"]', 'job "x": schedule must be text'),
        ('id = "x"\nschedule = "every 1h"\ncommand = []', 'job "x": command must be a list'),
        ('id = "x"\nschedule = "every 1h"\ncommand = ["true"]\nenabled = "no"', "enabled must"),
        ('id = "x"\nschedule = "every 1h"\ncommand = ["true"]\nargs = [1]', "args applies to"),
        (
            'id = "x"\nschedule = "every 1h"\ncommand = ["true"]\noverlap = "never"',
            "overlap 'never'",
        ),
        (
            'id = "x"\nschedule = "every 1h"\ncommand = ["true"]\ntz = "Mars/Base"',
            "unknown time zone",
        ),
        ('id = "x"\nschedule = "every 1h"\ncommand = ["true"]\ntags = "a"', "tags must be a list"),
        ('id = "x"\nschedule = "every 1h"\ncall = "a:b"\nshell = true', "shell applies to command"),
        (
            'id = "x"\nschedule = "every 1h"\ncommand = ["a", "b"]\nshell = true',
            "shell = true needs",
        ),
    ],
)
def test_job_problems(body: str, expected: str) -> None:
    found = problems(f"[[jobs]]\n{body}\n")
    assert len(found) == 1
    assert expected in found[0], found[0]
    assert found[0].startswith("jobs.toml:")


def test_line_points_at_the_key_not_at_a_same_named_key_in_a_subtable() -> None:
    found = problems(
        """\
        [[jobs]]
        id = "x"
        schedule = "every 1h"
        call = "json:dumps"
        retries = -1

        [jobs.kwargs]
        retries = 3
        """
    )
    assert found[0].startswith('jobs.toml:5: job "x": retries must be')


def test_duplicate_ids_name_the_first_definition() -> None:
    found = problems(
        """\
        [[jobs]]
        id = "x"
        schedule = "every 1h"
        command = ["true"]

        [[jobs]]
        id = "x"
        schedule = "every 2h"
        command = ["true"]
        """
    )
    assert found == ['jobs.toml:7: job "x": duplicate job id (first defined at line 1)']


def test_dependencies_must_be_defined_in_the_same_file() -> None:
    found = problems(
        """\
        [[jobs]]
        id = "extract"
        schedule = "every 1h"
        command = ["true"]

        [[jobs]]
        id = "load"
        schedule = "every 1h"
        command = ["true"]
        depends_on = ["extrct"]
        """
    )
    assert len(found) == 1
    assert found[0].startswith(
        'jobs.toml:10: job "load": depends on unknown job "extrct" (did you mean "extract"?)'
    )


def test_dependency_cycles_are_refused() -> None:
    found = problems(
        """\
        [[jobs]]
        id = "a"
        schedule = "every 1h"
        command = ["true"]
        depends_on = "b"

        [[jobs]]
        id = "b"
        schedule = "every 1h"
        command = ["true"]
        depends_on = "a"
        """
    )
    assert len(found) == 1
    assert "dependency cycle: a -> b -> a" in found[0]


def test_jobs_come_upstream_first_whatever_the_file_order() -> None:
    job_file = parse(
        """\
        [[jobs]]
        id = "load"
        schedule = "every 1h"
        command = ["true"]
        depends_on = "transform"

        [[jobs]]
        id = "transform"
        schedule = "every 1h"
        command = ["true"]
        depends_on = "extract"

        [[jobs]]
        id = "extract"
        schedule = "every 1h"
        command = ["true"]
        """
    )
    assert [job.id for job in job_file.jobs] == ["extract", "transform", "load"]  # type: ignore[attr-defined]


def test_disabled_jobs_are_checked_but_not_loaded() -> None:
    job_file = parse(
        """\
        [[jobs]]
        id = "on"
        schedule = "every 1h"
        command = ["true"]

        [[jobs]]
        id = "off"
        schedule = "every 1h"
        command = ["true"]
        enabled = false
        """
    )
    assert [job.id for job in job_file.jobs] == ["on"]  # type: ignore[attr-defined]
    assert job_file.disabled == ("off",)  # type: ignore[attr-defined]
    bad = problems('[[jobs]]\nid = "off"\nschedule = "nope"\ncommand = ["true"]\nenabled = false\n')
    assert 'job "off": schedule' in bad[0]


def test_a_dependency_on_a_disabled_job_is_an_error() -> None:
    found = problems(
        """\
        [[jobs]]
        id = "a"
        schedule = "every 1h"
        command = ["true"]
        enabled = false

        [[jobs]]
        id = "b"
        schedule = "every 1h"
        command = ["true"]
        depends_on = "a"
        """
    )
    assert found == ['jobs.toml:11: job "b": depends on "a", which is disabled']


def test_syntax_errors_carry_the_parser_line() -> None:
    toml = problems('[[jobs]]\nid = "x"\nschedule = \n')
    assert toml[0].startswith("jobs.toml:3: ")
    yaml = problems("jobs:\n  - id: x\n    schedule: [unclosed\n", name="jobs.yaml")
    assert yaml[0].startswith("jobs.yaml:")


def test_top_level_and_scheduler_problems() -> None:
    found = problems(
        """\
        job = []

        [scheduler]
        max_running = 0
        log_level = "loud"
        timezone = "Nowhere/Land"
        """
    )
    assert found[0] == (
        'jobs.toml:1: unknown key "job" (did you mean "jobs"?); a job file has "scheduler" '
        'and "jobs"'
    )
    assert found[1] == "jobs.toml:4: scheduler: max_running must be a whole number >= 1, got 0"
    assert found[2].startswith('jobs.toml:5: scheduler: log_level "loud" is not one of')
    assert found[3].startswith('jobs.toml:6: scheduler: unknown time zone "Nowhere/Land"')


def test_an_empty_file_defines_no_jobs() -> None:
    assert parse("").jobs == ()  # type: ignore[attr-defined]
    assert parse("", name="jobs.yaml").jobs == ()  # type: ignore[attr-defined]


def test_unknown_format() -> None:
    assert problems("", name="jobs.ini") == [
        "jobs.ini: unknown job file format 'ini'; use a .toml, .yaml or .yml file"
    ]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="no such job file"):
        load_job_file(tmp_path / "nope.toml")


def test_dates_and_datetimes_bound_the_schedule() -> None:
    job_file = parse(
        """\
        [[jobs]]
        id = "x"
        schedule = "every 1h"
        command = ["true"]
        start_at = 2026-01-01
        end_at = 2026-02-01T12:00:00
        tz = "UTC"
        """
    )
    job = job_file.jobs[0]  # type: ignore[attr-defined]
    assert job.start_at.isoformat() == "2026-01-01T00:00:00+00:00"
    assert job.end_at.isoformat() == "2026-02-01T12:00:00+00:00"


def test_relative_cwd_is_relative_to_the_job_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.toml"
    path.write_text('[[jobs]]\nid = "x"\nschedule = "every 1h"\ncommand = "ls"\ncwd = "data"\n')
    job = load_job_file(path).jobs[0]
    assert job.target.command is not None
    assert job.target.command.cwd == str(tmp_path.resolve() / "data")


def test_check_imports_catches_a_typo_in_a_call_target() -> None:
    found = problems(
        '[[jobs]]\nid = "x"\nschedule = "every 1h"\ncall = "json:dumpz"\n', check_imports=True
    )
    assert found == [
        "jobs.toml:4: job \"x\": call \"json:dumpz\": module 'json' has no attribute 'dumpz'"
    ]


def test_task_targets_must_be_registered_when_a_registry_is_given() -> None:
    text = '[[jobs]]\nid = "x"\nschedule = "every 1h"\ntask = "cleanup"\n'
    assert parse(text).jobs[0].target.kind == "task"  # type: ignore[attr-defined]
    registry = TaskRegistry()
    found = problems(text, tasks=registry)
    assert 'jobs.toml:4: job "x": task "cleanup" is not registered' in found[0]
    registry.register("cleanup", lambda: None)
    assert parse(text, tasks=registry).jobs[0].target.ref == "cleanup"  # type: ignore[attr-defined]


def test_the_example_files_validate() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in ("jobs.toml", "jobs.yaml"):
        job_file = load_job_file(examples / name)
        assert len(job_file.jobs) >= 5


# -- duplicate keys: PyYAML keeps the last silently, TOML refuses -----------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """\
            jobs:
              - id: backup
                schedule: every 1h
                command: ["true"]
                retries: 2
                timeout: 30m
                retries: 5
            """,
            'jobs.yaml:7: duplicate key "retries" (first at line 5)',
        ),
        (
            """\
            scheduler:
              store: sqlite:///a.db
            jobs: []
            scheduler:
              store: sqlite:///b.db
            """,
            'jobs.yaml:4: duplicate key "scheduler" (first at line 1)',
        ),
        (
            """\
            jobs:
              - id: backup
                schedule: every 1h
                command: ["true"]
                env: {MODE: fast, MODE: slow}
            """,
            'jobs.yaml:5: duplicate key "MODE" (first at line 5)',
        ),
    ],
    ids=["job", "top-level", "nested"],
)
def test_a_yaml_key_given_twice_is_refused_with_file_line_and_key(text: str, expected: str) -> None:
    assert problems(text, name="jobs.yaml") == [expected]


def test_yaml_merge_keys_may_still_be_overridden() -> None:
    text = """\
        defaults: &defaults
          schedule: every 1h
          retries: 2
        jobs:
          - <<: *defaults
            id: backup
            command: ["true"]
            retries: 5
    """
    found = problems(text, name="jobs.yaml")
    # Only the unknown top-level key: the override of a merged key is no duplicate.
    assert len(found) == 1 and 'unknown key "defaults"' in found[0]
    job = parse_job_file(
        "jobs:\n  - &base\n    id: a\n    schedule: every 1h\n    command: ['true']\n"
        "    retries: 2\n  - <<: *base\n    id: b\n    retries: 5\n",
        name="jobs.yaml",
    ).jobs[1]
    assert (job.id, job.retries) == ("b", 5)


def test_a_toml_key_given_twice_is_refused_with_file_line_and_key() -> None:
    text = """\
        [[jobs]]
        id = "backup"
        schedule = "every 1h"
        command = ["true"]
        retries = 2
        retries = 5
    """
    assert problems(text) == ['jobs.toml:6: duplicate key "retries" (Cannot overwrite a value)']
    tables = problems('[scheduler]\nstore = "a"\n\n[scheduler]\nstore = "b"\n')
    assert tables[0].startswith("jobs.toml:4: ")
