"""Issue 13 at hub level: the raiser is told "nobody reached", never left waiting.

Real hub process, real WebSocket clients. The person-level proofs (real agents on
Xvfb, the console in Chromium) are in tests/e2e/test_raiser_told_the_truth.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer
from shared.protocol import (
    Acknowledge,
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    RaiserStatus,
    Receipt,
    Respond,
    Seen,
)
from tests.integration.conftest import Connect, set_policy
from tests.integration.test_alarm_kinds import schedule_drill
from tests.support.consoleclient import connect_console
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.wsclient import connect_agent


def nobody_reached_after(
    hub: RunningHub, level: int, seconds: int, raiser_feedback: str = "count"
) -> None:
    """The demo site's policy for a level, with a short "nobody reached" time."""
    set_policy(hub.data_dir, level, ["neighbours", "security"], [], raiser_feedback=raiser_feedback)
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
        db.execute(
            "UPDATE alarm_policies SET nobody_reached_s = ? WHERE site_id = 1 AND level = ?",
            (seconds, level),
        )


async def decided(hub: RunningHub, alarm_id: object, timeout: float = 20.0) -> bool:
    """The hub's decision at the deadline (its log line ``alarm_reach_decided``): the event
    that makes "the raiser was not told" true. Returns whether the alarm reached anyone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for line in hub.log().splitlines():
            if "alarm_reach_decided" in line and str(alarm_id) in line:
                return bool(json.loads(line)["reached"])
        await asyncio.sleep(0.05)  # the clients keep answering the hub's pings meanwhile
    raise AssertionError(f"the hub did not decide within {timeout} s whether {alarm_id} reached")


async def test_no_recipient_online_the_raiser_is_told_nobody_reached(
    agent: Connect, demo_hub: RunningHub
) -> None:
    nobody_reached_after(demo_hub, 2, 2)
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    update = await raiser.expect(RaiserStatus, timeout=15, alarm_id=sent.alarm_id)
    assert update.nobody_reached
    assert (update.state, update.delivered, update.recipients) == (AlarmState.ACTIVE, 0, 2)
    assert await decided(demo_hub, sent.alarm_id) is False
    audit = query(
        demo_hub,
        "SELECT actor, detail FROM audit_events WHERE action = 'alarm_nobody_reached'"
        " AND alarm_id = ?",
        str(sent.alarm_id),
    )
    assert len(audit) == 1
    assert "no_confirmation" in str(audit[0][1])
    # Reconnecting (an agent restart) replays it: the raiser is never left believing.
    again = await agent("pc-1-01")
    replayed = await again.expect(RaiserStatus, alarm_id=sent.alarm_id)
    assert replayed.nobody_reached


async def test_every_recipient_says_cannot_the_raiser_is_told_at_once(
    agent: Connect, demo_hub: RunningHub
) -> None:
    nobody_reached_after(demo_hub, 2, 120)  # far away: the answers decide, not the clock
    raiser, neighbour, security = [await agent(w) for w in ("pc-1-01", "pc-1-02", "pc-e-01")]
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    for recipient in (neighbour, security):
        await recipient.expect(AlarmNotify, alarm_id=sent.alarm_id)
        await recipient.send(Respond(alarm_id=sent.alarm_id, answer=Answer.CANNOT))
    update = await raiser.expect(RaiserStatus, alarm_id=sent.alarm_id, nobody_reached=True)
    assert (update.coming, update.acknowledged_by_security) == (0, False)
    reasons = query(
        demo_hub,
        "SELECT detail FROM audit_events WHERE action = 'alarm_nobody_reached'",
    )
    assert len(reasons) == 1
    assert "all_cannot" in str(reasons[0][0])


async def test_one_cannot_of_two_is_not_nobody(agent: Connect, demo_hub: RunningHub) -> None:
    nobody_reached_after(demo_hub, 2, 120)
    raiser, neighbour, security = [await agent(w) for w in ("pc-1-01", "pc-1-02", "pc-e-01")]
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await neighbour.send(Respond(alarm_id=sent.alarm_id, answer=Answer.CANNOT))
    update = await raiser.expect(RaiserStatus, alarm_id=sent.alarm_id, delivered=1)
    assert not update.nobody_reached
    await raiser.expect(AlarmUpdate, alarm_id=sent.alarm_id)  # the answer's update follows
    await raiser.flush()  # nothing was queued before the pong
    assert not [m for m in raiser.received if getattr(m, "nobody_reached", False)]
    del security


async def test_a_receipt_in_time_is_reached_and_told_as_delivered(
    agent: Connect, demo_hub: RunningHub
) -> None:
    nobody_reached_after(demo_hub, 2, 2)
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await neighbour.send(Receipt(alarm_id=sent.alarm_id))
    delivered = await raiser.expect(RaiserStatus, alarm_id=sent.alarm_id, delivered=1)
    assert (delivered.recipients, delivered.nobody_reached) == (2, False)
    assert await decided(demo_hub, sent.alarm_id) is True
    await raiser.flush()  # nothing was queued before the pong
    assert not [m for m in raiser.received if getattr(m, "nobody_reached", False)]


async def test_a_console_that_shows_it_counts_as_reached_and_is_audited(
    agent: Connect, demo_hub: RunningHub
) -> None:
    nobody_reached_after(demo_hub, 2, 2)
    console = await connect_console(demo_hub)
    try:
        raiser = await agent("pc-1-01")
        sent = await raiser.raise_alarm(AlarmLevel.THREAT)
        await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
        await console.send(Seen(alarm_id=sent.alarm_id))
        await console.send(Seen(alarm_id=sent.alarm_id))  # a second console: nothing new
        seen = await raiser.expect(RaiserStatus, alarm_id=sent.alarm_id, seen_by_console=True)
        assert not seen.nobody_reached
        assert await decided(demo_hub, sent.alarm_id) is True
        await raiser.flush()  # nothing was queued before the pong
        assert not [m for m in raiser.received if getattr(m, "nobody_reached", False)]
        audit = query(
            demo_hub,
            "SELECT actor FROM audit_events WHERE action = 'alarm_seen' AND alarm_id = ?",
            str(sent.alarm_id),
        )
        assert audit == [("operator:Wache Empfang",)]
    finally:
        await console.close()


async def test_security_acknowledging_is_told_whatever_the_feedback_policy(
    agent: Connect, demo_hub: RunningHub
) -> None:
    nobody_reached_after(demo_hub, 3, 120, raiser_feedback="none")
    console = await connect_console(demo_hub)
    try:
        raiser = await agent("pc-1-01")
        sent = await raiser.raise_alarm(AlarmLevel.DANGER)
        await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
        await console.send(Acknowledge(alarm_id=sent.alarm_id))
        status = await raiser.expect(RaiserStatus, alarm_id=sent.alarm_id, state="acknowledged")
        assert status.acknowledged_by_security
        assert (status.coming, status.responders) == (0, [])
        # The plain update follows, unchanged for agents before issue 13.
        update = await raiser.expect(AlarmUpdate, alarm_id=sent.alarm_id, state="acknowledged")
        assert "nobody_reached" not in update.model_dump()
    finally:
        await console.close()


async def test_self_tests_have_no_nobody_reached_timer(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm(AlarmLevel.SUPPORT, kind=AlarmKind.SELF_TEST)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    assert query(demo_hub, "SELECT reach_due_at FROM alarms WHERE id = ?", str(sent.alarm_id)) == [
        (None,)
    ]


async def test_the_timer_survives_a_hub_killed_before_it_fires(tmp_path: Path) -> None:
    hub = start_demo_hub(tmp_path / "hub")
    try:
        nobody_reached_after(hub, 2, 3)
        token = hub.agent_config("pc-1-01")["token"]
        raiser = await connect_agent(hub.agent_ws_url, "pc-1-01", token)
        sent = await raiser.raise_alarm(AlarmLevel.THREAT)
        await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
        hub.kill()  # no per-alarm task could survive this; the column does

        hub = start_demo_hub(tmp_path / "hub", port=hub.port)
        again = await connect_agent(hub.agent_ws_url, "pc-1-01", token)
        told = await again.expect(
            RaiserStatus, alarm_id=sent.alarm_id, nobody_reached=True, timeout=15
        )
        assert told.state is AlarmState.ACTIVE
        await again.close()
    finally:
        hub.stop()


async def test_a_drill_tells_its_raiser_too(agent: Connect, demo_hub: RunningHub) -> None:
    nobody_reached_after(demo_hub, 2, 2)
    schedule_drill(demo_hub, '["security"]')
    raiser = await agent("pc-1-01")  # security's PC is not online: nobody is reached
    sent = await raiser.raise_alarm(AlarmLevel.THREAT, kind=AlarmKind.DRILL)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    told = await raiser.expect(
        RaiserStatus, alarm_id=sent.alarm_id, nobody_reached=True, timeout=15
    )
    assert told.kind is AlarmKind.DRILL


# --- silent-alarm-agent trigger --wait-for-help against the real hub ------------------


def trigger(hub: RunningHub, seconds: float) -> subprocess.Popen[str]:
    config = hub.agent_config_path("pc-1-01")
    env = {**os.environ, "SILENT_ALARM_AGENT_CONFIG": str(config)}
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "trigger", "--wait-for-help", str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


async def finished(process: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    out, err = await asyncio.to_thread(process.communicate, timeout=timeout)
    return process.returncode, out, err


async def test_wait_for_help_exits_0_saying_how_many_are_coming(
    agent: Connect, demo_hub: RunningHub
) -> None:
    neighbour = await agent("pc-1-02")
    process = trigger(demo_hub, 60)
    notify = await neighbour.expect(AlarmNotify, timeout=20)
    await neighbour.send(Respond(alarm_id=notify.alarm_id, answer=Answer.COMING))
    code, out, err = await finished(process, 30)
    assert code == 0, err
    assert out.strip().splitlines() == ["Hilfe bestätigt: 1 kommt"]


async def test_wait_for_help_exits_6_with_the_phone_when_nobody_is_reached(
    demo_hub: RunningHub,
) -> None:
    nobody_reached_after(demo_hub, 2, 2)  # the demo agent's hotkey level
    process = trigger(demo_hub, 60)  # the hub's "nobody reached" ends it, not the 60 s
    code, out, err = await finished(process, 40)
    assert code == 6, (out, err)
    assert err.strip().splitlines()[-1] == "Niemand erreicht – bitte telefonisch Hilfe holen (110)"
    assert query(demo_hub, "SELECT count(*) FROM alarms WHERE nobody_reached_at IS NOT NULL") == [
        (1,)
    ]


async def test_wait_for_help_exits_6_when_nobody_confirms_in_time(
    agent: Connect, demo_hub: RunningHub
) -> None:
    nobody_reached_after(demo_hub, 2, 120)
    neighbour = await agent("pc-1-02")
    process = trigger(demo_hub, 2)
    notify = await neighbour.expect(AlarmNotify, timeout=20)
    await neighbour.send(Receipt(alarm_id=notify.alarm_id))  # on screen, but nobody answers
    code, _, err = await finished(process, 30)
    assert code == 6, err
    assert "110" in err
