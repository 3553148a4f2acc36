"""The hub hands the GIL to a database thread after 1 ms, not CPython's 5 ms."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch import switch_interval
from tests.support.fresh_interpreter import in_started_hub


@pytest.fixture
def restored_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_switch_interval_is_one_millisecond(restored_interval: None) -> None:
    sys.setswitchinterval(0.005)
    switch_interval.configure()
    assert sys.getswitchinterval() == pytest.approx(0.001)


@pytest.mark.timeout(120)
def test_the_hub_sets_it_when_it_starts(tmp_path: Path) -> None:
    assert in_started_hub(tmp_path, "sys.getswitchinterval()", imports="import sys") == "0.001"
