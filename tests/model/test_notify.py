"""Notification targets: what a job's ``notify`` accepts, refuses and shows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronwork.errors import JobError
from cronwork.jobs import make_job
from cronwork.notify import DEFAULT_EVENTS, NOTIFY_EVENTS, NotifyTarget, masked_url, parse_notify


def test_a_bare_url_hears_about_the_failing_outcomes() -> None:
    (target,) = parse_notify("https://hooks.example/T/B/secret", "nightly")
    assert target == NotifyTarget("https://hooks.example/T/B/secret", DEFAULT_EVENTS)
    assert set(DEFAULT_EVENTS) == {"failed", "timed_out", "missed", "lost"}


def test_a_table_picks_its_outcomes_in_one_order_whatever_was_written() -> None:
    (target,) = parse_notify(
        [{"url": "http://127.0.0.1:8000/x", "on": ["succeeded", "failed"]}], "j"
    )
    assert target.on == ("failed", "succeeded")
    assert parse_notify(parse_notify([target], "j"), "j") == (target,)


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        (42, "notify", "must be a list"),
        ([42], "notify", "must be a URL or a table"),
        (["ftp://host/x"], "notify.url", "must start with http:// or https://"),
        (["https:///nohost"], "notify.url", "name a host"),
        (["https://h:99999/x"], "notify.url", "not a valid URL"),
        (["https://h/a b"], "notify.url", "spaces"),
        ([{"url": "https://h/x", "on": ["exploded"]}], "notify.on", "'exploded' is not one of"),
        ([{"url": "https://h/x", "on": "failed"}], "notify.on", "must be a list of outcomes"),
        ([{"url": "https://h/x", "on": []}], "notify.on", "at least one"),
        ([{"url": "https://h/x", "when": ["failed"]}], "notify", "unknown key(s) when"),
        ([{"on": ["failed"]}], "notify.url", "must be an http(s) URL"),
        (["https://h/x"] * 21, "notify", "at most 20"),
    ],
)
def test_bad_targets_are_refused_naming_the_field(value: object, field: str, words: str) -> None:
    with pytest.raises(JobError) as error:
        make_job("nightly", "os:getcwd", "@daily", notify=value)
    assert error.value.field == field
    assert error.value.job_id == "nightly"
    assert words in str(error.value)


def test_a_refused_url_does_not_show_its_secret_path() -> None:
    with pytest.raises(JobError) as error:
        parse_notify(["https://hooks.example/token-s3cret x"], "j")
    assert "s3cret" not in str(error.value)
    assert "s3cret" not in repr(error.value.value)


@given(
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5}){0,2}", fullmatch=True),
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-_", min_size=1, max_size=30),
    query=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=&", max_size=20),
)
def test_a_masked_url_keeps_the_host_and_hides_path_and_query(
    host: str, path: str, query: str
) -> None:
    url = f"https://{host}/{path}" + (f"?{query}" if query else "")
    shown = masked_url(url)
    assert shown.startswith(f"https://{host}")
    rest = shown[len(f"https://{host}") :]
    assert rest in ("", "/…")
    assert path.strip("/") == "" or rest == "/…"


def test_every_outcome_can_be_asked_for() -> None:
    (target,) = parse_notify([{"url": "https://h/x", "on": list(NOTIFY_EVENTS)}], "j")
    assert target.on == NOTIFY_EVENTS


def test_add_job_and_modify_job_take_notify_and_pause_keeps_a_note_until_resumed() -> None:
    from cronwork.scheduler import Scheduler

    scheduler = Scheduler()
    scheduler.add_job("nightly", "os:getcwd", "@daily", notify=["https://hooks.example/x"])
    assert scheduler.get_job("nightly").notify == parse_notify("https://hooks.example/x", "n")
    with pytest.raises(JobError) as error:
        scheduler.modify_job("nightly", notify=["gopher://x"])
    assert error.value.field == "notify.url"
    assert scheduler.get_job("nightly").notify[0].url == "https://hooks.example/x"

    assert scheduler.pause_job("nightly", note="disk full").pause_note == "disk full"
    assert scheduler.modify_job("nightly", retries=2).pause_note == "disk full"
    assert scheduler.pause_job("nightly", note="still full").pause_note == "still full"
    with pytest.raises(JobError, match="pause_note is longer than 500"):
        scheduler.pause_job("nightly", note="x" * 501)
    resumed = scheduler.resume_job("nightly")
    assert (resumed.paused, resumed.pause_note) == (False, None)


def test_a_job_file_takes_notify_per_job_and_as_a_scheduler_default() -> None:
    from cronwork.errors import JobFileError
    from cronwork.jobfile import parse_job_file

    job_file = parse_job_file(
        """
        [scheduler]
        notify = ["https://hooks.example/all"]

        [[jobs]]
        id = "a"
        schedule = "@daily"
        call = "os:getcwd"
        notify = [{url = "https://hooks.example/a", on = ["recovered"]}]
        """.replace("        ", ""),
        name="jobs.toml",
    )
    assert job_file.settings.notify == parse_notify("https://hooks.example/all", "x")
    assert job_file.jobs[0].notify == (NotifyTarget("https://hooks.example/a", ("recovered",)),)

    with pytest.raises(JobFileError) as error:
        parse_job_file(
            '[[jobs]]\nid = "a"\nschedule = "@daily"\ncall = "os:getcwd"\n'
            'notify = [{url = "https://h/x", on = ["boom"]}]\n',
            name="jobs.toml",
        )
    assert "jobs.toml:5" in str(error.value)
    assert "'boom' is not one of" in str(error.value)
