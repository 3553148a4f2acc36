"""What every simulated client records, and the interface both fleets (WebSocket, MQTT) share."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Recorder:
    """Timestamps (time.monotonic_ns, one clock for all processes of the machine)."""

    sent: dict[str, int] = field(default_factory=dict)  # alarm id -> raiser sent it
    stored: dict[str, int] = field(default_factory=dict)  # alarm id -> stored-ack received
    notify_count: dict[str, int] = field(default_factory=dict)  # distinct recipients
    notify_first: dict[str, int] = field(default_factory=dict)
    notify_last: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  # the same alarm shown twice on one workstation
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)  # why sessions ended
    connected: int = 0
    welcomes: int = 0
    last_welcome_ns: int = 0

    def notified(self, alarm_id: str, at: int) -> None:
        n = self.notify_count.get(alarm_id, 0)
        self.notify_count[alarm_id] = n + 1
        if n == 0:
            self.notify_first[alarm_id] = at
            self.notify_last[alarm_id] = at
        elif at > self.notify_last[alarm_id]:
            self.notify_last[alarm_id] = at

    def welcomed(self) -> None:
        self.connected += 1
        self.welcomes += 1
        self.last_welcome_ns = time.monotonic_ns()

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "welcomes": self.welcomes,
            "last_welcome_ns": self.last_welcome_ns,
            "closes": dict(self.closes),
            "errors": dict(self.errors),
        }

    def report(self) -> dict[str, Any]:
        return {
            **self.status(),
            "sent": self.sent,
            "stored": self.stored,
            "notify": {
                a: [self.notify_count[a], self.notify_first[a], self.notify_last[a]]
                for a in self.notify_count
            },
            "duplicates": self.duplicates,
        }


class Fleet(Protocol):
    rec: Recorder

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def wait_until(predicate: Any, within: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())
