"""A misspelt keyword of add_job or modify_job is a JobError naming it and its close match."""

from __future__ import annotations

import pytest

from cronwork import AsyncScheduler, Scheduler
from cronwork.errors import JobError
from cronwork.stores import Store


def noop() -> None:
    pass


def test_add_job_names_a_misspelt_setting_and_its_close_match(store: Store) -> None:
    scheduler = Scheduler(store, timezone="UTC")
    with pytest.raises(JobError) as caught:
        scheduler.add_job("j", noop, "every 1m", retires=3)  # type: ignore[call-arg]
    error = caught.value
    assert "cannot set retires (did you mean retries?)" in str(error)
    assert (error.job_id, error.field, error.value) == ("j", "retires", 3)
    assert scheduler.jobs() == []


def test_modify_job_raises_the_same_error_for_the_same_mistake(store: Store) -> None:
    scheduler = Scheduler(store, timezone="UTC")
    before = scheduler.add_job("j", noop, "every 1m")
    with pytest.raises(JobError) as caught:
        scheduler.modify_job("j", retires=3)  # type: ignore[call-arg]
    error = caught.value
    assert "cannot modify retires (did you mean retries?)" in str(error)
    assert (error.job_id, error.field, error.value) == ("j", "retires", 3)
    assert scheduler.get_job("j") == before


def test_the_async_face_refuses_a_misspelt_setting_the_same_way() -> None:
    import asyncio

    async def main() -> None:
        scheduler = AsyncScheduler(timezone="UTC")
        with pytest.raises(JobError, match="did you mean max_instances"):
            await scheduler.add_job("j", noop, "every 1m", max_instance=2)  # type: ignore[call-arg]

    asyncio.run(main())


def test_a_keyword_far_from_any_setting_lists_them_all(store: Store) -> None:
    scheduler = Scheduler(store, timezone="UTC")
    with pytest.raises(JobError, match=r"cannot set colour; use args, .*timezone"):
        scheduler.add_job("j", noop, "every 1m", colour="red")  # type: ignore[call-arg]
