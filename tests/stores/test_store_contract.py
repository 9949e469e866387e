"""The Store contract: every store (memory, SQLite, PostgreSQL) passes these tests.

Instants are fixed (T0 and offsets from it); nothing reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storekit import LEASE, T0, StoreFactory, at, job, run

from cronwork.errors import DuplicateJob, JobNotFound, RunNotFound, TargetError
from cronwork.jobs import Job
from cronwork.notify import parse_notify
from cronwork.runs import RunBrief, RunStatus
from cronwork.stores import Store
from cronwork.stores.paging import RunFilter, run_key
from cronwork.targets import Command, Target, make_target

SECOND = timedelta(seconds=1)


def claim(store: Store, now: datetime, horizon: float = 0, node: str = "n1"):  # type: ignore[no-untyped-def]
    return store.claim(now, timedelta(seconds=horizon), node, LEASE)


# -- jobs ------------------------------------------------------------------------------


def test_added_job_comes_back_equal(store: Store) -> None:
    added = job("a")
    store.add_job(added)
    assert store.get_job("a") == added
    assert store.jobs() == [added]


def test_notify_targets_and_the_pause_note_come_back_equal(store: Store) -> None:
    targets = parse_notify(
        [
            "https://hooks.example/a?token=s3cret",
            {"url": "http://127.0.0.1:9/x", "on": ["recovered"]},
        ],
        "a",
    )
    added = job("a").replace(notify=targets, paused=True, pause_note="disk <full>, back at 10")
    store.add_job(added)
    assert store.get_job("a") == added
    store.update_job(added.replace(paused=False, pause_note=None, notify=()))
    assert (store.get_job("a").pause_note, store.get_job("a").notify) == (None, ())


def test_jobs_are_listed_by_id(store: Store) -> None:
    for job_id in ["b", "c", "a"]:
        store.add_job(job(job_id))
    assert [j.id for j in store.jobs()] == ["a", "b", "c"]


def test_jobs_come_a_page_at_a_time_in_id_order(store: Store) -> None:
    for job_id in ["d", "b", "e", "a", "c"]:
        store.add_job(job(job_id))
    first = store.jobs_page(limit=2)
    assert [j.id for j in first] == ["a", "b"]
    assert [j.id for j in store.jobs_page(after="b", limit=2)] == ["c", "d"]
    assert [j.id for j in store.jobs_page(after="d", limit=2)] == ["e"]
    assert store.jobs_page(after="e") == []
    assert store.jobs_page(after="b", limit=1) == [store.get_job("c")]


def test_adding_an_existing_id_fails_unless_replace(store: Store) -> None:
    store.add_job(job("a", "every 10s"))
    with pytest.raises(DuplicateJob, match="'a'"):
        store.add_job(job("a", "every 20s"))
    assert store.get_job("a").schedule.source == "every 10s"
    store.add_job(job("a", "every 20s"), replace=True)
    assert store.get_job("a").schedule.source == "every 20s"


def test_unknown_job_ids_raise_job_not_found(store: Store) -> None:
    with pytest.raises(JobNotFound):
        store.get_job("nope")
    with pytest.raises(JobNotFound):
        store.update_job(job("nope"))
    with pytest.raises(JobNotFound):
        store.remove_job("nope")


def test_update_overwrites_definition_and_state(store: Store) -> None:
    store.add_job(job("a"))
    changed = job("a", "*/5 * * * *", retries=3, paused=True, next_run_at=at(300))
    store.update_job(changed)
    assert store.get_job("a") == changed


ROUND_TRIP_SCHEDULES = [
    ("*/5 * * * *", "Europe/Berlin"),
    ("0 9 * * 1-5", "America/New_York"),
    ("H H * * *", "UTC"),
    ("@daily", "Asia/Kolkata"),
    ("every 90s", "UTC"),
    ("every 1h from 2026-01-01T00:30:00+01:00", "Europe/Berlin"),
    ("at 2026-06-01 10:00", "Europe/Paris"),
    ("every monday at 09:00", "Europe/Berlin"),
    ("0 0 L * *", "UTC"),
]


@pytest.mark.parametrize(("text", "zone"), ROUND_TRIP_SCHEDULES)
def test_every_schedule_kind_round_trips(store: Store, text: str, zone: str) -> None:
    added = job("a", text, tz=zone)
    store.add_job(added)
    loaded = store.get_job("a")
    assert loaded == added
    assert loaded.schedule.source == added.schedule.source
    assert loaded.timezone == zone
    assert loaded.schedule.upcoming(5, T0) == added.schedule.upcoming(5, T0)


TARGETS = [
    make_target("os.path:join"),
    Target("task", "nightly-report"),
    make_target(Command("./backup.sh --full 'two words'", cwd="/srv", env={"A": "1"})),
    make_target(Command("echo $HOME | wc -c", shell=True)),
    make_target(Command(["python", "-c", "print(1)"])),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.kind + ":" + t.ref[:12])
def test_every_target_kind_round_trips(store: Store, target: Target) -> None:
    added = job("a", target=target)
    store.add_job(added)
    loaded = store.get_job("a")
    assert loaded.target == target
    assert loaded.target.command == target.command


def test_every_job_field_round_trips(store: Store) -> None:
    berlin = "Europe/Berlin"
    added = job(
        "reports/daily:eu@1",
        "30 6 * * 1-5",
        tz=berlin,
        timeout="45m",
        on_timeout="warn",
        retries=4,
        retry_backoff="15s",
        retry_backoff_max="10m",
        overlap="queue",
        max_instances=3,
        misfire="all",
        misfire_grace="2m",
        start_at="2026-01-01T00:00:00",
        end_at=datetime(2027, 1, 1, tzinfo=UTC),
        jitter="90s",
        args=[1, "two", [3.5, None], {"four": True}],
        kwargs={"region": "eu", "limits": {"rows": 10}, "ünïcode": "✓"},
        tags=["reports", "eu"],
        executor="process",
        depends_on=["extract", "load"],
        dependency_timeout="1h",
        paused=True,
        origin="jobs.toml:12",
        next_run_at=datetime(2026, 3, 3, 5, 30, 17, 123456, tzinfo=UTC),
        broken="cannot import module 'reports'",
        created_at=datetime(2026, 2, 1, 8, 0, 0, 1, tzinfo=UTC),
    )
    store.add_job(added)
    loaded = store.get_job(added.id)
    assert loaded == added
    for name in added.__dataclass_fields__:
        assert getattr(loaded, name) == getattr(added, name), name
    assert loaded.schedule.upcoming(3, T0) == added.schedule.upcoming(3, T0)


def test_broken_flag_round_trips_and_clears(store: Store) -> None:
    store.add_job(job("a"))
    store.update_job(store.get_job("a").replace(broken="no task named 'x' is registered"))
    assert store.get_job("a").broken == "no task named 'x' is registered"
    assert store.jobs()[0].broken is not None
    store.update_job(store.get_job("a").replace(broken=None))
    assert store.get_job("a").broken is None


def test_start_up_checks_read_named_targets_once_and_only_the_jobs_concerned(
    store: Store,
) -> None:
    store.add_job(job("a", target="os.path:join"))
    store.add_job(job("b", target="os.path:join"))
    store.add_job(job("c", target="json:dumps"))
    store.add_job(job("d", target=Command(("true",))))
    store.add_job(job("e", target="json:loads", broken="was broken"))
    assert store.named_targets() == [
        ("call", "json:dumps"),
        ("call", "json:loads"),
        ("call", "os.path:join"),
    ]
    checked = store.jobs_to_check([("call", "os.path:join")])
    assert [j.id for j in checked] == ["a", "b", "e"]
    assert [j.id for j in store.jobs_to_check([])] == ["e"]


def test_jobs_are_counted_by_state_a_broken_one_as_broken_even_if_paused(store: Store) -> None:
    assert store.job_counts() == {"active": 0, "paused": 0, "broken": 0}  # type: ignore[attr-defined]
    store.add_job(job("a"))
    store.add_job(job("b"))
    store.add_job(job("c").replace(paused=True))
    store.add_job(job("d", broken="cannot import"))
    store.add_job(job("e", broken="cannot import").replace(paused=True))
    counts = store.job_counts()  # type: ignore[attr-defined]
    assert counts == {"active": 2, "paused": 1, "broken": 2}


def test_triggered_jobs_are_found_without_the_others(store: Store) -> None:
    store.add_job(job("up", next_run_at=None))
    store.add_job(job("down", "after up", next_run_at=None))
    store.add_job(job("fail", "on_failure up, down", next_run_at=None))
    store.add_job(job("afternoon", "every day at 15:00", next_run_at=None))
    assert [j.id for j in store.triggered_jobs()] == ["down", "fail"]


def test_callable_targets_are_refused_by_persistent_stores(store: Store) -> None:
    lambda_job = job("a").replace(target=make_target(lambda: None))
    if store.url.startswith("memory"):
        store.add_job(lambda_job)
        return
    with pytest.raises(TargetError, match="import path") as error:
        store.add_job(lambda_job)
    assert "@scheduler.task" in str(error.value)
    with pytest.raises(JobNotFound):
        store.get_job("a")
    store.add_job(job("a"))
    with pytest.raises(TargetError):
        store.update_job(lambda_job)


# -- claiming ---------------------------------------------------------------------------


def test_claim_takes_due_slots_and_writes_next_fire_time(store: Store) -> None:
    store.add_job(job("a", "every 10s", next_run_at=T0))
    taken = claim(store, T0)
    assert [(r.job_id, r.scheduled_for) for r in taken.runs] == [("a", T0)]
    first = taken.runs[0]
    assert first.status is RunStatus.SCHEDULED
    assert first.node == "n1"
    assert first.lease_until == T0 + LEASE
    assert first.due_at == T0
    assert first.trigger == "schedule"
    assert first.attempt == 1
    assert store.get_run(first.id) == first
    assert store.get_job("a").next_run_at == at(10)
    assert taken.missed == []


def test_claim_looks_ahead_up_to_the_horizon(store: Store) -> None:
    store.add_job(job("a", "every 10s", next_run_at=T0))
    taken = claim(store, at(1), horizon=25)
    assert [r.scheduled_for for r in taken.runs] == [T0, at(10), at(20)]
    assert [r.due_at for r in taken.runs] == [T0, at(10), at(20)]
    assert store.get_job("a").next_run_at == at(30)


def test_nothing_is_claimed_before_it_is_due(store: Store) -> None:
    store.add_job(job("a", "every 10s", next_run_at=at(10)))
    assert claim(store, T0, horizon=9.999).runs == []
    assert store.get_job("a").next_run_at == at(10)
    assert [r.scheduled_for for r in claim(store, T0, horizon=10).runs] == [at(10)]


def test_a_slot_is_never_claimed_twice(store: Store) -> None:
    store.add_job(job("a", "every 10s", next_run_at=T0))
    assert len(claim(store, T0, node="n1").runs) == 1
    assert claim(store, T0, node="n1").runs == []
    assert claim(store, T0, node="n2").runs == []


def test_paused_and_broken_jobs_claim_nothing(store: Store) -> None:
    store.add_job(job("paused", paused=True))
    store.add_job(job("broken", broken="cannot import"))
    taken = claim(store, at(100))
    assert taken.runs == [] and taken.missed == []
    assert store.get_job("paused").next_run_at == T0
    assert store.get_job("broken").next_run_at == T0


def test_exhausted_schedule_leaves_no_next_fire_time(store: Store) -> None:
    once = job("a", "at 2026-03-02 12:00", next_run_at=T0)
    store.add_job(once)
    assert len(claim(store, T0).runs) == 1
    assert store.get_job("a").next_run_at is None
    assert claim(store, at(3600)).runs == []
    assert store.next_wakeup() is None


def test_claim_respects_the_limit_and_leaves_the_rest_due(store: Store) -> None:
    for i in range(10):
        store.add_job(job(f"j{i}", next_run_at=T0))
    first = store.claim(T0, timedelta(0), "n1", LEASE, limit=4)
    assert len(first.runs) == 4
    rest = store.claim(T0, timedelta(0), "n1", LEASE, limit=100)
    assert len(rest.runs) == 6
    assert {r.job_id for r in first.runs + rest.runs} == {f"j{i}" for i in range(10)}


@pytest.mark.parametrize(
    ("policy", "ran", "missed"),
    [
        ("skip", [], [0, 10, 20, 30]),
        ("once", [30], [0, 10, 20]),
        ("all", [0, 10, 20, 30], []),
    ],
)
def test_misfired_slots_follow_the_policy_and_are_recorded(
    store: Store, policy: str, ran: list[int], missed: list[int]
) -> None:
    store.add_job(job("a", "every 10s", misfire=policy, misfire_grace=0, next_run_at=T0))
    taken = claim(store, at(35))
    assert [r.scheduled_for for r in taken.runs] == [at(s) for s in ran]
    assert all(r.trigger == "misfire" and r.due_at == at(35) for r in taken.runs)
    assert [r.scheduled_for for r in taken.missed] == [at(s) for s in missed]
    for record in taken.missed:
        assert record.status is RunStatus.MISSED
        assert record.finished_at == at(35)
        assert record.node is None
        assert "missed" in (record.error or "")
        assert store.get_run(record.id) == record
    assert store.get_job("a").next_run_at == at(40)
    stored = {r.scheduled_for for r in store.runs("a", RunStatus.MISSED)}
    assert stored == {at(s) for s in missed}


def test_late_slots_within_the_grace_run_normally(store: Store) -> None:
    store.add_job(job("a", "every 10s", misfire="skip", misfire_grace="30s", next_run_at=T0))
    taken = claim(store, at(25))
    assert [r.scheduled_for for r in taken.runs] == [T0, at(10), at(20)]
    assert all(r.trigger == "schedule" for r in taken.runs)


def test_unowned_runs_are_adopted_when_due(store: Store) -> None:
    store.add_job(job("a", next_run_at=None))
    manual = store.add_run(run("a", at(5), trigger="manual"))
    retry = store.add_run(run("a", T0, attempt=2, due_at=at(60), trigger="retry"))
    assert manual is not None and retry is not None
    assert manual.id and manual.node is None
    assert store.next_wakeup() == at(5)
    assert claim(store, at(4)).runs == []
    taken = claim(store, at(5), node="n2")
    assert [r.id for r in taken.runs] == [manual.id]
    assert taken.runs[0].node == "n2"
    assert taken.runs[0].lease_until == at(5) + LEASE
    assert store.get_run(manual.id) == taken.runs[0]
    assert store.next_wakeup() == at(60)
    assert claim(store, at(30), node="n3").runs == []
    assert [r.id for r in claim(store, at(60), node="n3").runs] == [retry.id]
    assert claim(store, at(60), node="n4").runs == []


def test_retries_of_a_paused_job_wait_but_manual_runs_do_not(store: Store) -> None:
    store.add_job(job("a", paused=True, next_run_at=None))
    retry = store.add_run(run("a", T0, attempt=2, due_at=at(1), trigger="retry"))
    manual = store.add_run(run("a", at(2), trigger="manual"))
    assert retry is not None and manual is not None
    assert [r.id for r in claim(store, at(10)).runs] == [manual.id]
    assert store.next_wakeup() is None, "a parked retry must not wake the engine"
    assert claim(store, at(10)).runs == []
    store.update_job(store.get_job("a").replace(paused=False))
    assert store.next_wakeup() == at(1)
    assert [r.id for r in claim(store, at(10)).runs] == [retry.id]


def test_next_wakeup_is_the_earliest_due_instant(store: Store) -> None:
    assert store.next_wakeup() is None
    store.add_job(job("a", next_run_at=at(30)))
    store.add_job(job("b", next_run_at=at(20)))
    store.add_job(job("c", next_run_at=at(5), paused=True))
    assert store.next_wakeup() == at(20)
    store.add_run(run("a", at(7), trigger="manual"))
    assert store.next_wakeup() == at(7)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=40),  # seconds since the previous claim
            st.floats(min_value=0, max_value=15),  # look-ahead
            st.sampled_from(["n1", "n2", "n3"]),
        ),
        min_size=1,
        max_size=12,
    ),
    policy=st.sampled_from(["skip", "once", "all"]),
    schedule=st.sampled_from(["every 3s", "every 7s", "*/10 * * * * *", "*/2 * * * * *"]),
)
def test_random_claims_take_each_slot_exactly_once(
    make_store: StoreFactory,
    steps: list[tuple[float, float, str]],
    policy: str,
    schedule: str,
) -> None:
    store = make_store()
    try:
        _claim_at_random(store, steps, policy, schedule)
    finally:
        store.close()  # a PostgreSQL store's database then serves the next example


def _claim_at_random(
    store: Store, steps: list[tuple[float, float, str]], policy: str, schedule: str
) -> None:
    added = job("a", schedule, misfire=policy, misfire_grace="5s")
    first = added.schedule.next_after(T0 - timedelta(microseconds=1))
    store.add_job(added.replace(next_run_at=first))
    now = T0
    seen: list[datetime] = []
    for gap, horizon, node in steps:
        now += timedelta(seconds=gap)
        taken = claim(store, now, horizon, node)
        seen += [r.scheduled_for for r in taken.runs + taken.missed]
        assert all(r.scheduled_for <= now + timedelta(seconds=horizon) for r in taken.runs)
    assert len(seen) == len(set(seen)), "a slot was taken twice"
    # The slots taken are exactly the schedule's fire times before the next one due.
    upto = store.get_job("a").next_run_at
    assert upto is not None
    expected = []
    slot = first
    while slot is not None and slot < upto:
        expected.append(slot)
        slot = added.schedule.next_after(slot)
    assert sorted(seen) == expected
    assert {r.scheduled_for for r in store.runs("a", limit=10_000)} == set(expected)


# -- runs -------------------------------------------------------------------------------


def test_add_run_refuses_an_existing_slot_and_attempt(store: Store) -> None:
    store.add_job(job("a"))
    first = store.add_run(run("a", T0))
    assert first is not None
    assert store.add_run(run("a", T0)) is None
    second = store.add_run(run("a", T0, attempt=2))
    assert second is not None and second.id != first.id
    assert store.add_run(run("a", T0.astimezone(UTC))) is None


def test_claimed_slots_are_unique_against_added_runs(store: Store) -> None:
    store.add_job(job("a", "every 10s", next_run_at=T0))
    assert store.add_run(run("a", T0, trigger="manual")) is not None
    taken = claim(store, T0)
    # The existing unowned run of the slot is adopted; no second run of the slot appears.
    assert [r.scheduled_for for r in taken.runs] == [T0]
    assert len(store.runs("a")) == 1


def test_save_runs_writes_the_outcome(store: Store) -> None:
    store.add_job(job("a", next_run_at=T0))
    (claimed,) = claim(store, T0).runs
    started = claimed.replace(status=RunStatus.RUNNING, queued_at=T0, started_at=at(0.25))
    store.save_runs([started])
    assert store.get_run(claimed.id) == started
    done = started.replace(
        status=RunStatus.FAILED,
        finished_at=at(2.5),
        exit_code=3,
        output="line 1\nline ✓\n",
        error="Traceback (most recent call last):\n  ...\nValueError: boom",
        waited_for=("extract", "load"),
    )
    store.save_runs([done])
    assert store.get_run(claimed.id) == done
    assert store.get_run(claimed.id).duration == 2.25


def test_save_runs_keeps_a_cancel_request_made_meanwhile(store: Store) -> None:
    store.add_job(job("a", next_run_at=T0))
    (claimed,) = claim(store, T0).runs
    store.request_cancel(claimed.id, at(1))
    store.save_runs([claimed.replace(status=RunStatus.RUNNING, started_at=at(1))])
    assert store.get_run(claimed.id).cancel_requested


def test_save_runs_writes_many_in_one_call(store: Store) -> None:
    for i in range(50):
        store.add_job(job(f"j{i:02}", next_run_at=T0))
    taken = claim(store, T0).runs
    store.save_runs(
        [r.replace(status=RunStatus.SUCCEEDED, started_at=T0, finished_at=at(1)) for r in taken]
    )
    assert len(store.runs(status=RunStatus.SUCCEEDED, limit=1000)) == 50


def test_unknown_run_ids_raise_run_not_found(store: Store) -> None:
    with pytest.raises(RunNotFound):
        store.get_run("999999")
    with pytest.raises(RunNotFound):
        store.get_run("not-a-number")
    with pytest.raises(RunNotFound):
        store.request_cancel("999999", T0)


def test_runs_are_listed_newest_slot_first_and_filtered(store: Store) -> None:
    for job_id in ["a", "b"]:
        store.add_job(job(job_id, next_run_at=None))
        for second in [0, 20, 10]:
            store.add_run(run(job_id, at(second)))
    store.add_run(run("a", at(10), attempt=2))
    listed = [(r.job_id, r.scheduled_for, r.attempt) for r in store.runs("a")]
    assert listed == [("a", at(20), 1), ("a", at(10), 2), ("a", at(10), 1), ("a", T0, 1)]
    assert [r.scheduled_for for r in store.runs()][:2] == [at(20), at(20)]
    assert len(store.runs()) == 7
    assert len(store.runs(limit=3)) == 3
    assert store.runs("missing") == []
    (one,) = store.runs("b", limit=1)
    store.save_runs([one.replace(status=RunStatus.SKIPPED, finished_at=T0)])
    assert [r.id for r in store.runs(status=RunStatus.SKIPPED)] == [one.id]
    assert [r.id for r in store.runs("b", RunStatus.SKIPPED)] == [one.id]
    assert store.runs("a", RunStatus.SKIPPED) == []


def test_the_newest_run_of_many_jobs_is_the_first_of_each_ones_listing(store: Store) -> None:
    for job_id in ["a", "b", "c"]:
        store.add_job(job(job_id, next_run_at=None))
    for job_id, second, attempt in [("a", 0, 1), ("a", 20, 1), ("a", 20, 2), ("b", 5, 1)]:
        store.add_run(run(job_id, at(second), attempt=attempt))
    (done,) = store.runs("b", limit=1)
    store.save_runs([done.replace(status=RunStatus.FAILED, finished_at=at(6))])
    newest = store.newest_briefs(["a", "b", "c", "missing"])
    assert sorted(newest) == ["a", "b"]  # c and missing have no run
    for job_id, found in newest.items():
        assert found == RunBrief.of(store.runs(job_id, limit=1)[0])
    assert newest["a"].id == store.runs("a", limit=1)[0].id
    assert store.get_run(newest["a"].id).attempt == 2
    assert (newest["b"].status, newest["b"].finished_at) == (RunStatus.FAILED, at(6))
    assert store.newest_briefs([]) == {}


def _paged(store: Store, wanted: RunFilter, size: int) -> list[list[str]]:
    """The ids of every page of ``wanted``, each page asked for after the last one's key."""
    pages: list[list[str]] = []
    while True:
        page = store.runs_page(wanted, limit=size)
        if not page:
            return pages
        pages.append([r.id for r in page])
        wanted = replace(wanted, after=run_key(page[-1]))


def test_run_pages_follow_the_listing_order_and_never_repeat_a_run(store: Store) -> None:
    for job_id in ["a", "b"]:
        store.add_job(job(job_id, next_run_at=None))
        for second in [0, 20, 10, 30, 40]:
            store.add_run(run(job_id, at(second)))
    store.add_run(run("a", at(10), attempt=2))
    everything = [r.id for r in store.runs(limit=100)]
    assert len(everything) == 11
    pages = _paged(store, RunFilter(), size=3)
    assert [len(p) for p in pages] == [3, 3, 3, 2]
    assert [i for p in pages for i in p] == everything
    of_a = _paged(store, RunFilter(job_id="a"), size=4)
    assert [i for p in of_a for i in p] == [r.id for r in store.runs("a")]


def test_run_pages_filter_by_status_and_slot_range(store: Store) -> None:
    store.add_job(job("a", next_run_at=None))
    stored = [store.add_run(run("a", at(second))) for second in range(6)]
    assert all(stored)
    failed = [r for r in stored[::2] if r]
    store.save_runs([r.replace(status=RunStatus.FAILED, finished_at=at(60)) for r in failed])
    in_range = store.runs_page(RunFilter(since=at(1), until=at(4)))
    assert [r.scheduled_for for r in in_range] == [at(3), at(2), at(1)]
    wanted = RunFilter(status=RunStatus.FAILED, since=at(1))
    assert [r.scheduled_for for r in store.runs_page(wanted)] == [at(4), at(2)]
    scheduled = RunFilter(job_id="a", status=RunStatus.SCHEDULED)
    assert [i for p in _paged(store, scheduled, size=2) for i in p] == [
        r.id for r in reversed(stored[1::2]) if r
    ]
    assert store.runs_page(RunFilter(job_id="missing")) == []


def test_last_finished_is_by_finish_time(store: Store) -> None:
    store.add_job(job("a", next_run_at=None))
    assert store.last_finished("a") is None
    early = store.add_run(run("a", at(0)))
    late = store.add_run(run("a", at(10)))
    going = store.add_run(run("a", at(20)))
    assert early and late and going
    store.save_runs(
        [
            early.replace(status=RunStatus.SUCCEEDED, started_at=at(0), finished_at=at(50)),
            late.replace(status=RunStatus.FAILED, started_at=at(10), finished_at=at(11)),
            going.replace(status=RunStatus.RUNNING, started_at=at(20)),
        ]
    )
    last = store.last_finished("a")
    assert last is not None and last.id == early.id
    failed = store.last_finished("a", RunStatus.FAILED)
    assert failed is not None and failed.id == late.id
    assert store.last_finished("a", RunStatus.TIMED_OUT) is None


# -- leases and cancellation ------------------------------------------------------------


def test_leases_are_renewed_for_unfinished_runs_of_the_node(store: Store) -> None:
    for job_id in ["a", "b", "c"]:
        store.add_job(job(job_id, next_run_at=T0))
    runs = {r.job_id: r for r in claim(store, T0, node="n1").runs}
    store.save_runs([runs["c"].replace(status=RunStatus.SUCCEEDED, finished_at=at(1))])
    store.add_job(job("d", next_run_at=T0))
    claim(store, T0, node="n2")
    assert store.renew_leases("n1", at(100)) == 2
    assert store.get_run(runs["a"].id).lease_until == at(100)
    assert store.get_run(runs["c"].id).lease_until == T0 + LEASE
    assert store.expire_leases(at(60)) != []  # n2's run
    assert store.get_run(runs["a"].id).status is RunStatus.SCHEDULED


def test_expired_leases_mark_runs_lost(store: Store) -> None:
    store.add_job(job("a", next_run_at=T0))
    store.add_job(job("b", next_run_at=T0))
    taken = {r.job_id: r for r in claim(store, T0, node="dead").runs}
    store.save_runs([taken["a"].replace(status=RunStatus.RUNNING, started_at=T0)])
    assert store.expire_leases(T0 + LEASE) == []
    lost = store.expire_leases(T0 + LEASE + SECOND)
    assert sorted(r.job_id for r in lost) == ["a", "b"]
    for record in lost:
        assert record.status is RunStatus.LOST
        assert record.finished_at == T0 + LEASE + SECOND
        assert "dead" in (record.error or "")
        assert store.get_run(record.id) == record
    assert store.expire_leases(at(1000)) == []


def test_owners_are_the_nodes_holding_unfinished_runs(store: Store) -> None:
    for job_id in ["a", "b", "c"]:
        store.add_job(job(job_id, next_run_at=T0))
    store.add_run(run("a", at(60), trigger="manual"))  # unowned: nobody's
    taken = {r.job_id: r for r in claim(store, T0, node="n1").runs}
    store.save_runs([taken["c"].replace(status=RunStatus.SUCCEEDED, finished_at=at(1))])
    store.add_job(job("d", next_run_at=T0))
    store.add_job(job("e", next_run_at=T0))
    others = {r.job_id: r for r in claim(store, T0, node="n2").runs}
    store.save_runs([others["e"].replace(status=RunStatus.FAILED, finished_at=at(1))])
    assert sorted(store.owners()) == ["n1", "n2"]
    assert sorted(r.job_id for r in store.unfinished_runs("n1")) == ["a", "b"]
    assert [r.job_id for r in store.unfinished_runs("n2")] == ["d"]
    assert store.unfinished_runs("n3") == []


def test_running_runs_are_counted_on_every_node(store: Store) -> None:
    assert store.running_count() == 0  # type: ignore[attr-defined]
    for job_id in ["a", "b", "c"]:
        store.add_job(job(job_id, next_run_at=T0))
    store.add_run(run("a", at(60), trigger="manual"))  # unowned and waiting: not running
    mine = {r.job_id: r for r in claim(store, T0, node="n1").runs}
    store.add_job(job("d", next_run_at=T0))
    theirs = claim(store, T0, node="n2").runs
    started = [mine["a"], mine["b"], *theirs]  # c stays claimed, not started
    store.save_runs([r.replace(status=RunStatus.RUNNING, started_at=T0) for r in started])
    assert store.running_count() == 3  # type: ignore[attr-defined]
    done = mine["b"].replace(status=RunStatus.SUCCEEDED, started_at=T0, finished_at=at(1))
    store.save_runs([done])
    assert store.running_count() == 2  # type: ignore[attr-defined]


def test_runs_of_a_dead_node_are_lost_at_once_with_their_retries(store: Store) -> None:
    store.add_job(job("a", next_run_at=T0, retries=1, retry_backoff="5s", retry_backoff_max="5s"))
    store.add_job(job("b", next_run_at=T0))
    dead = {r.job_id: r for r in claim(store, T0, node="dead").runs}
    store.save_runs([dead["a"].replace(status=RunStatus.RUNNING, started_at=T0)])
    store.add_job(job("c", next_run_at=T0))
    [alive] = claim(store, T0, node="alive").runs
    # Long before the lease runs out.
    lost = store.expire_leases(at(1), dead=["dead"])
    assert sorted(r.job_id for r in lost) == ["a", "b"]
    for record in lost:
        assert record.status is RunStatus.LOST
        assert record.finished_at == at(1)
        assert record.error == "lost: node 'dead' ended while the run was unfinished"
        assert store.get_run(record.id) == record
    assert store.get_run(alive.id).status is RunStatus.SCHEDULED
    retry, _first = store.runs("a")
    assert (retry.attempt, retry.trigger, retry.node) == (2, "retry", None)
    assert store.expire_leases(at(2), dead=["dead"]) == []


def test_unowned_runs_never_expire(store: Store) -> None:
    store.add_job(job("a", next_run_at=None))
    store.add_run(run("a", T0, trigger="manual"))
    assert store.expire_leases(at(10_000)) == []


def test_cancelling_an_unowned_run_cancels_it_at_once(store: Store) -> None:
    store.add_job(job("a", next_run_at=None))
    pending = store.add_run(run("a", at(60), trigger="manual"))
    assert pending is not None
    cancelled = store.request_cancel(pending.id, at(1))
    assert cancelled.status is RunStatus.CANCELLED
    assert cancelled.finished_at == at(1)
    assert store.get_run(pending.id) == cancelled
    assert claim(store, at(60)).runs == []


def test_cancelling_an_owned_run_flags_it_for_its_node(store: Store) -> None:
    store.add_job(job("a", next_run_at=T0))
    (claimed,) = claim(store, T0, node="n1").runs
    assert store.cancel_requests("n1") == []
    flagged = store.request_cancel(claimed.id, at(1))
    assert flagged.cancel_requested and flagged.status is RunStatus.SCHEDULED
    assert [r.id for r in store.cancel_requests("n1")] == [claimed.id]
    assert store.cancel_requests("n2") == []
    store.save_runs([flagged.replace(status=RunStatus.CANCELLED, finished_at=at(2))])
    assert store.cancel_requests("n1") == []


def test_cancelling_a_finished_run_changes_nothing(store: Store) -> None:
    store.add_job(job("a", next_run_at=None))
    done = store.add_run(run("a", T0, status=RunStatus.SUCCEEDED, finished_at=at(1)))
    assert done is not None
    assert store.request_cancel(done.id, at(5)) == done


# -- retention and removal --------------------------------------------------------------


def _history(store: Store, job_id: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        added = store.add_run(
            run(job_id, at(i * 10), status=RunStatus.SUCCEEDED, finished_at=at(i * 10 + 1))
        )
        assert added is not None
        ids.append(added.id)
    return ids


def test_prune_keeps_the_newest_runs_per_job(store: Store) -> None:
    store.add_job(job("a", next_run_at=None))
    store.add_job(job("b", next_run_at=None))
    a_ids = _history(store, "a", 10)
    b_ids = _history(store, "b", 2)
    going = store.add_run(run("a", at(-100)))  # unfinished runs are never pruned
    assert going is not None
    assert store.prune(at(1000), keep_last=3) == 7
    assert {r.id for r in store.runs("a")} == {*a_ids[-3:], going.id}
    assert {r.id for r in store.runs("b")} == set(b_ids)


def test_prune_removes_runs_older_than_the_age(store: Store) -> None:
    store.add_job(job("a", next_run_at=None))
    ids = _history(store, "a", 10)  # finished at 1, 11, ..., 91
    assert store.prune(at(100), older_than=timedelta(seconds=50)) == 5
    assert {r.id for r in store.runs("a")} == set(ids[5:])
    assert store.prune(at(100), keep_last=2, older_than=timedelta(seconds=50)) == 3
    assert {r.id for r in store.runs("a")} == set(ids[8:])
    assert store.prune(at(100)) == 0


def test_removing_a_job_keeps_its_history_but_drops_pending_runs(store: Store) -> None:
    store.add_job(job("a", next_run_at=None))
    history = _history(store, "a", 3)
    pending = store.add_run(run("a", at(500), trigger="manual"))
    assert pending is not None
    store.remove_job("a")
    with pytest.raises(JobNotFound):
        store.get_job("a")
    assert {r.id for r in store.runs("a")} == set(history)
    with pytest.raises(RunNotFound):
        store.get_run(pending.id)
    assert store.last_finished("a") is not None
    assert claim(store, at(1000)).runs == []


def test_removing_a_job_leaves_its_claimed_runs_to_the_engine_that_holds_them(
    store: Store,
) -> None:
    store.add_job(job("a"))
    claimed = claim(store, T0).runs
    assert len(claimed) == 1
    # The engine may have ended the run already and not yet written it (records are batched).
    store.remove_job("a")
    assert store.get_run(claimed[0].id).status is RunStatus.SCHEDULED
    store.save_runs([claimed[0].replace(status=RunStatus.SKIPPED, finished_at=at(1))])
    assert [r.status for r in store.runs("a")] == [RunStatus.SKIPPED]


def test_a_slot_that_cannot_be_planned_fails_alone_and_the_claim_goes_on(store: Store) -> None:
    store.add_job(job("a"))
    store.add_job(job("b"))
    # Beyond what validation allows: the late slot's misfire check overflows the calendar.
    store.update_job(store.get_job("a").replace(misfire_grace=timedelta(days=999_999_999)))
    taken = claim(store, at(5))
    assert [r.job_id for r in taken.runs] == ["b"]
    [failed] = taken.missed
    assert (failed.job_id, failed.status, failed.scheduled_for) == ("a", RunStatus.FAILED, T0)
    assert "OverflowError" in (failed.error or "")
    assert store.get_job("a").next_run_at == at(10)  # it moves on to its next slot


def test_a_retry_that_cannot_be_computed_does_not_fail_the_lease_expiry(store: Store) -> None:
    huge = timedelta(days=99_999_999)
    store.add_job(job("a", retries=1))
    store.add_job(job("b", retries=1))
    store.update_job(store.get_job("a").replace(retry_backoff=huge, retry_backoff_max=huge))
    assert len(claim(store, T0).runs) == 2
    lost = store.expire_leases(at(100))
    assert sorted(r.job_id for r in lost) == ["a", "b"]
    assert {r.status for r in store.runs()} >= {RunStatus.LOST}
    retries = [r for r in store.runs(status=RunStatus.SCHEDULED) if r.attempt == 2]
    assert [r.job_id for r in retries] == ["b"]


def test_claim_returns_the_jobs_it_advanced(store: Store) -> None:
    store.add_job(job("a", "every 10s", next_run_at=T0))
    store.add_job(job("b", "every 10s", next_run_at=at(100)))
    taken = claim(store, T0)
    assert set(taken.jobs) == {"a"}
    current = store.get_job("a")
    assert current.next_run_at == at(10)
    # The definition, whatever next_run_at it carries.
    assert taken.jobs["a"].replace(next_run_at=None) == current.replace(next_run_at=None)


def test_jobs_sharing_a_hashed_schedule_text_keep_their_own_times(store: Store) -> None:
    for job_id in ["alpha", "beta", "gamma"]:
        store.add_job(job(job_id, "H H * * *"))
    loaded = {j.id: j.schedule.next_after(T0) for j in store.jobs()}
    expected = {j: job(j, "H H * * *").schedule.next_after(T0) for j in loaded}
    assert loaded == expected
    assert len(set(loaded.values())) > 1


def test_expiry_inserts_the_retry_of_lost_runs_in_the_same_step(store: Store) -> None:
    at_t0 = "at 2026-03-02 12:00"
    store.add_job(job("once", at_t0, retries=0))
    store.add_job(job("twice", at_t0, retries=1, retry_backoff="5s", retry_backoff_max="5s"))
    taken = {r.job_id: r for r in claim(store, T0, node="dead").runs}
    lost = store.expire_leases(at(100))
    assert {r.job_id for r in lost} == {"once", "twice"}
    assert [r.attempt for r in store.runs("once")] == [1]
    retry, _first = store.runs("twice")
    assert (retry.attempt, retry.trigger, retry.node) == (2, "retry", None)
    assert retry.scheduled_for == taken["twice"].scheduled_for
    assert at(105) <= (retry.due_at or T0) <= at(106.25)
    assert store.add_run(retry.replace(id="")) is None  # the engine's own retry is a no-op
    # The retry, once claimed and lost in turn, has no retry left.
    assert [r.id for r in claim(store, at(110), node="dead2").runs] == [retry.id]
    assert len(store.expire_leases(at(1000))) == 1
    assert len(store.runs("twice")) == 2


# -- syncing jobs in one transaction ---------------------------------------------------


class InjectedFault(Exception):
    """Raised on purpose in the middle of a sync."""


def _snapshot(store: Store) -> tuple[object, ...]:
    """Everything a sync could touch, as seen from outside the store."""
    return store.jobs(), store.runs(limit=1000), store.next_wakeup()


def _stored_for_sync(store: Store) -> None:
    store.add_job(job("keep", "every 10s"))
    store.add_job(job("change", "every 10s"))
    store.add_job(job("drop", "every 10s", next_run_at=at(5)))
    assert store.add_run(run("drop", at(500), trigger="manual")) is not None


def test_sync_jobs_applies_writes_and_removals_together(store: Store) -> None:
    _stored_for_sync(store)
    seen: list[str] = []

    def plan(jobs: list[Job]) -> tuple[list[Job], list[str]]:
        seen.extend(j.id for j in jobs)
        return [job("change", "every 20s"), job("new", "every 30s")], ["drop"]

    store.sync_jobs(plan)
    assert seen == ["change", "drop", "keep"]
    assert [j.id for j in store.jobs()] == ["change", "keep", "new"]
    assert store.get_job("change").schedule.source == "every 20s"
    assert store.runs("drop") == []


@pytest.mark.parametrize("fault_in", ["writes", "removals"])
def test_a_fault_between_two_sync_writes_changes_nothing(store: Store, fault_in: str) -> None:
    _stored_for_sync(store)
    before = _snapshot(store)

    def writes() -> Iterator[Job]:
        yield job("change", "every 20s", next_run_at=at(1))
        if fault_in == "writes":
            raise InjectedFault("between the first and the second write")
        yield job("new", "every 30s")

    def removals() -> Iterator[str]:
        yield "drop"
        raise InjectedFault("after the first removal")

    with pytest.raises(InjectedFault):
        store.sync_jobs(lambda jobs: (writes(), removals()))
    assert _snapshot(store) == before
    # The store still works as before: the dropped job's pending run is there to claim.
    assert [r.job_id for r in claim(store, at(600)).runs if r.trigger == "manual"] == ["drop"]


def test_a_failing_sync_plan_changes_nothing(store: Store) -> None:
    _stored_for_sync(store)
    before = _snapshot(store)

    def plan(jobs: list[Job]) -> tuple[list[Job], list[str]]:
        raise InjectedFault("the plan refused")

    with pytest.raises(InjectedFault):
        store.sync_jobs(plan)
    assert _snapshot(store) == before
