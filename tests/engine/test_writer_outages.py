"""The writer keeps run records the store could not be reached for, and writes them later."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from enginekit import START, eventually, run_async

from cronwork.backoff import Backoff
from cronwork.engine.writer import Writer
from cronwork.errors import StoreUnavailable
from cronwork.runs import Run, RunStatus
from cronwork.stores import MemoryStore


class Unreachable(MemoryStore):
    """A store whose server is away until ``back`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.back = False
        self.attempts = 0
        self.saved: list[Run] = []

    def save_runs(self, runs: Sequence[Run]) -> None:
        self.attempts += 1
        if not self.back:
            raise StoreUnavailable("the server is restarting")
        self.saved += runs


async def inline(func: Any, *args: Any) -> Any:
    return func(*args)


@run_async
async def test_records_the_store_could_not_be_reached_for_are_written_once_it_is_back() -> None:
    store = Unreachable()
    outage = Backoff("the store", logging.getLogger("test"), first=0.01, cap=0.02)
    writer = Writer(store, real_time=False, off_loop=inline, poke=lambda: None, outage=outage)
    writer.loop = asyncio.get_running_loop()
    run = Run(id="1", job_id="j", scheduled_for=START, created_at=START)
    writer.save(run)
    await eventually(lambda: store.attempts >= 3)
    assert outage.down and list(writer.dirty) == ["1"]
    # A newer record of the run, queued during the outage, is the one written.
    writer.save(run.replace(status=RunStatus.SUCCEEDED, finished_at=START))
    store.back = True
    await eventually(lambda: bool(store.saved))
    assert [(r.id, r.status) for r in store.saved] == [("1", RunStatus.SUCCEEDED)]
    assert not outage.down and not writer.dirty
