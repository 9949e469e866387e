"""Fixtures for engine tests; the helpers live in enginekit."""

from __future__ import annotations

import pytest
from enginekit import START

from cronwork.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)
