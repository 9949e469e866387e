"""A misspelt setting of Scheduler(...) or AsyncScheduler(...) is a SettingError naming it."""

from __future__ import annotations

import pytest

from cronwork import AsyncScheduler, CronworkError, Scheduler
from cronwork.errors import SettingError


@pytest.mark.parametrize("face", [Scheduler, AsyncScheduler])
def test_a_misspelt_setting_is_named_with_its_close_match(
    face: type[Scheduler] | type[AsyncScheduler],
) -> None:
    with pytest.raises(SettingError) as caught:
        face(max_runing=3)  # type: ignore[call-arg]
    error = caught.value
    assert isinstance(error, CronworkError)
    assert "max_runing" in str(error) and "did you mean max_running?" in str(error)
    assert (error.field, error.value) == ("max_runing", 3)


def test_a_setting_with_no_close_match_lists_the_settings() -> None:
    with pytest.raises(SettingError) as caught:
        Scheduler(colour="blue")  # type: ignore[call-arg]
    message = str(caught.value)
    assert "colour" in message and "did you mean" not in message
    assert "max_running" in message and "timezone" in message


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"notify": ["ftp://x/T0KEN"]}, "notify.url", "must start with http:// or https://"),
        ({"notify": [{"url": "https://x/T0KEN", "on": ["boom"]}]}, "notify.on", "'boom'"),
        ({"notify": 3}, "notify", "must be a list of URLs or tables"),
        ({"base_url": "cron.example"}, "base_url", "must be an http(s) URL"),
    ],
)
def test_a_bad_notify_or_base_url_setting_names_the_field(
    settings: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(SettingError) as caught:
        Scheduler(**settings)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert message in str(caught.value)
    assert "T0KEN" not in str(caught.value)
