"""The hub hands the GIL to a database thread after 1 ms, not CPython's 5 ms."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from dispatch.runtime import switch_interval


@pytest.fixture
def restored_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_switch_interval_is_one_millisecond(restored_interval: None) -> None:
    sys.setswitchinterval(0.005)
    switch_interval.configure()
    assert sys.getswitchinterval() == pytest.approx(0.001)
