"""Fixtures of the browser tests: one served dashboard and one Chromium per session, and a
fresh, logged-in page per test that fails the test on any console error or failed request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, Dashboard, Watch, log_in, missing


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, launched once per module: the sync API runs an event loop in this thread,
    which asyncio.run() in the tests of other modules must not find running."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Python Playwright is not installed (pip install 'cronwork[browser]')")
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    playwright = sync_playwright().start()
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()
    playwright.stop()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Dashboard]:
    """``cronwork serve --allow-commands`` with a token, over a new SQLite store."""
    served = Dashboard(tmp_path_factory.mktemp("dashboard"), "--allow-commands")
    yield served
    served.stop()


@pytest.fixture
def watch() -> Watch:
    """What went wrong on the test's page; the test fails if anything did."""
    return Watch()


@pytest.fixture
def page(browser: Any, dashboard: Dashboard, watch: Watch) -> Iterator[Any]:
    """A new browser context (light colour scheme), logged in with the token."""
    context = browser.new_context(
        base_url=dashboard.url, color_scheme="light", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    watch.attach(opened)
    log_in(opened)
    yield opened
    problems = list(watch.problems)
    context.close()
    assert not problems, "\n".join(problems)
