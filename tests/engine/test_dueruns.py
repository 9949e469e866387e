"""DueRuns: claimed runs come out when due, earliest first, each exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cronwork.engine.dueruns import DueRuns
from cronwork.runs import Run, due_time

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(i: int, offset_ms: int, retry_ms: int | None = None) -> Run:
    slot = T0 + timedelta(milliseconds=offset_ms)
    due = None if retry_ms is None else slot + timedelta(milliseconds=retry_ms)
    return Run(id=str(i), job_id=f"job{i % 7}", scheduled_for=slot, due_at=due)


batches = st.lists(
    st.lists(
        st.tuples(st.integers(0, 2000), st.none() | st.integers(0, 500)), min_size=0, max_size=30
    ),
    min_size=1,
    max_size=6,
)
steps = st.lists(st.integers(0, 3000), min_size=1, max_size=10)


@given(batches, steps)
def test_runs_come_out_once_each_in_due_order_and_only_when_due(
    claimed: list[list[tuple[int, int | None]]], pops: list[int]
) -> None:
    queue = DueRuns()
    ids = iter(range(10**6))
    added: list[Run] = []
    out: list[Run] = []
    for batch, at in zip(claimed, sorted(pops) + [10**6] * len(claimed), strict=False):
        runs = [run(next(ids), offset, retry) for offset, retry in batch]
        queue.add(runs)
        added += runs
        now = T0 + timedelta(milliseconds=at)
        popped = queue.pop_due(now)
        assert all(due_time(r) <= now for r in popped)
        # What stays is not due yet, and the earliest of it is what first() reports.
        rest = list(queue)
        assert all(due_time(r) > now for r in rest)
        assert queue.first() == (min(map(due_time, rest)) if rest else None)
        assert [due_time(r) for r in popped] == sorted(due_time(r) for r in popped)
        out += popped
    out += queue.pop_due(T0 + timedelta(days=1))
    assert not queue and len(queue) == 0 and queue.first() is None
    assert sorted(r.id for r in out) == sorted(r.id for r in added)


def test_in_order_batches_stay_on_the_lane_and_stragglers_still_come_first() -> None:
    queue = DueRuns()
    queue.add([run(1, 10), run(2, 20), run(3, 30)])
    queue.add([run(4, 5)])  # a retry due before everything claimed so far
    assert queue.first() == T0 + timedelta(milliseconds=5)
    assert [r.id for r in queue.pop_due(T0 + timedelta(milliseconds=20))] == ["4", "1", "2"]
    assert [r.id for r in queue] == ["3"]
    queue.clear()
    assert not queue


@given(
    st.lists(st.tuples(st.integers(0, 50), st.none() | st.integers(0, 20)), max_size=40),
    st.sets(st.integers(0, 39), max_size=10),
)
def test_waiting_runs_leave_earliest_first_and_can_be_taken_out(
    offsets: list[tuple[int, int | None]], removed: set[int]
) -> None:
    from cronwork.engine.dueruns import ReadyRuns
    from cronwork.jobs import make_job

    job = make_job("job", print, "every 1s", tz="UTC")
    ready = ReadyRuns()
    runs = [run(i, offset, retry) for i, (offset, retry) in enumerate(offsets)]
    for i, r in enumerate(runs):
        ready.push(r, job, T0 + timedelta(seconds=i))
    for i in removed:
        taken = ready.remove(str(i))
        assert (taken is None) == (i >= len(runs))
        if taken is not None:
            assert taken == (runs[i], job, T0 + timedelta(seconds=i))
    assert ready.remove("no such run") is None
    kept = [r for r in runs if int(r.id) not in removed]
    assert len(ready) == len(kept) and {r.id for r, _, _ in ready} == {r.id for r in kept}
    out = [ready.pop()[0] for _ in range(len(kept))]
    key = lambda r: (due_time(r), int(r.id))  # noqa: E731
    assert [key(r) for r in out] == sorted(key(r) for r in kept)
    assert not ready
