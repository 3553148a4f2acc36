"""Rate limits stop a flood of other messages and never touch an alarm."""

from __future__ import annotations

import asyncio
import uuid

from shared.domain import AlarmLevel
from shared.protocol import AlarmNotify, AlarmStored, CloseCode, Ping, Pong, Receipt, encode
from tests.integration.conftest import Connect, eventually
from tests.support.hub import RunningHub, query
from tests.support.wsclient import wait_closed


async def test_a_flood_of_pings_is_closed_with_4429(agent: Connect) -> None:
    flooder = await agent("pc-1-03")
    for _ in range(300):
        await flooder.connection.send(encode(Ping()))
    code, reason = await wait_closed(flooder.connection)
    assert code == CloseCode.RATE_LIMITED
    assert "alarms are never limited" in reason


async def test_a_burst_of_alarms_far_above_the_limit_is_stored_in_full(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser = await agent("pc-1-01")
    sent = [await raiser.raise_alarm(AlarmLevel.SUPPORT) for _ in range(250)]
    stored = {(await raiser.expect(AlarmStored, timeout=30)).alarm_id for _ in sent}
    assert stored == {message.alarm_id for message in sent}
    assert query(demo_hub, "SELECT count(*) FROM alarms") == [(250,)]


async def test_a_guard_confirming_a_burst_of_alarms_is_never_limited(
    agent: Connect, demo_hub: RunningHub
) -> None:
    """300 alarms, 300 receipts as fast as they come: all answers to what the hub sent."""
    raiser, guard = await agent("pc-1-01"), await agent("pc-e-01")
    # The raiser reads its acks meanwhile, as an agent does: one that stops reading
    # answers no WebSocket ping and is closed as frozen before its alarms are stored.
    reading = asyncio.create_task(raiser.expect(AlarmStored, timeout=60, alarm_id=uuid.uuid4()))
    sent = {(await raiser.raise_alarm(AlarmLevel.SUPPORT)).alarm_id for _ in range(300)}
    confirmed: set[uuid.UUID] = set()
    while confirmed != sent:  # re-sends under load come twice: confirmed again, as agents do
        notify = await guard.expect(AlarmNotify, timeout=30)
        await guard.send(Receipt(alarm_id=notify.alarm_id))
        confirmed.add(notify.alarm_id)
    await eventually(
        demo_hub,
        "SELECT count(*) FROM alarm_recipients WHERE workstation_id = 'pc-e-01'"
        " AND received_at IS NOT NULL",
        expect=[(300,)],
        timeout=10,
    )
    await guard.send(Ping())
    await guard.expect(Pong)  # still connected: nothing counted against its limit
    reading.cancel()


async def test_receipts_for_alarms_never_sent_still_count(agent: Connect) -> None:
    flooder = await agent("pc-1-03")
    for _ in range(300):
        await flooder.send(Receipt(alarm_id=uuid.uuid4()))
    code, _ = await wait_closed(flooder.connection)
    assert code == CloseCode.RATE_LIMITED
