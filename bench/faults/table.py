"""The campaign's printed table: one line per round, and one per fault over all its rounds."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.faults.check import Verdict

COLUMNS = (
    ("fault", 12),
    ("round", 5),
    ("fault s", 7),
    ("raised", 6),
    ("acked", 6),
    ("lost", 4),
    ("stored 2x", 9),
    ("shown 2x", 8),
    ("re-sent", 7),
    ("refused", 7),
    ("rec p50 s", 9),
    ("rec p99 s", 9),
    ("rec max s", 9),
)


def header() -> str:
    return "  ".join(name.rjust(width) for name, width in COLUMNS)


def _seconds(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def line(v: Verdict, round_label: str | None = None) -> str:
    r = v.recovery
    cells = (
        v.fault,
        round_label or str(v.round),
        f"{v.fault_seconds:.1f}",
        v.raised,
        v.acknowledged,
        v.lost,
        v.stored_twice,
        v.shown_twice,
        v.resent_notifies,
        v.refused,
        _seconds(r.p50),
        _seconds(r.p99),
        _seconds(r.max),
    )
    return "  ".join(str(c).rjust(width) for c, (_, width) in zip(cells, COLUMNS, strict=True))


def pooled(verdicts: Sequence[Verdict]) -> Verdict:
    """All rounds of one fault as one: counts added, recoveries pooled, the longest fault."""
    first = verdicts[0]
    total = Verdict(first.fault, 0, max(v.fault_seconds for v in verdicts))
    for v in verdicts:
        total.raised += v.raised
        total.acknowledged += v.acknowledged
        total.lost += v.lost
        total.stored_twice += v.stored_twice
        total.shown_twice += v.shown_twice
        total.resent_notifies += v.resent_notifies
        total.refused += v.refused
        total.recovery_s.extend(v.recovery_s)
    return total
