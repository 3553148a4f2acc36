"""The duress cancel through the real hub: "withdrawn" to raiser and staff, level 3 to security."""

from __future__ import annotations

from typing import Any

from shared.domain import AlarmLevel, AlarmState, Instruction
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    CancelAlarm,
    RaiserStatus,
)
from tests.integration.conftest import Connect
from tests.support.hub import RunningHub, query
from tests.support.wsclient import AgentClient

RAISER, NEIGHBOUR, SECURITY = "pc-1-01", "pc-1-02", "pc-e-01"


async def withdraw(
    raiser: AgentClient, staff: AgentClient, security: AgentClient, *, duress: bool
) -> tuple[list[dict[str, Any]], AlarmUpdate]:
    """Raise level 1, withdraw it; what the raiser was told, and what staff were told."""
    sent = await raiser.raise_alarm(AlarmLevel.SUPPORT)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    await staff.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await security.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await raiser.send(CancelAlarm(alarm_id=sent.alarm_id, duress=duress))
    status = await raiser.expect(RaiserStatus, alarm_id=sent.alarm_id, state=AlarmState.CANCELLED)
    cancelled = AlarmState.CANCELLED
    update = await raiser.expect(AlarmUpdate, alarm_id=sent.alarm_id, state=cancelled)
    told_staff = await staff.expect(AlarmUpdate, alarm_id=sent.alarm_id, state=cancelled)
    said = [
        status.model_dump(exclude={"id", "alarm_id"}),
        update.model_dump(exclude={"id", "alarm_id"}),
    ]
    return said, told_staff


async def test_a_duress_cancel_looks_like_a_withdrawal_but_security_gets_level_3(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser, staff, security = [await agent(w) for w in (RAISER, NEIGHBOUR, SECURITY)]
    normal, normal_staff = await withdraw(raiser, staff, security, duress=False)
    forced, forced_staff = await withdraw(raiser, staff, security, duress=True)

    # The raiser and the colleague are told exactly what a normal withdrawal tells them.
    assert forced == normal
    assert forced_staff.state is normal_staff.state is AlarmState.CANCELLED
    assert forced_staff.model_dump(exclude={"id", "alarm_id"}) == normal_staff.model_dump(
        exclude={"id", "alarm_id"}
    )
    # Security gets it anew at level 3, with the room and the police instruction.
    alarm_id = forced_staff.alarm_id
    popup = await security.expect(AlarmNotify, alarm_id=alarm_id, level=AlarmLevel.DANGER)
    assert popup.instruction is Instruction.SECURE_AND_CALL_POLICE
    assert popup.room is not None
    assert popup.room.number == "1.01"
    rows = query(
        demo_hub,
        "SELECT state, level, cancelled_under_duress_at IS NOT NULL FROM alarms WHERE id = ?",
        str(alarm_id),
    )
    assert rows == [("active", 3, 1)]
    assert query(
        demo_hub,
        "SELECT count(*) FROM audit_events WHERE action = 'alarm_cancelled_under_duress'",
    ) == [(1,)]

    # A normal cancel afterwards does not close it; asked twice, nothing changes.
    await raiser.send(CancelAlarm(alarm_id=alarm_id))
    await raiser.send(CancelAlarm(alarm_id=alarm_id, duress=True))
    await raiser.flush()
    assert query(demo_hub, "SELECT state, level FROM alarms WHERE id = ?", str(alarm_id)) == [
        ("active", 3)
    ]

    # Reconnecting, the colleague is shown nothing; security is shown level 3 again.
    again = await agent(NEIGHBOUR)
    await again.flush()
    assert not [m for m in again.received if isinstance(m, AlarmNotify)]
    guard = await agent(SECURITY)
    replayed = await guard.expect(AlarmNotify, alarm_id=alarm_id)
    assert replayed.level is AlarmLevel.DANGER
