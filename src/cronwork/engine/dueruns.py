"""Runs the engine holds until they may start: claimed ones until due, then until a place."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from cronwork.jobs import Job
from cronwork.runs import Run, due_time

Key = tuple[datetime, int, str]


def order_key(run: Run) -> Key:
    """The order in which runs start: when each may start, then its id."""
    # Numeric ids (memory, SQLite) sort by value when compared by (length, text). Keys are
    # unique per run, so entries never compare past their key.
    return (due_time(run), len(run.id), run.id)


class _Lane:
    """Entries ``(key, ...)``, smallest key first.

    Runs mostly arrive in order already (a claim walks the jobs by next fire time; dispatch
    pops in due order), so they go on a sorted lane at O(1) each; an entry that would break
    the lane's order (a retry, a manual trigger, a job firing several times within the
    horizon) goes on a heap instead. At 20k runs a second, a heap of every run cost a push
    and a pop of a dozen levels of tuple comparisons per run, and an engine that had fallen
    behind, with every run waiting for a place, paid more per run than one that had not.
    """

    __slots__ = ("_heap", "_lane")

    def __init__(self) -> None:
        self._lane: deque[tuple[Any, ...]] = deque()
        self._heap: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self._lane) + len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._lane or self._heap)

    def _entries(self) -> Iterator[tuple[Any, ...]]:
        yield from self._lane
        yield from self._heap

    def _push(self, entry: tuple[Any, ...]) -> None:
        lane = self._lane
        if not lane or lane[-1][0] <= entry[0]:
            lane.append(entry)
        else:
            heapq.heappush(self._heap, entry)

    def _first(self) -> tuple[Any, ...] | None:
        lane, heap = self._lane, self._heap
        if heap and (not lane or heap[0][0] < lane[0][0]):
            return heap[0]
        return lane[0] if lane else None

    def _pop(self) -> tuple[Any, ...]:
        lane, heap = self._lane, self._heap
        if heap and (not lane or heap[0][0] < lane[0][0]):
            return heapq.heappop(heap)
        return lane.popleft()

    def _remove(self, run_id: str) -> tuple[Any, ...] | None:
        for i, entry in enumerate(self._lane):
            if entry[1].id == run_id:
                del self._lane[i]
                return entry
        for i, entry in enumerate(self._heap):
            if entry[1].id == run_id:
                self._heap.pop(i)
                heapq.heapify(self._heap)
                return entry
        return None

    def clear(self) -> None:
        """Forget every run."""
        self._lane.clear()
        self._heap.clear()


class DueRuns(_Lane):
    """The engine's claimed runs, earliest due first."""

    __slots__ = ()

    def __iter__(self) -> Iterator[Run]:
        """Every waiting run, in no particular order."""
        for _, run in self._entries():
            yield run

    def add(self, runs: Iterable[Run], leads: Mapping[str, timedelta] | None = None) -> None:
        """Add claimed runs; those of the jobs in ``leads`` fall due that much early (their
        executor starts ahead, see `StartsAhead`)."""
        if not leads:
            for run in runs:
                self._push((order_key(run), run))
            return
        for run in runs:
            key = order_key(run)
            lead = leads.get(run.job_id)
            if lead is not None:
                key = (key[0] - lead, key[1], key[2])
            self._push((key, run))

    def first(self) -> datetime | None:
        """When the earliest run is to be handed over; None when empty."""
        first = self._first()
        return None if first is None else first[0][0]

    def pop_due(self, now: datetime) -> list[Run]:
        """Remove and return the runs due at ``now`` (or to be handed over then), earliest
        first."""
        due: list[Run] = []
        while (first := self._first()) is not None and first[0][0] <= now:
            due.append(self._pop()[1])
        return due


class ReadyRuns(_Lane):
    """Runs waiting for a place under ``max_running``, earliest due first."""

    __slots__ = ()

    def __iter__(self) -> Iterator[tuple[Run, Job, datetime | None]]:
        """Every waiting run with its job and queued_at, in no particular order."""
        for _, run, job, queued_at in self._entries():
            yield run, job, queued_at

    def push(self, run: Run, job: Job, queued_at: datetime | None) -> None:
        """Add a run that waits for a place."""
        self._push((order_key(run), run, job, queued_at))

    def pop(self) -> tuple[Run, Job, datetime | None]:
        """Remove and return the earliest run (there must be one)."""
        _, run, job, queued_at = self._pop()
        return run, job, queued_at

    def remove(self, run_id: str) -> tuple[Run, Job, datetime | None] | None:
        """Take out the run with this id; None if it is not waiting here."""
        entry = self._remove(run_id)
        if entry is None:
            return None
        _, run, job, queued_at = entry
        return run, job, queued_at
