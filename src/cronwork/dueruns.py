"""Runs the engine holds until they may start: claimed ones until due, then until a place."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime

from cronwork.jobs import Job
from cronwork.runs import Run

# A run waiting for a place: (order key, run, job, queued_at).
_Waiting = tuple[tuple[datetime, int, str], Run, Job, datetime | None]


class DueRuns:
    """The engine's claimed runs, earliest due first.

    A claim hands over runs mostly in due order already (the store walks its jobs by next
    fire time), so they go on a sorted lane at O(1) each; a run that would break the lane's
    order (a retry, a manual trigger, a job firing several times within the horizon) goes on
    a heap instead. At 20k runs a second, a heap of every claimed run cost a push and a pop of
    a dozen levels of tuple comparisons per run.
    """

    __slots__ = ("_heap", "_lane")

    def __init__(self) -> None:
        self._lane: deque[tuple[datetime, Run]] = deque()
        self._heap: list[tuple[tuple[datetime, int, str], Run]] = []

    def __len__(self) -> int:
        return len(self._lane) + len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._lane or self._heap)

    def __iter__(self) -> Iterator[Run]:
        """Every waiting run, in no particular order."""
        for _, run in self._lane:
            yield run
        for _, run in self._heap:
            yield run

    def add(self, runs: Iterable[Run]) -> None:
        """Add claimed runs."""
        lane, heap = self._lane, self._heap
        for run in runs:
            due = run.due_at or run.scheduled_for
            if not lane or lane[-1][0] <= due:
                lane.append((due, run))
            else:
                # Numeric ids (memory, SQLite) sort by value when compared by (length, text).
                heapq.heappush(heap, ((due, len(run.id), run.id), run))

    def first(self) -> datetime | None:
        """When the earliest run is due; None when empty."""
        lane, heap = self._lane, self._heap
        if lane:
            if heap and heap[0][0][0] < lane[0][0]:
                return heap[0][0][0]
            return lane[0][0]
        return heap[0][0][0] if heap else None

    def pop_due(self, now: datetime) -> list[Run]:
        """Remove and return the runs due at ``now``, earliest first."""
        lane, heap = self._lane, self._heap
        due: list[Run] = []
        if not heap:
            while lane and lane[0][0] <= now:
                due.append(lane.popleft()[1])
            return due
        while True:
            from_lane = lane and lane[0][0] <= now
            from_heap = heap and heap[0][0][0] <= now
            if from_lane and from_heap:
                if heap[0][0][0] < lane[0][0]:
                    due.append(heapq.heappop(heap)[1])
                else:
                    due.append(lane.popleft()[1])
            elif from_lane:
                due.append(lane.popleft()[1])
            elif from_heap:
                due.append(heapq.heappop(heap)[1])
            else:
                return due

    def clear(self) -> None:
        """Forget every run."""
        self._lane.clear()
        self._heap.clear()


class ReadyRuns:
    """Runs waiting for a place under ``max_running``, earliest due first.

    Laid out like `DueRuns`: runs arrive from dispatch in due order, so they go on a lane at
    O(1) each, and only a run that would break its order (a retry, a manual trigger) on a
    heap. When every place is taken, every run passes through here; with a heap alone, an
    engine that had fallen behind paid more per run than one that had not, and stayed behind.
    """

    __slots__ = ("_heap", "_lane")

    def __init__(self) -> None:
        self._lane: deque[_Waiting] = deque()
        self._heap: list[_Waiting] = []

    def __len__(self) -> int:
        return len(self._lane) + len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._lane or self._heap)

    def __iter__(self) -> Iterator[tuple[Run, Job, datetime | None]]:
        """Every waiting run with its job and queued_at, in no particular order."""
        for _, run, job, queued_at in self._lane:
            yield run, job, queued_at
        for _, run, job, queued_at in self._heap:
            yield run, job, queued_at

    def push(self, run: Run, job: Job, queued_at: datetime | None) -> None:
        """Add a run that waits for a place."""
        # Numeric ids (memory, SQLite) sort by value when compared by (length, text); keys
        # are unique, so entries never compare their runs.
        entry = ((run.due_at or run.scheduled_for, len(run.id), run.id), run, job, queued_at)
        lane = self._lane
        if not lane or lane[-1][0] <= entry[0]:
            lane.append(entry)
        else:
            heapq.heappush(self._heap, entry)

    def pop(self) -> tuple[Run, Job, datetime | None]:
        """Remove and return the earliest run (there must be one)."""
        lane, heap = self._lane, self._heap
        if heap and (not lane or heap[0][0] < lane[0][0]):
            _, run, job, queued_at = heapq.heappop(heap)
        else:
            _, run, job, queued_at = lane.popleft()
        return run, job, queued_at

    def remove(self, run_id: str) -> tuple[Run, Job, datetime | None] | None:
        """Take out the run with this id; None if it is not waiting here."""
        for i, entry in enumerate(self._lane):
            if entry[1].id == run_id:
                del self._lane[i]
                return entry[1], entry[2], entry[3]
        for i, entry in enumerate(self._heap):
            if entry[1].id == run_id:
                self._heap.pop(i)
                heapq.heapify(self._heap)
                return entry[1], entry[2], entry[3]
        return None

    def clear(self) -> None:
        """Forget every run."""
        self._lane.clear()
        self._heap.clear()
