"""Write-behind of run records: runs are saved in batches, never one transaction per run.

A run that starts and ends between two flushes is written once, finished. A batch the store
refuses is retried one record at a time, so a record the store cannot take costs only its
own run. A batch the store could not be reached for is kept and written again after the
outage's backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from cronwork.backoff import Backoff
from cronwork.errors import StoreUnavailable
from cronwork.executors import format_error
from cronwork.runs import Run, RunStatus
from cronwork.stores import Store

from .runstate import Active, extra, isolated, logger
from .settings import FLUSH_AT, FLUSH_DELAY, INLINE_FLUSH_DELAY


class Writer:
    """The run records waiting to be written, and the flushes that write them.

    ``real_time`` is the clock's (see Clock.real_time); ``shared`` the store's: a shared
    store is written on the store thread (``off_loop``), another one inline on the loop.
    ``poke`` tells the engine's idle watchers that something was written.
    """

    def __init__(
        self,
        store: Store,
        *,
        real_time: bool,
        off_loop: Callable[..., Awaitable[Any]],
        poke: Callable[[], None],
        outage: Backoff | None = None,
    ) -> None:
        self.store = store
        self._outage = outage or Backoff("the store", logger)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._real_time = real_time
        self._inline = not store.shared
        self._off_loop = off_loop
        self._poke = poke
        # Records waiting to be written; an Active is turned into its record on flush.
        self.dirty: dict[str, Run | Active] = {}
        self._scheduled = False
        self.flushing: asyncio.Task[None] | None = None

    def busy(self) -> bool:
        """True while records wait or a flush is under way."""
        return bool(self.dirty) or (self.flushing is not None and not self.flushing.done())

    def save(self, run: Run | Active) -> None:
        """Queue ``run``'s record (an Active is read when the batch is written)."""
        self.dirty[run.run.id if isinstance(run, Active) else run.id] = run
        if self._scheduled:
            return
        self._scheduled = True
        assert self.loop is not None
        if self._inline:
            # A short delay lets most short runs finish before their first write, so they
            # are recorded once, finished, instead of once running and once finished.
            # Under a test clock, time stands still meanwhile: write at once.
            if len(self.dirty) >= FLUSH_AT or not self._real_time:
                self.loop.call_soon(self.flush_inline)
            else:
                self.loop.call_later(INLINE_FLUSH_DELAY, self.flush_inline)
        else:
            delay = 0.0 if len(self.dirty) >= FLUSH_AT else FLUSH_DELAY
            self.loop.call_later(delay, self._start_flush)

    def _batch(self) -> list[Run]:
        dirty, self.dirty = self.dirty, {}
        return [item.record() if isinstance(item, Active) else item for item in dirty.values()]

    def flush_inline(self) -> None:
        """Write what waits, on the loop (a store that is not shared)."""
        self._scheduled = False
        batch = self._batch()
        if batch:
            unavailable = self._write(batch)
            if unavailable is not None:
                self._keep(batch, unavailable)
            else:
                self._outage.succeeded()
        self._poke()

    def _keep(self, batch: list[Run], exc: StoreUnavailable) -> None:
        """Keep the records of a batch the store could not be reached for, and write them
        again after the outage's backoff (a newer record of a run, queued meanwhile, wins)."""
        for run in batch:
            self.dirty.setdefault(run.id, run)
        delay = self._outage.failed(exc)
        if not self._scheduled:
            self._scheduled = True
            assert self.loop is not None
            flush = self.flush_inline if self._inline else self._start_flush
            self.loop.call_later(delay, flush)

    def _write(self, batch: list[Run]) -> StoreUnavailable | None:
        """Save a batch of records; on the store thread unless the store is inline.

        When the store cannot be reached, nothing is written and the error is returned, for
        the batch to be kept. When the batch fails otherwise, its records are saved one by
        one, so that a record the store refuses costs only its own run (see _unrecordable);
        when every one fails too, the store itself is failing, and that is logged once.
        """
        try:
            self.store.save_runs(batch)
            return None
        except StoreUnavailable as exc:
            return exc
        except Exception as exc:
            if len(batch) == 1:
                self._unrecordable(batch[0], exc)
                return None
            first: Exception = exc
        refused: list[tuple[Run, Exception]] = []
        isolated(
            batch,
            lambda run: self.store.save_runs([run]),
            lambda run, error: refused.append((run, error)),
        )
        if len(refused) == len(batch):
            logger.error("could not record %d run(s)", len(batch), exc_info=first)
            return None
        for run, error in refused:
            self._unrecordable(run, error)
        return None

    def _unrecordable(self, run: Run, exc: Exception) -> None:
        """A record the store refused: save the run as failed with the error, if it ended."""
        logger.error(
            "could not record run %s of job %s",
            run.id,
            run.job_id,
            exc_info=exc,
            extra=extra(run.job_id, run.id),
        )
        if not run.status.finished:
            return  # its final record is still to come
        note = f"the engine could not record this run ({run.status.value}): {format_error(exc)}"
        failed = run.replace(status=RunStatus.FAILED, output=None, error=note)
        try:
            self.store.save_runs([failed])
        except Exception:
            logger.exception("run %s of job %s is left unrecorded", run.id, run.job_id)

    def _start_flush(self) -> None:
        self._scheduled = False
        if self.flushing is not None and not self.flushing.done():
            # One write at a time keeps them in order; the running one reschedules us.
            self._scheduled = True
            self.flushing.add_done_callback(lambda _: self._restart_flush())
            return
        assert self.loop is not None
        self.flushing = self.loop.create_task(self.flush())

    def _restart_flush(self) -> None:
        self._scheduled = False
        if self.dirty:
            self._start_flush()
        self._poke()

    async def flush(self) -> None:
        """Write what waits now (on the store thread for a shared store)."""
        batch = self._batch()
        if batch:
            unavailable = None
            try:
                if self._inline:
                    unavailable = self._write(batch)
                else:
                    unavailable = await self._off_loop(self._write, batch)
            except Exception:  # the store thread itself is gone
                logger.exception("could not record %d run(s)", len(batch))
            if unavailable is not None:
                self._keep(batch, unavailable)
            else:
                self._outage.succeeded()
        self._poke()

    async def write_now(self) -> None:
        """Write pending run records, so store queries see the latest outcomes."""
        if not self.dirty:
            return
        if self._inline:
            self.flush_inline()
        else:
            await self.flush()
