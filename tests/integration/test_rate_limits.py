"""Rate limits stop a flood of other messages and never touch an alarm."""

from __future__ import annotations

import uuid

from shared.domain import AlarmLevel, Answer
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    CloseCode,
    Ping,
    Receipt,
    Respond,
    encode,
)
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
    # Both read whatever comes meanwhile, as agents do: one that stops reading answers
    # no WebSocket ping and is closed as frozen (the raiser before its alarms are stored).
    async with raiser.reading():
        sent = {(await raiser.raise_alarm(AlarmLevel.SUPPORT)).alarm_id for _ in range(300)}
        confirmed: set[uuid.UUID] = set()
        while confirmed != sent:  # re-sends under load come twice: confirmed again, as agents do
            notify = await guard.expect(AlarmNotify, timeout=30)
            await guard.send(Receipt(alarm_id=notify.alarm_id))
            confirmed.add(notify.alarm_id)
        async with guard.reading():
            await eventually(
                demo_hub,
                "SELECT count(*) FROM alarm_recipients WHERE workstation_id = 'pc-e-01'"
                " AND received_at IS NOT NULL",
                expect=[(300,)],
                timeout=10,
            )
        await guard.flush()  # still connected: nothing counted against its limit


async def test_receipts_for_alarms_never_sent_still_count(agent: Connect) -> None:
    flooder = await agent("pc-1-03")
    for _ in range(300):
        await flooder.send(Receipt(alarm_id=uuid.uuid4()))
    code, _ = await wait_closed(flooder.connection)
    assert code == CloseCode.RATE_LIMITED


async def test_a_neighbour_answering_a_flood_of_alarms_at_once_is_never_limited(
    agent: Connect, demo_hub: RunningHub
) -> None:
    """One click on the neighbour's grouped popup answers each alarm of the raiser's flood
    (agent/popup_groups.py): "Ich komme", then "Bin da", 200 answers at once, far above the
    100 a second, all stored and the neighbour still connected. The hub reads an agent's
    answers one stored answer at a time, so its limiter never sees them that fast."""
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    async with raiser.reading():
        sent = {(await raiser.raise_alarm(AlarmLevel.THREAT)).alarm_id for _ in range(100)}
        received: set[uuid.UUID] = set()
        while received != sent:
            received.add((await neighbour.expect(AlarmNotify, timeout=30)).alarm_id)
        # The hub's updates of each answer come back meanwhile: read, as the agent does.
        async with neighbour.reading():
            for answer in (Answer.COMING, Answer.ARRIVED):
                for alarm_id in sent:
                    await neighbour.send(Respond(alarm_id=alarm_id, answer=answer))
            await eventually(
                demo_hub,
                "SELECT count(*) FROM alarm_recipients WHERE workstation_id = 'pc-1-02'"
                " AND answer = 'arrived'",
                expect=[(100,)],
                timeout=20,
            )
        await neighbour.flush(timeout=20)  # still connected: none counted against it
