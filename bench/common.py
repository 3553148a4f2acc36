"""Small helpers shared by the benchmark processes: statistics, /proc readings, tokens."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import resource
from collections.abc import Sequence
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_nofile_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; children inherit it. Returns the new soft limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def token_for(run_key: str, workstation_id: str) -> str:
    """Per-run device token the bench knows without storing it anywhere."""
    return hmac.new(run_key.encode(), workstation_id.encode(), hashlib.sha256).hexdigest()


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (p in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        s = sorted(values)
        return cls(
            len(s),
            percentile(s, 50),
            percentile(s, 90),
            percentile(s, 99),
            s[-1] if s else math.nan,
        )

    def line(self, unit: str = "ms") -> str:
        return (
            f"n={self.n} p50={self.p50:.2f}{unit} p90={self.p90:.2f}{unit} "
            f"p99={self.p99:.2f}{unit} max={self.max:.2f}{unit}"
        )

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "p50": self.p50, "p90": self.p90, "p99": self.p99, "max": self.max}


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()
