"""Warnings an attacker could repeat: one line at the first, then at most every 5 s."""

from __future__ import annotations

from typing import Any

from dispatch.runtime.counted_log import CountedWarning


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def test_the_first_is_logged_at_once_then_a_count_at_most_every_interval() -> None:
    now = [100.0]
    log = Lines()
    counted = CountedWarning(log, "agent_reading_paused", every=5.0, clock=lambda: now[0])
    counted.add(peer="workstation:pc-1")
    for _ in range(999):  # a flood within the interval: no line
        now[0] += 0.001
        counted.add(peer="workstation:pc-1")
    assert log.lines == [("agent_reading_paused", {"count": 1, "peer": "workstation:pc-1"})]
    now[0] = 105.0
    counted.add(peer="workstation:pc-2")  # 5 s after the first line: the count since
    assert log.lines[1] == ("agent_reading_paused", {"count": 1000, "peer": "workstation:pc-2"})
    now[0] = 109.9
    counted.add(peer="workstation:pc-2")
    assert len(log.lines) == 2
