"""What every process of a run recorded (the bench and its workers), added up per alarm."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.fleet import Recorder
from bench.latency import Summary, ms
from bench.procs import Worker


@dataclass
class Merged:
    sent: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    closes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, report: dict[str, Any]) -> None:
        self.sent.update(report["sent"])
        self.stored.update(report["stored"])
        for alarm_id, (n, _first, last) in report["notify"].items():
            self.count[alarm_id] = self.count.get(alarm_id, 0) + n
            self.last[alarm_id] = max(self.last.get(alarm_id, 0), last)
        self.duplicates += report["duplicates"]
        for k, v in report["closes"].items():
            self.closes[k] = self.closes.get(k, 0) + v
        for k, v in report["errors"].items():
            self.errors[k] = self.errors.get(k, 0) + v

    def latencies(self, expected: int, alarms: list[str]) -> dict[str, Any]:
        stored = [ms(self.stored[a] - self.sent[a]) for a in alarms if a in self.stored]
        complete = [a for a in alarms if self.count.get(a, 0) >= expected]
        last = [ms(self.last[a] - self.sent[a]) for a in complete]
        return {
            "alarms": len(alarms),
            "stored_ack_ms": Summary.of(stored).as_dict(),
            "stored_missing": len(alarms) - len(stored),
            "last_recipient_ms": Summary.of(last).as_dict(),
            "incomplete_fanouts": len(alarms) - len(complete),
            "duplicates": self.duplicates,
            "closes": self.closes,
            "errors": self.errors,
        }


async def merged(rec: Recorder, workers: list[Worker]) -> Merged:
    m = Merged()
    m.add(rec.report())
    for w in workers:
        m.add(await w.ask("report"))
    return m


async def total_connected(rec: Recorder, workers: list[Worker]) -> tuple[int, int]:
    """(connected now, latest welcome time in ns) across this process and the workers."""
    connected, last = rec.connected, rec.last_welcome_ns
    for w in workers:
        s = await w.ask("status")
        connected += s["connected"]
        last = max(last, s["last_welcome_ns"])
    return connected, last
