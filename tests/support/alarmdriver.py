"""Alarms through the real path for tests that need some to exist (statistics, incidents,
drills): raised by demo agents, answered, resolved from a guard's console socket."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from shared.domain import AlarmKind, AlarmLevel, Answer, Trigger
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    ConsoleAlarm,
    ConsoleAlarmChanged,
    IncidentReport,
    RaiseAlarm,
    Receipt,
    Resolve,
    Respond,
    utc_now,
)
from tests.support.hub import RunningHub
from tests.support.syncclient import ConsoleSocket, TestAgent

DRIVER_TIMEOUT = 8  # s: a message the alarm driver waits for


class AlarmDriver:
    """Raises alarms from demo agents and resolves them from a guard's console socket.

    Real WebSockets against the real hub: the agent's hello, raise and receipt,
    a neighbour's answer, and the console's resolve with an incident report.
    """

    def __init__(self, hub: RunningHub) -> None:
        self.hub = hub
        self.console = ConsoleSocket(hub, hub.login.username, hub.login.password)
        self._agents: dict[str, TestAgent] = {}
        self._shown: set[tuple[str, uuid.UUID]] = set()

    def agent(self, workstation_id: str) -> TestAgent:
        if workstation_id not in self._agents:
            self._agents[workstation_id] = TestAgent(self.hub, workstation_id)
        return self._agents[workstation_id]

    def console_until(self, where: Callable[[ConsoleAlarm], bool]) -> ConsoleAlarm:
        """The first alarm_changed on the console whose alarm matches ``where``."""
        changed = self.console.expect(
            ConsoleAlarmChanged, lambda m: where(m.alarm), timeout=DRIVER_TIMEOUT
        )
        return changed.alarm

    def raise_alarm(
        self, raiser: str = "pc-1-01", level: AlarmLevel = AlarmLevel.THREAT, kind: str = "alarm"
    ) -> uuid.UUID:
        """Raised and stored (the raiser got alarm_stored)."""
        message = RaiseAlarm(
            alarm_id=uuid.uuid4(),
            level=level,
            trigger=Trigger.HOTKEY,
            raised_at=utc_now(),
            kind=AlarmKind(kind),
        )
        agent = self.agent(raiser)
        agent.send(message)
        agent.expect(AlarmStored, lambda m: m.alarm_id == message.alarm_id, timeout=DRIVER_TIMEOUT)
        return message.alarm_id

    def answer(self, responder: str, alarm_id: uuid.UUID, answer: Answer) -> None:
        """The recipient's popup confirms receipt, then its user answers."""
        agent = self.agent(responder)
        if (responder, alarm_id) not in self._shown:  # a second answer ("Bin da") sees no popup
            agent.expect(AlarmNotify, lambda m: m.alarm_id == alarm_id, timeout=DRIVER_TIMEOUT)
            agent.send(Receipt(alarm_id=alarm_id))
            self._shown.add((responder, alarm_id))
        agent.send(Respond(alarm_id=alarm_id, answer=answer))
        self.console_until(
            lambda alarm: (
                alarm.alarm_id == alarm_id and any(r.answer is answer for r in alarm.responders)
            ),
        )

    def resolve(self, alarm_id: uuid.UUID, report: IncidentReport | None = None) -> None:
        self.console.send(Resolve(alarm_id=alarm_id, report=report))
        self.console_until(lambda alarm: alarm.alarm_id == alarm_id and alarm.state == "resolved")

    def close(self) -> None:
        for socket in [self.console, *self._agents.values()]:
            socket.close()
