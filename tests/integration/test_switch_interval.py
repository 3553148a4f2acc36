"""The hub sets the 1 ms switch interval when it starts (in an interpreter of its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fresh_interpreter import in_started_hub


@pytest.mark.timeout(120)
def test_the_hub_sets_it_when_it_starts(tmp_path: Path) -> None:
    assert in_started_hub(tmp_path, "sys.getswitchinterval()", imports="import sys") == "0.001"
