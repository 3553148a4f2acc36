"""The bytes an alarm travels as: the agent's RaiseAlarm, and the AlarmNotify the hub sends."""

from __future__ import annotations

import uuid

from shared.domain import AlarmLevel, Instruction, Trigger
from shared.protocol import AlarmNotify, RaiseAlarm, RoomRef, encode, utc_now

RAISER_NAME = "PC raiser"


def raise_alarm(alarm_id: str, level: int) -> bytes:
    message = RaiseAlarm(
        alarm_id=uuid.UUID(alarm_id),
        level=AlarmLevel(level),
        trigger=Trigger.HOTKEY,
        raised_at=utc_now(),
    )
    return encode(message).encode("utf-8")


def notify(alarm_id: str, level: int, room: RoomRef | None = None) -> bytes:
    """An AlarmNotify as the hub words it: level 3 to staff says stay away, with no room."""
    danger = AlarmLevel(level) is AlarmLevel.DANGER
    message = AlarmNotify(
        alarm_id=uuid.UUID(alarm_id),
        level=AlarmLevel(level),
        instruction=Instruction.STAY_AWAY if danger else Instruction.COME_HELP,
        room=None if danger else room or RoomRef(number="R00001", name="Büro", floor="EG"),
        raiser=RAISER_NAME,
        raised_at=utc_now(),
    )
    return encode(message).encode("utf-8")
