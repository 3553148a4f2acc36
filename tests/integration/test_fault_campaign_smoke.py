"""The fault campaign command still runs: one hub kill during a tiny burst, nothing lost.

``python -m bench.faults`` is a benchmark command (bench/README.md); this runs it as a
person would, with the quick fault and tiny numbers, so the command cannot rot: a
real hub process killed with SIGKILL and restarted, raw-protocol agents, the check
against the hub's own store.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY_KILL = ["--faults", "kill", "--agents", "6", "--alarms", "12", "--burst-seconds", "3"]
TINY_KILL += ["--seed", "7", "--drain-seconds", "20"]
COLUMNS = [
    "fault",
    "round",
    "fault s",
    "raised",
    "acked",
    "lost",
    "stored 2x",
    "shown 2x",
    "re-sent",
    "refused",
    "rec p50 s",
    "rec p99 s",
    "rec max s",
]


def test_a_hub_kill_during_a_burst_loses_and_duplicates_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.faults", *TINY_KILL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    assert header == COLUMNS
    row = dict(zip(header, re.split(r"\s{2,}", lines[1].strip()), strict=True))
    assert row["fault"] == "kill"
    assert row["raised"] == "12"
    assert row["acked"] == "12"
    assert (row["lost"], row["stored 2x"], row["shown 2x"]) == ("0", "0", "0")
    assert float(row["rec max s"]) >= 0  # the kill touched at least one alarm of the burst
    assert "nothing lost, nothing duplicated" in lines[-1]
