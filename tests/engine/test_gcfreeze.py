"""The collector's permanent generation while schedulers run."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from cronwork import Scheduler
from cronwork.engine import gcfreeze


@pytest.fixture(autouse=True)
def _clean_collector() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_first_hold_freezes_and_the_last_release_unfreezes() -> None:
    assert gcfreeze.hold()
    assert gc.get_freeze_count() > 0
    assert gcfreeze.hold()
    gcfreeze.release()
    assert gc.get_freeze_count() > 0  # one holder is left
    gcfreeze.release()
    assert gc.get_freeze_count() == 0
    gcfreeze.release()  # an extra release changes nothing
    assert gc.get_freeze_count() == 0


def test_a_host_that_froze_objects_itself_is_left_alone() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    assert not gcfreeze.hold()
    assert gc.get_freeze_count() == frozen
    gcfreeze.release()
    assert gc.get_freeze_count() == frozen


def test_a_disabled_collector_is_left_alone() -> None:
    gc.disable()
    try:
        assert not gcfreeze.hold()
        assert gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_a_scheduler_leaves_the_collector_alone_unless_asked() -> None:
    with Scheduler():
        assert gc.get_freeze_count() == 0
    with Scheduler(freeze_gc=True):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_young_collections_are_rarer_while_held_and_the_host_thresholds_come_back() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert gcfreeze.hold()
        assert gc.get_threshold() == (gcfreeze.YOUNG_THRESHOLD, 10, 10)
        gcfreeze.release()
        assert gc.get_threshold() == (700, 10, 10)
        # A host that asked for more than that keeps its own.
        gc.set_threshold(50_000, 10, 10)
        assert gcfreeze.hold()
        assert gc.get_threshold() == (50_000, 10, 10)
        gcfreeze.release()
        assert gc.get_threshold() == (50_000, 10, 10)
    finally:
        gc.set_threshold(*before)
