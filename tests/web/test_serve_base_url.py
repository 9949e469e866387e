"""Links in notifications point at the address people open: --base-url, else host and port."""

from __future__ import annotations

import pytest

from cronwork.cli import foreground
from cronwork.cli.serve import default_base_url


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 8080, "http://127.0.0.1:8080"),
        ("localhost", 9000, "http://localhost:9000"),
        ("::1", 8080, "http://[::1]:8080"),
        ("[::1]", 8080, "http://[::1]:8080"),
        ("10.1.2.3", 80, "http://10.1.2.3:80"),
        ("0.0.0.0", 8080, None),  # every interface: no one address to link to
        ("::", 8080, None),
        ("127.0.0.1", 0, None),  # a free port chosen later
    ],
)
def test_the_default_base_url_is_where_the_server_listens(
    host: str, port: int, url: str | None
) -> None:
    assert default_base_url(host, port) == url


def test_the_scheduler_of_serve_links_its_notifications_to_the_base_url() -> None:
    scheduler = foreground.open_scheduler(
        None,
        store="memory://",
        default_store="memory://",
        log_format="human",
        log_level=None,
        max_running=None,
        base_url="https://cron.example.org",
    )
    assert scheduler._settings.base_url == "https://cron.example.org"
