"""The memory store's own promises, beyond the contract: compact, collector-free history."""

from __future__ import annotations

import gc
from datetime import timedelta
from zoneinfo import ZoneInfo

from storekit import LEASE, T0, at, job, run

from cronwork.runs import Run, RunStatus
from cronwork.stores import MemoryStore
from cronwork.stores.packing import pack, unpack


def _finish(store: MemoryStore, count: int, job_id: str = "a") -> list[Run]:
    store.add_job(job(job_id, "every 1s", next_run_at=T0))
    taken = store.claim(T0, timedelta(seconds=count - 1), "n1", LEASE).runs
    assert len(taken) == count
    done = [
        r.replace(
            status=RunStatus.SUCCEEDED,
            started_at=r.scheduled_for,
            finished_at=r.scheduled_for + timedelta(milliseconds=5),
        )
        for r in taken
    ]
    store.save_runs(done)
    return done


def test_finished_runs_are_invisible_to_the_garbage_collector() -> None:
    store = MemoryStore()
    done = _finish(store, 200)
    gc.collect()
    for container in (store._done["a"], store._slots["a"], store._where):
        assert not gc.is_tracked(container)
    assert store._runs == {}
    assert store.runs("a", limit=1000) == sorted(done, key=lambda r: r.scheduled_for)[::-1]


def test_a_packed_run_comes_back_equal_with_every_field() -> None:
    paris = ZoneInfo("Europe/Paris")
    original = run(
        "a",
        T0.astimezone(paris),
        attempt=3,
        status=RunStatus.FAILED,
        node="host:1:abc",
        queued_at=at(0.5),
        started_at=at(1),
        finished_at=at(2.000001),
        lease_until=at(30),
        exit_code=2,
        output="out ✓",
        error="Traceback ...",
        due_at=at(0.25),
        trigger="retry",
        cancel_requested=True,
        waited_for=("x", "y"),
    ).replace(id="17")
    record = pack(original)
    assert isinstance(record, bytes)
    back = unpack("17", "a", record)
    assert back == original
    assert back.scheduled_for.utcoffset() == timedelta(0)


def test_instants_shared_between_fields_come_back_as_equal_instants() -> None:
    # A claimed run is due at its very slot object, and a run that never waited for a place
    # was queued at its very start instant; the record marks these instead of converting.
    slot, started = at(0), at(1)
    original = run(
        "a",
        slot,
        status=RunStatus.SUCCEEDED,
        queued_at=started,
        started_at=started,
        finished_at=at(2),
        due_at=slot,
    ).replace(id="5")
    back = unpack("5", "a", pack(original))
    assert back == original
    assert back.due_at == back.scheduled_for == slot
    assert back.queued_at == back.started_at == started
    # An instant equal to another but not the same object still comes back by value.
    apart = original.replace(due_at=at(0) + timedelta(0), queued_at=at(3))
    assert unpack("5", "a", pack(apart)) == apart


def test_history_is_trimmed_to_keep_runs_per_job_oldest_first() -> None:
    store = MemoryStore(keep_runs=10)
    done = _finish(store, 25)
    kept = store.runs("a", limit=100)
    assert 10 <= len(kept) <= 20
    assert [r.id for r in kept] == [r.id for r in done[::-1][: len(kept)]]
    assert len(store._slots["a"]) == len(kept)


def test_unfinished_runs_are_the_only_ones_scanned_for_leases() -> None:
    store = MemoryStore()
    _finish(store, 50)
    store.add_job(job("b", "every 1s", next_run_at=T0))
    (going,) = store.claim(T0, timedelta(0), "n1", LEASE).runs
    assert set(store._runs) == {going.id}
    assert store.renew_leases("n1", at(100)) == 1


def test_last_finished_follows_new_outcomes_after_a_first_lookup() -> None:
    store = MemoryStore()
    _finish(store, 3)
    first = store.last_finished("a")
    assert first is not None
    failed = store.add_run(run("a", at(50)))
    assert failed is not None
    store.save_runs([failed.replace(status=RunStatus.FAILED, finished_at=at(60))])
    latest = store.last_finished("a")
    assert latest is not None and latest.id == failed.id
    succeeded = store.last_finished("a", RunStatus.SUCCEEDED)
    assert succeeded is not None and succeeded.id == first.id
    store.prune(at(100), keep_last=0)
    assert store.last_finished("a") is None
