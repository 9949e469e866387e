"""Dependencies between jobs: depends_on waits for fresh upstream successes; after(),
on_failure() and on_finish() start jobs when others end; the graph is validated."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from enginekit import START, kept, run_async

from cronwork import AsyncScheduler, JobError, RunStatus, Scheduler, after, on_failure, on_finish
from cronwork.stores import Store
from cronwork.testing import FakeClock

MINUTE = timedelta(minutes=1)


def recorder(log: list[str], name: str, fail: bool = False):
    def job() -> None:
        log.append(name)
        if fail:
            raise RuntimeError(f"{name} failed")

    job.__name__ = name
    return job


@run_async
async def test_a_dependent_run_waits_for_a_fresh_upstream_success(
    clock: FakeClock, store: Store
) -> None:
    log: list[str] = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as s:
        # load's 00:05 slot finds no extract success since load was added: it waits for the
        # 00:10 extract. Its 01:05 slot counts the 00:10 success (after its previous slot).
        await s.add_job("extract", kept(s, recorder(log, "extract")), "10 * * * *")
        await s.add_job("load", kept(s, recorder(log, "load")), "5 * * * *", depends_on=["extract"])
        await clock.run_for(timedelta(hours=1, minutes=6))
        loads = sorted(await s.runs("load"), key=lambda r: r.scheduled_for)
    assert log == ["extract", "load", "load"]
    first, second = loads
    assert first.status is RunStatus.SUCCEEDED
    assert first.scheduled_for == START + 5 * MINUTE
    assert first.queued_at == START + 5 * MINUTE  # when it began to wait
    assert first.started_at == START + 10 * MINUTE  # right after extract succeeded
    assert first.waited_for == ("extract",)
    assert second.started_at == START + timedelta(hours=1, minutes=5)


@run_async
async def test_an_old_success_does_not_satisfy_the_next_slot(
    clock: FakeClock, store: Store
) -> None:
    log: list[str] = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as s:
        await s.add_job("extract", kept(s, recorder(log, "extract")), START + 30 * MINUTE)
        await s.add_job(
            "load",
            kept(s, recorder(log, "load")),
            "0 * * * *",
            depends_on=["extract"],
            dependency_timeout="10m",
        )
        await clock.run_for(timedelta(hours=2, minutes=30))
        loads = sorted(await s.runs("load"), key=lambda r: r.scheduled_for)
    assert [r.status for r in loads] == [RunStatus.SUCCEEDED, RunStatus.SKIPPED]
    assert loads[1].scheduled_for == START + timedelta(hours=2)
    assert "dependency not met: extract (last success" in (loads[1].error or "")


@run_async
async def test_a_dependency_timeout_skips_and_counts_against_retries(
    clock: FakeClock, store: Store
) -> None:
    log: list[str] = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as s:
        await s.add_job("upstream", kept(s, recorder(log, "upstream", fail=True)), "0 * * * *")
        await s.add_job(
            "report",
            kept(s, recorder(log, "report")),
            "30 * * * *",
            depends_on=["upstream"],
            dependency_timeout="5m",
            retries=1,
            retry_backoff="1m",
        )
        await clock.run_for(timedelta(minutes=50))
        runs = sorted(await s.runs("report"), key=lambda r: r.attempt)
    assert "report" not in log
    assert [(r.attempt, r.status) for r in runs] == [
        (1, RunStatus.SKIPPED),
        (2, RunStatus.SKIPPED),
    ]
    first = runs[0]
    assert first.error == "skipped: dependency not met: upstream (no successful run yet)"
    assert first.waited_for == ("upstream",)
    assert first.finished_at - first.queued_at == timedelta(minutes=5)  # type: ignore[operator]
    assert runs[1].trigger == "retry"


@run_async
async def test_after_runs_a_chain_in_order(clock: FakeClock, store: Store) -> None:
    log: list[str] = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as s:
        await s.add_job("a", kept(s, recorder(log, "a")), "0 * * * *")
        await s.add_job("b", kept(s, recorder(log, "b")), after("a"))
        await s.add_job("c", kept(s, recorder(log, "c")), after("b"))
        await clock.run_for(timedelta(hours=2, minutes=1))
        c_runs = await s.runs("c")
        b_job = await s.get_job("b")
    assert log == ["a", "b", "c", "a", "b", "c"]
    assert b_job.next_run_at is None  # no time of its own
    assert {r.trigger for r in c_runs} == {"dependency"}
    assert all(r.status is RunStatus.SUCCEEDED for r in c_runs)


@run_async
async def test_fan_out_and_fan_in(clock: FakeClock, store: Store) -> None:
    log: list[str] = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as s:
        await s.add_job("root", kept(s, recorder(log, "root")), START + MINUTE)
        await s.add_job("left", kept(s, recorder(log, "left")), after("root"))
        await s.add_job("right", kept(s, recorder(log, "right")), after("root"))
        await s.add_job("join", kept(s, recorder(log, "join")), after("left", "right"))
        await clock.run_for(timedelta(minutes=5))
    assert log[0] == "root"
    assert sorted(log[1:3]) == ["left", "right"]
    assert log[3:] == ["join"]  # once, after both


@run_async
async def test_on_failure_fires_after_the_last_attempt_only(clock: FakeClock, store: Store) -> None:
    log: list[str] = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as s:
        await s.add_job(
            "backup",
            kept(s, recorder(log, "backup", fail=True)),
            START + MINUTE,
            retries=2,
            retry_backoff="10s",
        )
        await s.add_job("page", kept(s, recorder(log, "page")), on_failure("backup"))
        await s.add_job("summary", kept(s, recorder(log, "summary")), on_finish("backup"))
        await s.add_job("celebrate", kept(s, recorder(log, "celebrate")), after("backup"))
        await clock.run_for(timedelta(minutes=10))
    assert log.count("backup") == 3
    assert log[3:] in (["page", "summary"], ["summary", "page"])
    assert "celebrate" not in log


@run_async
async def test_a_paused_trigger_job_does_not_run(clock: FakeClock, store: Store) -> None:
    log: list[str] = []
    async with AsyncScheduler(store, clock=clock, timezone="UTC") as s:
        await s.add_job("a", kept(s, recorder(log, "a")), START + MINUTE)
        await s.add_job("b", kept(s, recorder(log, "b")), after("a"))
        await s.pause_job("b")
        await clock.run_for(timedelta(minutes=5))
    assert log == ["a"]


def test_unknown_ids_and_cycles_are_refused_and_change_nothing(store: Store) -> None:
    with Scheduler(store, timezone="UTC") as s:
        s.add_job("a", print, "every 1h")
        s.add_job("b", print, "every 1h", depends_on=["a"])
        with pytest.raises(JobError, match="job 'c' depends on unknown job 'nope'"):
            s.add_job("c", print, "every 1h", depends_on=["nope"])
        with pytest.raises(JobError, match="depends on unknown job 'zz'"):
            s.add_job("t", print, after("zz"))
        with pytest.raises(JobError, match=r"dependency cycle: a -> b -> a"):
            s.modify_job("a", depends_on=["b"])
        with pytest.raises(JobError, match="cannot depend on itself"):
            s.add_job("self", print, "every 1h", depends_on=["self"])
        assert [j.id for j in s.jobs()] == ["a", "b"]
        assert s.get_job("a").depends_on == ()


def test_removing_a_needed_job_needs_force(store: Store) -> None:
    with Scheduler(store, timezone="UTC") as s:
        s.add_job("extract", print, "every 1h")
        s.add_job("load", print, "every 1h", depends_on=["extract"])
        s.add_job("report", print, after("extract"))
        needed = r"'extract' is needed by load, report; to remove it anyway pass force=True"
        with pytest.raises(JobError, match=needed):
            s.remove_job("extract")
        assert s.get_job("extract")
        s.remove_job("extract", force=True)
        assert [j.id for j in s.jobs()] == ["load", "report"]


def test_dependency_state_survives_a_restart(tmp_path: Path) -> None:
    clock = FakeClock(START)
    url = f"sqlite:///{tmp_path / 'deps.db'}"
    log: list[str] = []
    with Scheduler(url, clock=clock, timezone="UTC") as s:
        s.add_job("extract", "builtins:print", START + MINUTE)
        s.add_job("load", "builtins:print", "0 * * * *", depends_on=["extract"])
        clock.run_for_sync(timedelta(minutes=2))
        assert [r.status for r in s.runs("extract")] == [RunStatus.SUCCEEDED]
    # A new process: extract's success is in the store, so load's first slot runs at once.
    with Scheduler(url, clock=clock, timezone="UTC") as s:
        s.on("run_started", lambda event: log.append(event.job_id))
        clock.run_for_sync(timedelta(hours=1))
        loads = s.runs("load")
    assert [r.status for r in loads] == [RunStatus.SUCCEEDED]
    assert loads[0].started_at == START + timedelta(hours=1)
    assert log == ["load"]
