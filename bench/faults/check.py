"""The independent history check: the agents' own records and the store's rows, nothing else.

lost: an alarm pressed but, at the end, not in the store, or not on the screen of every
recipient the site plan gives it (all of them online again by then), or never
acknowledged to its raiser. stored twice: more than one row for one alarm id.
shown twice: a second popup for one alarm at one recipient by the agent's popup rule.
re-sent notifies: every further ``alarm_notify`` of an alarm a recipient already had
(the hub's re-delivery and replay; the agent only sends another receipt).
Recovery: for each alarm the fault touched (pressed before the fault was over and not
yet on every recipient's screen when it began), from the end of the fault to the last
recipient's popup; 0 when that came before the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench.faults.agents import History
from bench.faults.kinds import Window
from bench.faults.topology import Plan
from bench.latency import Summary


@dataclass
class Verdict:
    fault: str
    round: int
    fault_seconds: float
    raised: int = 0
    acknowledged: int = 0
    lost: int = 0
    stored_twice: int = 0
    shown_twice: int = 0
    resent_notifies: int = 0
    refused: int = 0  # ``error internal`` answers, each followed by a re-send
    recovery_s: list[float] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.lost > 0 or self.stored_twice > 0 or self.shown_twice > 0

    @property
    def recovery(self) -> Summary:
        return Summary.of(self.recovery_s)


def delivered_everywhere(plan: Plan, histories: Mapping[str, History]) -> bool:
    """Every pressed alarm acknowledged and on the screen of each of its recipients."""
    for raiser, history in histories.items():
        if len(history.acked) < len(history.raised):
            return False
        for alarm_id in history.raised:
            if any(alarm_id not in histories[r].shown for r in plan.recipients(raiser)):
                return False
    return True


def check(
    fault: str,
    round_no: int,
    plan: Plan,
    histories: Mapping[str, History],
    rows: Counter[str],
    window: Window,
) -> Verdict:
    verdict = Verdict(fault, round_no, window.seconds)
    for raiser, history in histories.items():
        verdict.refused += history.refusals
        verdict.shown_twice += sum(history.shown_twice.values())
        verdict.resent_notifies += sum(history.notifies.values()) - len(history.shown)
        for alarm_id, pressed_ns in history.raised.items():
            verdict.raised += 1
            acked = alarm_id in history.acked
            verdict.acknowledged += acked
            stored = rows.get(alarm_id, 0)
            verdict.stored_twice += stored > 1
            shown = [histories[r].shown.get(alarm_id) for r in plan.recipients(raiser)]
            if not acked or stored == 0 or None in shown:
                verdict.lost += 1
                continue
            last_ns = max(s for s in shown if s is not None)
            if pressed_ns <= window.end_ns and last_ns >= window.start_ns:
                verdict.recovery_s.append(max(0.0, (last_ns - window.end_ns) / 1e9))
    return verdict
