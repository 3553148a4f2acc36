"""Unit tests run in the test process alone: the layer's rule is enforced for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.unitrule import UnitRule


@pytest.fixture(autouse=True)
def unit_rule(monkeypatch: pytest.MonkeyPatch) -> Iterator[UnitRule]:
    """Fails a test that starts a process, serves a port, reaches PostgreSQL or an X display."""
    rule = UnitRule()
    rule.enforce(monkeypatch)
    yield rule
    rule.verdict()
