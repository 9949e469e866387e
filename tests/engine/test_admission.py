"""What a job's overlap policy does to a new run while others run: the engine's and the
manual trigger's one verdict, checked without an event loop."""

from __future__ import annotations

from cronwork.engine.admission import RUN, oldest, overlap_verdict
from cronwork.jobs import Job, make_job


def job(overlap: str, max_instances: int = 1) -> Job:
    return make_job(
        "j", "cronwork.testing:FakeClock", "* * * * *", overlap=overlap, max_instances=max_instances
    )


def test_a_job_with_nothing_running_runs() -> None:
    assert overlap_verdict(job("skip"), []) is RUN


def test_overlap_skip_skips_naming_the_oldest_running_run() -> None:
    verdict = overlap_verdict(job("skip"), {"10", "9"})
    assert verdict.skipped
    assert verdict.reason == "run 9 is still running (overlap=skip)"


def test_overlap_allow_runs_below_max_instances_and_skips_at_it() -> None:
    assert overlap_verdict(job("allow", max_instances=3), ["1", "2"]) is RUN
    verdict = overlap_verdict(job("allow", max_instances=2), ["1", "2"])
    assert verdict.skipped
    assert verdict.reason == (
        "2 run(s) still running, the most allowed (overlap=allow, max_instances=2)"
    )


def test_overlap_queue_queues_one_run_and_skips_the_next() -> None:
    first = overlap_verdict(job("queue"), ["4"])
    assert (first.action, first.reason) == ("queue", "queued behind run 4 (overlap=queue)")
    second = overlap_verdict(job("queue"), ["4"], queue_taken=True)
    assert second.skipped
    assert second.reason == "a run is already waiting (overlap=queue)"


def test_overlap_replace_replaces_the_running_run() -> None:
    verdict = overlap_verdict(job("replace"), ["7"])
    assert verdict.action == "replace"
    assert verdict.reason == "replacing run 7, which is cancelled (overlap=replace)"


def test_the_oldest_run_id_is_compared_by_number() -> None:
    assert oldest(["100", "99", "101"]) == "99"
