"""Rate limits stop a flood of other messages and never touch an alarm."""

from __future__ import annotations

from shared.domain import AlarmLevel
from shared.protocol import AlarmStored, CloseCode, Ping, encode
from tests.integration.conftest import Connect, query
from tests.support.hub import RunningHub
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
