"""The dashboard in real Chromium: what an operator does, seen the way they see it.

Each test gets a fresh logged-in page of one served dashboard (``cronwork serve`` as a
subprocess with a token, a SQLite store and --allow-commands) and fails on any console
error or failed request; screenshots of every page go to the test's own folder.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from browserkit import TOKEN, Dashboard, Watch, log_in

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips every test, or fails it under CI=true
    expect = None

pytestmark = pytest.mark.slow

_ids = itertools.count(1)


def new_id(stem: str) -> str:
    """A job id no other test of the session uses."""
    return f"{stem}-{os.getpid()}-{next(_ids)}"


def shot(page: Any, folder: Path, name: str) -> Path:
    """Save a full-page screenshot as ``folder/name.png``."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    return path


def wait_until(predicate: Any, timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def stays_on(page: Any) -> None:
    """Mark the page, so that ``still_on`` can tell it was not reloaded since."""
    page.evaluate("window.__notReloaded = true")


def still_on(page: Any) -> None:
    """The page marked by ``stays_on`` is still the one shown (no reload, no navigation)."""
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


# -- logging in and every page --------------------------------------------------------------


def test_a_browser_without_a_session_is_sent_to_the_login_page(
    browser: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    context = browser.new_context(base_url=dashboard.url)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    watch.expect("/login", 401)
    for path in ["/", "/jobs", "/jobs/new"]:
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Token").fill("not-the-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong token")
    log_in(page)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    shot(page, tmp_path, "overview-after-login")
    context.close()
    assert not watch.problems, watch.problems


def test_every_page_renders_without_errors_and_is_labelled(
    page: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    job_id = new_id("tour")
    dashboard.add_job(
        id=job_id,
        command="echo toured",
        schedule="30 2 * * *",
        tz="Europe/Paris",
        tags=["tour"],
        notify=["https://hooks.example/secret-path?key=s3cret"],
    )
    run = dashboard.api.post(f"/api/v1/jobs/{job_id}/trigger").json()
    wait_until(lambda: dashboard.run(run["id"])["status"] == "succeeded")
    pages = {
        "overview": "/",
        "jobs": "/jobs",
        "job": f"/jobs/{job_id}",
        "run": f"/runs/{run['id']}",
        "new-job": "/jobs/new",
        "edit-job": f"/jobs/{job_id}/edit",
    }
    for name, path in pages.items():
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        unlabelled = page.evaluate(
            """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
                .filter(el => el.type !== 'hidden' && !el.closest('[hidden]'))
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                              && !el.textContent.trim())
                .map(el => el.outerHTML)"""
        )
        assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
        shot(page, tmp_path, name)
    # The job page masks the notify URL's secret and shows both zones of each fire time.
    page.goto(f"/jobs/{job_id}")
    assert "s3cret" not in page.content()
    expect(page.locator("table.fires tbody tr")).to_have_count(10)
    expect(page.locator("table.fires")).to_contain_text("CET")


def test_the_overview_shows_the_load_ahead(page: Any, dashboard: Dashboard, tmp_path: Path) -> None:
    for _ in range(3):
        dashboard.add_job(id=new_id("herd"), command="true", schedule="0 * * * *")
    page.goto("/")
    heat = page.locator("#heat")
    expect(heat.locator("rect")).to_have_count(25 * 60)
    expect(heat.locator("rect.h5").first).to_be_attached()
    expect(page.locator("#heat-summary")).to_contain_text(re.compile(r"\(\d+ runs\)"))
    shot(page, tmp_path, "overview")


def test_the_overview_shows_a_run_that_starts_without_reloading(
    page: Any, dashboard: Dashboard
) -> None:
    job_id = new_id("watched")
    dashboard.add_job(id=job_id, command=["sleep", "3"], timeout="1m")
    page.goto("/")
    stays_on(page)
    expect(page.locator("#live-state")).to_have_text("live")
    run = dashboard.api.post(f"/api/v1/jobs/{job_id}/trigger").json()
    running = page.locator(f'section[aria-labelledby="running-h"] tr[data-run="{run["id"]}"]')
    expect(running).to_contain_text(job_id)
    expect(running.locator("progress")).to_be_attached()
    expect(running).to_have_count(0)  # gone once it ended
    still_on(page)


# -- creating, listing, running -------------------------------------------------------------


def test_create_a_job_in_the_form_see_it_listed_and_run_it_live(
    page: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    job_id = new_id("formed")
    page.goto("/jobs/new")
    page.get_by_label("Id", exact=True).fill(job_id)
    page.get_by_label("Schedule", exact=True).fill("*/5 * * * *")
    expect(page.locator("#preview")).to_contain_text("Every 5 minutes")
    expect(page.locator("#preview li")).to_have_count(5)
    page.get_by_label("Kind of target").select_option("command")
    page.get_by_label("Target", exact=True).fill("echo made in the form")
    shot(page, tmp_path, "form-filled")
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url(f"**/jobs/{job_id}")
    assert dashboard.api.get(f"/api/v1/jobs/{job_id}").json()["schedule"] == "*/5 * * * *"

    page.goto(f"/jobs?q={job_id}")
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row).to_contain_text("Every 5 minutes")
    expect(row.locator("td.last")).to_contain_text("never run")

    page.goto(f"/jobs/{job_id}")
    stays_on(page)
    page.get_by_role("button", name="Run now").click()
    history = page.locator("#history tbody tr[data-run]")
    expect(history.first.locator(".status")).to_have_text("succeeded")
    still_on(page)
    shot(page, tmp_path, "job-after-run")


def test_a_bad_cron_expression_shows_its_error_under_the_field_and_creates_nothing(
    page: Any, dashboard: Dashboard, watch: Watch, tmp_path: Path
) -> None:
    watch.expect("/api/v1/preview", 422)
    job_id = new_id("bad-cron")
    page.goto("/jobs/new")
    page.get_by_label("Id", exact=True).fill(job_id)
    page.get_by_label("Kind of target").select_option("command")
    page.get_by_label("Target", exact=True).fill("true")
    page.get_by_label("Schedule", exact=True).fill("61 * * * *")
    error = page.locator("#err-schedule")
    expect(error).to_be_visible()
    expect(error).to_contain_text("61")
    expect(page.get_by_label("Schedule", exact=True)).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Create job").click()
    expect(error).to_be_visible()
    # Each field's own error is shown at once, not only the first.
    page.get_by_text("More settings").click()
    page.get_by_label("Keyword arguments (JSON object)").fill("{not json")
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("#err-kwargs")).to_contain_text("not valid JSON")
    expect(error).to_be_visible()
    shot(page, tmp_path, "form-rejected")
    assert dashboard.api.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert page.url.endswith("/jobs/new")


def test_an_error_the_server_finds_is_shown_under_its_field(
    page: Any, dashboard: Dashboard, watch: Watch
) -> None:
    watch.expect("/api/v1/jobs", 422)
    job_id = new_id("server-check")
    page.goto("/jobs/new")
    page.get_by_label("Id", exact=True).fill(job_id)
    page.get_by_label("Schedule", exact=True).fill("every 10m")
    page.get_by_label("Target", exact=True).fill("no-colon-here")
    page.get_by_role("button", name="Create job").click()
    expect(page.locator("#err-target")).to_be_visible()
    assert dashboard.api.get(f"/api/v1/jobs/{job_id}").status_code == 404


def test_edit_a_job_in_the_form_changes_only_what_was_changed(
    page: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    job_id = new_id("edited")
    before = dashboard.add_job(id=job_id, command="echo unchanged", schedule="0 3 * * *", retries=2)
    page.goto(f"/jobs/{job_id}/edit")
    expect(page.locator("#preview")).to_contain_text("At 03:00")
    page.get_by_label("Schedule", exact=True).fill("every 2h")
    expect(page.locator("#preview")).to_contain_text("Every 2h")
    shot(page, tmp_path, "form-edit")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/jobs/{job_id}")
    expect(page.locator("#fires-h + p")).to_contain_text("every 2h")
    after = dashboard.api.get(f"/api/v1/jobs/{job_id}").json()
    assert after["schedule"] == "every 2h"
    unchanged = ("command", "retries", "tz", "timeout", "overlap", "notify")
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


def test_pause_with_a_note_shows_the_note_until_resumed(
    page: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    job_id = new_id("paused")
    dashboard.add_job(id=job_id, command="true")
    page.goto(f"/jobs/{job_id}")
    note = "database upgrade <b>until</b> Monday"
    page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#pause-note")).to_have_text(note)
    expect(page.locator("#job-state")).to_have_text("paused")
    assert dashboard.api.get(f"/api/v1/jobs/{job_id}").json()["pause_note"] == note
    page.reload()
    expect(page.locator("#pause-note")).to_have_text(note)
    page.goto(f"/jobs?q={job_id}")
    expect(page.locator(f'tr[data-job="{job_id}"] .note')).to_have_text(note)
    shot(page, tmp_path, "jobs-paused")
    page.goto(f"/jobs/{job_id}")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#pause-note")).to_be_hidden()
    assert dashboard.api.get(f"/api/v1/jobs/{job_id}").json()["paused"] is False


def test_bulk_pause_asks_first_then_pauses_the_selected_jobs(
    page: Any, dashboard: Dashboard
) -> None:
    stem = new_id("bulk")
    ids = [f"{stem}-{n}" for n in range(3)]
    for job_id in ids:
        dashboard.add_job(id=job_id, command="true")
    page.goto(f"/jobs?q={stem}")
    for job_id in ids[:2]:
        page.get_by_label(f"Select {job_id}").check()
    page.get_by_role("button", name="Pause").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_contain_text("Pause 2 jobs")
    dialog.get_by_role("button", name="Cancel").click()
    assert not any(dashboard.api.get(f"/api/v1/jobs/{i}").json()["paused"] for i in ids)
    page.get_by_role("button", name="Pause").click()
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator("#notice")).to_contain_text("2 of 2 done")
    expect(page.locator(f'tr[data-job="{ids[0]}"] td.state')).to_contain_text("paused")
    shown = [dashboard.api.get(f"/api/v1/jobs/{i}").json()["paused"] for i in ids]
    assert shown == [True, True, False]


def test_bulk_run_now_updates_the_rows_live(page: Any, dashboard: Dashboard) -> None:
    stem = new_id("bulk-run")
    ids = [f"{stem}-{n}" for n in range(2)]
    for job_id in ids:
        dashboard.add_job(id=job_id, command="true")
    page.goto(f"/jobs?q={stem}")
    stays_on(page)
    page.get_by_label("Select every job on this page").check()
    page.get_by_role("button", name="Run now").click()
    page.locator("dialog#confirm").get_by_role("button", name="Confirm").click()
    for job_id in ids:
        expect(page.locator(f'tr[data-job="{job_id}"] td.last')).to_have_text("succeeded")
    still_on(page)


def test_deleting_a_job_others_depend_on_shows_why_and_keeps_it(
    page: Any, dashboard: Dashboard, watch: Watch
) -> None:
    watch.expect("/api/v1/jobs/", 409)
    first = new_id("needed")
    dashboard.add_job(id=first, command="true")
    needing = new_id("needing")
    dashboard.add_job(id=needing, command="true", depends_on=[first])
    page.goto(f"/jobs/{first}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#action-result")).to_contain_text(f"is needed by {needing}")
    expect(page.locator("#force-wrap")).to_be_visible()
    assert dashboard.api.get(f"/api/v1/jobs/{first}").status_code == 200


def test_the_backfill_control_follows_what_the_server_offers(
    page: Any, dashboard: Dashboard
) -> None:
    job_id = new_id("backfilled")
    dashboard.add_job(id=job_id, command="true", schedule="0 * * * *")
    offered = dashboard.api.post(
        f"/api/v1/jobs/{job_id}/backfill",
        json={"start": "2000-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z", "overlap": "skip"},
    ).status_code not in (404, 405)
    page.goto(f"/jobs/{job_id}")
    if not offered:
        expect(page.locator("#backfill-off")).to_have_text(
            "Backfill is not available on this server."
        )
        expect(page.locator("#backfill-form")).to_have_count(0)
        return
    page.get_by_label("From", exact=True).fill("2026-01-01T00:00:00")
    page.get_by_label("To", exact=True).fill("2026-01-01T05:00:00")
    page.get_by_label("From", exact=True).dispatch_event("change")
    expect(page.locator("#bf-preview")).to_contain_text("makes 5 runs")


# -- a run: stopping it, its output ----------------------------------------------------------


def _pids_running(marker: str) -> list[int]:
    """The processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def test_stop_a_long_command_from_the_run_page_and_its_process_is_gone(
    page: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    job_id = new_id("long")
    seconds = f"{300 + os.getpid() % 1000}.{next(_ids)}"  # a command line no one else runs
    dashboard.add_job(id=job_id, command=["sleep", seconds])
    run = dashboard.api.post(f"/api/v1/jobs/{job_id}/trigger").json()
    wait_until(lambda: dashboard.run(run["id"])["status"] == "running")
    pids = wait_until(lambda: _pids_running(f"sleep {seconds}"))
    page.goto(f"/runs/{run['id']}")
    stays_on(page)
    expect(page.locator("#run-status")).to_have_text("running")
    shot(page, tmp_path, "run-running")
    page.get_by_role("button", name="Stop this run").click()
    expect(page.locator("#run-status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Stop this run")).to_be_hidden()
    still_on(page)
    wait_until(lambda: not _pids_running(f"sleep {seconds}"))
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    shot(page, tmp_path, "run-cancelled")


def test_a_commands_output_is_followed_live_while_it_prints(
    page: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    job_id = new_id("printer")
    dashboard.add_job(
        id=job_id, command="for i in $(seq 1 30); do echo line $i; sleep 0.5; done", shell=True
    )
    run = dashboard.api.post(f"/api/v1/jobs/{job_id}/trigger").json()
    page.goto(f"/runs/{run['id']}")
    stays_on(page)
    output = page.locator("#run-output")
    expect(output).to_contain_text("line 2", timeout=10_000)
    # Seen while the command still prints: the run has not ended yet.
    assert dashboard.run(run["id"])["status"] == "running"
    expect(output).to_contain_text("line 30", timeout=40_000)
    expect(page.locator("#run-status")).to_have_text("succeeded")
    still_on(page)


def test_a_finished_commands_output_appears_without_reloading(
    page: Any, dashboard: Dashboard
) -> None:
    job_id = new_id("short-printer")
    dashboard.add_job(
        id=job_id, command="for i in 1 2 3; do echo step $i; sleep 1; done", shell=True
    )
    run = dashboard.api.post(f"/api/v1/jobs/{job_id}/trigger").json()
    page.goto(f"/runs/{run['id']}")
    stays_on(page)
    expect(page.locator("#run-output")).to_have_text("step 1\nstep 2\nstep 3\n", timeout=30_000)
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#run-exit")).to_have_text("0")
    still_on(page)


def test_output_with_a_script_tag_is_shown_as_text(
    page: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    job_id = new_id("scripted")
    payload = "<script>window.__injected = 1</script><img src=x onerror=window.__injected=2>"
    dashboard.add_job(id=job_id, command=["printf", "%s\\n", payload])
    run = dashboard.api.post(f"/api/v1/jobs/{job_id}/trigger").json()
    wait_until(lambda: dashboard.run(run["id"])["status"] == "succeeded")
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#run-output")).to_have_text(payload + "\n")
    assert page.locator("#run-output script, #run-output img").count() == 0
    assert page.evaluate("window.__injected === undefined")
    # The same output as the page is followed live (the run is still running when opened).
    slow = new_id("scripted-live")
    dashboard.add_job(id=slow, command=f"sleep 1; printf '%s\\n' '{payload}'", shell=True)
    live = dashboard.api.post(f"/api/v1/jobs/{slow}/trigger").json()
    page.goto(f"/runs/{live['id']}")
    expect(page.locator("#run-output")).to_have_text(payload + "\n", timeout=30_000)
    assert page.locator("#run-output script, #run-output img").count() == 0
    assert page.evaluate("window.__injected === undefined")
    shot(page, tmp_path, "run-script-output")


# -- looks and keyboard ---------------------------------------------------------------------


def _background(page: Any) -> str:
    color: str = page.evaluate("getComputedStyle(document.body).backgroundColor")
    return color


def _is_dark(color: str) -> bool:
    red, green, blue = (int(n) for n in re.findall(r"\d+", color)[:3])
    return red + green + blue < 3 * 80


def test_dark_mode_follows_the_system_and_the_toggle(
    browser: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    context = browser.new_context(base_url=dashboard.url, color_scheme="dark")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    log_in(page)
    assert _is_dark(_background(page))
    shot(page, tmp_path, "overview-dark")
    toggle = page.locator("#theme-toggle")
    toggle.click()  # system -> dark
    expect(toggle).to_have_text("Theme: dark")
    toggle.click()  # dark -> light
    expect(toggle).to_have_text("Theme: light")
    assert not _is_dark(_background(page))
    page.goto("/jobs")  # the choice is kept across pages
    assert not _is_dark(_background(page))
    expect(page.locator("#theme-toggle")).to_have_text("Theme: light")
    page.locator("#theme-toggle").click()
    expect(page.locator("#theme-toggle")).to_have_text("Theme: system")
    assert _is_dark(_background(page))
    shot(page, tmp_path, "jobs-dark")
    context.close()
    assert not watch.problems, watch.problems


def test_the_keyboard_reaches_the_content_and_the_actions(page: Any, dashboard: Dashboard) -> None:
    job_id = new_id("keyed")
    dashboard.add_job(id=job_id, command="true")
    page.goto(f"/jobs/{job_id}")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    page.get_by_role("button", name="Run now").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#action-result")).to_contain_text("Run ")
    wait_until(lambda: dashboard.runs_of(job_id))


def test_times_show_in_the_viewers_zone_with_the_jobs_zone_on_hover(
    browser: Any, dashboard: Dashboard
) -> None:
    job_id = new_id("zoned")
    dashboard.add_job(id=job_id, command="true", schedule="0 9 * * *", tz="America/New_York")
    context = browser.new_context(base_url=dashboard.url, timezone_id="Asia/Tokyo")
    page = context.new_page()
    log_in(page)
    page.goto(f"/jobs/{job_id}")
    first = page.locator("table.fires time").first
    expect(first).to_contain_text(re.compile(r"GMT\+9|JST"))
    assert "America/New_York" in (first.get_attribute("title") or "")
    page.goto(f"/jobs?q={job_id}")
    nxt = page.locator(f'tr[data-job="{job_id}"] td.next time')
    expect(nxt).to_contain_text(re.compile(r"GMT\+9|JST"))
    assert "the job's zone" in (nxt.get_attribute("title") or "")
    context.close()


def test_clock_changes_are_marked_in_the_jobs_zone_and_the_viewers(
    browser: Any, dashboard: Dashboard
) -> None:
    # Ten monthly fire times always cross a spring or an autumn change in both zones.
    job_id = new_id("monthly")
    dashboard.add_job(id=job_id, command="true", schedule="0 12 1 * *", tz="Europe/Paris")
    context = browser.new_context(base_url=dashboard.url, timezone_id="America/New_York")
    page = context.new_page()
    log_in(page)
    page.goto(f"/jobs/{job_id}")
    fires = page.locator("table.fires tbody tr")
    expect(fires).to_have_count(10)
    expect(fires.locator("td:first-child .dst-mark").first).to_contain_text("clocks change")
    expect(fires.locator("td:last-child .dst-mark").first).to_have_text(
        "your clocks change before this"
    )
    context.close()


def test_the_token_is_never_in_a_page(page: Any) -> None:
    for path in ["/", "/jobs", "/jobs/new"]:
        page.goto(path)
        assert TOKEN not in page.content()
