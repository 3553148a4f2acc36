"""Latency figures: nanosecond stamps in milliseconds, nearest-rank percentiles, their summary."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def ms(ns: int) -> float:
    return ns / 1e6


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
