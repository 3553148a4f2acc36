"""``--channels N``: how late each channel message went out, read from ``channel_deliveries``.

Issue 20's target is "sent ≤ 5 s after the escalation step is due". The sinks only count
what arrived; the times come from the hub's own rows after the run: ``sent_at`` minus
``due_at`` (the step's due time as planning wrote it), and ``sent_at`` minus the alarm's
``stored_at`` plus the recipient's ``after_s`` (the same unless planning itself fell
behind: a queue that planned late would look punctual by ``due_at`` alone).
"""

from __future__ import annotations

import sqlite3
import statistics
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

QUERY = """
SELECT d.state, d.due_at, d.sent_at, d.after_s, a.stored_at
FROM channel_deliveries d JOIN alarms a ON a.id = d.alarm_id
"""


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def sent_count(db_file: Path) -> int:
    with sqlite3.connect(db_file, timeout=10) as db:
        (n,) = db.execute("SELECT count(*) FROM channel_deliveries WHERE state='sent'").fetchone()
    db.close()
    return int(n)


def delivery_times(db_file: Path) -> dict[str, Any]:
    """Rows by state; for the sent ones the lateness (s) after due and after the step."""
    with sqlite3.connect(db_file, timeout=10) as db:
        rows = db.execute(QUERY).fetchall()
    db.close()
    states: dict[str, int] = {}
    after_due: list[float] = []
    after_step: list[float] = []
    first_due: datetime | None = None
    last_sent: datetime | None = None
    for state, due_at, sent_at, after_s, stored_at in rows:
        states[state] = states.get(state, 0) + 1
        if state != "sent" or sent_at is None:
            continue
        due, sent = _time(due_at), _time(sent_at)
        step = _time(stored_at) + timedelta(seconds=after_s)
        after_due.append((sent - due).total_seconds())
        after_step.append((sent - step).total_seconds())
        first_due = due if first_due is None else min(first_due, due)
        last_sent = sent if last_sent is None else max(last_sent, sent)
    out: dict[str, Any] = {"rows": len(rows), "states": states}
    if after_due and first_due is not None and last_sent is not None:
        span = (last_sent - first_due).total_seconds()
        out |= {
            "after_due_mean_s": round(statistics.fmean(after_due), 3),
            "after_due_p50_s": round(statistics.median(after_due), 3),
            "after_due_max_s": round(max(after_due), 3),
            "after_step_max_s": round(max(after_step), 3),
            "first_due_to_last_sent_s": round(span, 3),
            "sent_per_s": round(len(after_due) / span, 1) if span > 0 else None,
        }
    return out


def describe(times: dict[str, Any]) -> str:
    if "after_due_max_s" not in times:
        return f"channel rows: {times['states']} (none sent)"
    return (
        f"sent after due: mean {times['after_due_mean_s']:.2f} s, p50 "
        f"{times['after_due_p50_s']:.2f} s, max {times['after_due_max_s']:.2f} s (after the "
        f"step as stored: max {times['after_step_max_s']:.2f} s); "
        f"{times['sent_per_s']} sent/s from the first due to the last sent; rows {times['states']}"
    )
