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
