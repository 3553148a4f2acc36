"""Escalation when nobody acknowledges, and cancel by the raiser, through the real hub."""

from __future__ import annotations

import json
from pathlib import Path

from shared.domain import AlarmLevel, AlarmState, Answer, Instruction
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    CancelAlarm,
    Error,
    ErrorCode,
    Respond,
)
from tests.integration.conftest import Connect, eventually, set_policy
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.wsclient import connect_agent


async def test_nobody_answers_so_the_whole_floor_is_alerted(
    agent: Connect, demo_hub: RunningHub
) -> None:
    set_policy(demo_hub.data_dir, 2, ["neighbours", "security"], [{"after_s": 1, "scope": "floor"}])
    raiser, neighbour, same_floor = [await agent(w) for w in ("pc-1-01", "pc-1-02", "pc-1-04")]
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await raiser.expect(AlarmStored)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)

    widened = await same_floor.expect(AlarmNotify, alarm_id=sent.alarm_id, timeout=5)
    assert widened.instruction is Instruction.COME_HELP
    assert widened.room is not None
    assert widened.room.number == "1.01"
    await eventually(
        demo_hub,
        "SELECT detail FROM audit_events WHERE action = 'alarm_escalated'",
        expect=[(json.dumps({"added": 3, "scope": "floor", "step": 1}),)],
    )


async def test_escalation_timer_survives_a_hub_killed_before_it_fires(tmp_path: Path) -> None:
    hub = start_demo_hub(tmp_path / "hub")
    try:
        set_policy(hub.data_dir, 2, ["neighbours"], [{"after_s": 2, "scope": "floor"}])
        config = hub.agent_config("pc-1-01")
        raiser = await connect_agent(hub.agent_ws_url, "pc-1-01", config["token"])
        sent = await raiser.raise_alarm(AlarmLevel.THREAT)
        await raiser.expect(AlarmStored)
        hub.kill()

        hub = start_demo_hub(tmp_path / "hub", port=hub.port)
        far = await connect_agent(hub.agent_ws_url, "pc-1-05", hub.agent_config("pc-1-05")["token"])
        await far.expect(AlarmNotify, alarm_id=sent.alarm_id, timeout=8)
        await far.close()
    finally:
        hub.stop()


async def test_coming_answer_stops_the_escalation(agent: Connect, demo_hub: RunningHub) -> None:
    set_policy(demo_hub.data_dir, 2, ["neighbours"], [{"after_s": 30, "scope": "floor"}])
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await neighbour.send(Respond(alarm_id=sent.alarm_id, answer=Answer.COMING))
    await raiser.expect(AlarmUpdate, alarm_id=sent.alarm_id)
    assert query(
        demo_hub, "SELECT next_escalation_at FROM alarms WHERE id = ?", str(sent.alarm_id)
    ) == [(None,)]


async def test_raiser_cancels_in_time_recipients_are_told_and_security_still_sees_it(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm(AlarmLevel.SUPPORT)
    stored = await raiser.expect(AlarmStored)
    assert stored.cancel_window_s == 30  # the default policy for level 1
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)

    await raiser.send(CancelAlarm(alarm_id=sent.alarm_id))
    for client in (raiser, neighbour):
        update = await client.expect(AlarmUpdate, alarm_id=sent.alarm_id)
        assert update.state is AlarmState.CANCELLED
    assert query(demo_hub, "SELECT state FROM alarms") == [("cancelled",)]

    # Reconnecting staff are not shown a cancelled alarm again.
    again = await agent("pc-1-02")
    await again.flush()
    assert not [m for m in again.received if isinstance(m, AlarmNotify)]


async def test_cancel_after_the_window_is_refused_and_the_alarm_stays(
    agent: Connect, demo_hub: RunningHub
) -> None:
    set_policy(demo_hub.data_dir, 2, ["neighbours", "security"], [], cancel_window_s=0)
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    assert (await raiser.expect(AlarmStored)).cancel_window_s == 0
    cancel = CancelAlarm(alarm_id=sent.alarm_id)
    await raiser.send(cancel)
    error = await raiser.expect(Error)
    assert error.reply_to == cancel.id
    assert error.code is ErrorCode.NOT_ALLOWED
    assert "cancel window" in error.message
    assert query(demo_hub, "SELECT state FROM alarms") == [("active",)]


async def test_only_the_raiser_can_cancel(agent: Connect, demo_hub: RunningHub) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm(AlarmLevel.SUPPORT)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await neighbour.send(CancelAlarm(alarm_id=sent.alarm_id))
    assert (await neighbour.expect(Error)).code is ErrorCode.UNKNOWN_ALARM
    assert query(demo_hub, "SELECT state FROM alarms") == [("active",)]
