"""What the pages compute: newest runs, sparklines, fire times with DST marks, the load ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashkit import add_job, add_run

from cronwork.jobs import make_job
from cronwork.runs import RunStatus
from cronwork.stores import Store
from cronwork.targets import make_target
from cronwork.web import digest

NOW = datetime(2026, 3, 10, 12, 7, 30, tzinfo=UTC)


def job(job_id: str, schedule: str, tz: str = "UTC", **keys: object):  # type: ignore[no-untyped-def]
    made = make_job(job_id, make_target("json:dumps"), schedule, tz=tz, **keys)  # type: ignore[arg-type]
    return made.replace(next_run_at=made.schedule.next_after(NOW))


def test_the_newest_run_of_each_job_is_its_latest_slot_in_every_store(store: Store) -> None:
    for job_id in ("a", "b", "idle"):
        add_job(store, job_id)
    add_run(store, "a", RunStatus.FAILED, hours_ago=1)
    add_run(store, "a", RunStatus.SUCCEEDED, hours_ago=3)
    add_run(store, "b", RunStatus.SUCCEEDED, hours_ago=5)
    add_run(store, "b", RunStatus.TIMED_OUT, hours_ago=2)
    assert digest.newest_statuses(store, store.jobs()) == {"a": "failed", "b": "timed_out"}


def test_recent_runs_come_oldest_first_and_at_most_the_limit(store: Store) -> None:
    add_job(store, "a")
    for hours in (5, 4, 3, 2, 1):
        add_run(store, "a", RunStatus.SUCCEEDED, hours_ago=hours, seconds=hours)
    recent = digest.recent_runs(store, ["a", "unknown"], limit=3)
    assert [r.duration for r in recent["a"]] == [3.0, 2.0, 1.0]
    assert recent["unknown"] == []


def test_the_next_fire_times_mark_where_the_clocks_change() -> None:
    paris = job("p", "30 1 * * *", tz="Europe/Paris")
    now = datetime(2026, 3, 26, 12, 0, tzinfo=UTC)  # Paris goes to summer time on the 29th
    fires = digest.next_fires(paris.replace(next_run_at=None), 5, now)
    assert [f.zone_time[:14] for f in fires] == [
        "Fri 2026-03-27",
        "Sat 2026-03-28",
        "Sun 2026-03-29",
        "Mon 2026-03-30",
        "Tue 2026-03-31",
    ]
    # The clocks go forward at 02:00 on the 29th, after that day's 01:30 run.
    change = "clocks change before this: UTC+01:00 → UTC+02:00"
    assert [f.dst_change for f in fires] == [None, None, None, change, None]
    assert all(f.zone_time.endswith(("CET", "CEST")) for f in fires)


def test_a_backfill_counts_the_slots_of_the_range_and_stops_past_the_cap() -> None:
    hourly = job("h", "0 * * * *")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert digest.slots_between(hourly, start, start + timedelta(hours=5), cap=100) == 5
    assert digest.slots_between(hourly, start, start + timedelta(days=30), cap=100) == 101


def test_the_load_ahead_counts_runs_per_minute_of_active_jobs_only() -> None:
    jobs = [
        job("quarter-1", "*/15 * * * *"),
        job("quarter-2", "*/15 * * * *"),
        job("nine", "0 9 * * *"),
        job("paused", "* * * * *", paused=True),
    ]
    heat = digest.heat_map(digest.fire_groups(jobs, NOW), NOW, seconds=60)
    assert heat.start == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert sum(heat.counts) == 2 * 96 + 1
    assert heat.counts[15] == 2  # 12:15, both quarter-hour jobs
    assert heat.counts[0] == 0  # 12:00 is before now
    nine = (datetime(2026, 3, 11, 9, 0, tzinfo=UTC) - heat.start) // timedelta(minutes=1)
    assert heat.counts[nine] == 3
    assert heat.busiest(1) == [(datetime(2026, 3, 11, 9, 0, tzinfo=UTC), 3)]
    assert heat.complete and heat.peak == 3
    # now is 12:07:30: the minute 12:07 is partly ahead, 12:06 is past.
    assert heat.outside(6) and not heat.outside(7)
    assert not heat.outside(24 * 60 + 7) and heat.outside(24 * 60 + 8)


def test_the_load_ahead_says_when_it_gave_up_counting(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(digest, "FIRE_BUDGET", 100)
    heat = digest.heat_map(digest.fire_groups([job("m", "* * * * *")], NOW), NOW, seconds=60)
    assert not heat.complete and sum(heat.counts) == 100


def test_a_job_whose_slot_is_past_counts_from_its_schedule_after_now() -> None:
    behind = job("behind", "*/15 * * * *").replace(next_run_at=NOW - timedelta(days=30))
    on_time = job("on-time", "*/15 * * * *")
    heat = digest.heat_map(digest.fire_groups([behind, on_time], NOW), NOW, seconds=60)
    assert sum(heat.counts) == 2 * 96 and heat.counts[15] == 2


def test_the_load_ahead_stops_counting_after_its_time() -> None:
    jobs = [job(f"j{m}", f"{m} * * * *") for m in range(60)]
    assert not digest.heat_map(digest.fire_groups(jobs, NOW), NOW, seconds=-1).complete


def test_a_kept_heat_map_is_computed_again_when_the_jobs_change() -> None:
    cache = digest.HeatCache()
    first = cache.get([job("a", "0 * * * *")], NOW)
    assert cache.get([job("a", "0 * * * *")], NOW) is first
    again = cache.get([job("a", "0 * * * *"), job("b", "30 * * * *")], NOW)
    assert sum(again.counts) == 2 * sum(first.counts)
