"""The alarm path through a real hub: store, acknowledge, route, deliver, answer."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

import pytest

from dispatch.web.agent_ws import MAX_STORING
from shared.domain import AlarmLevel, AlarmState, Answer, Instruction
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    CancelAlarm,
    Error,
    ErrorCode,
    Ping,
    Pong,
    Receipt,
    Respond,
)
from tests.integration.conftest import Connect, eventually
from tests.support.hub import RunningHub, query
from tests.support.waiting import until
from tests.support.wsclient import AgentClient


async def assert_nothing_queued(client: AgentClient) -> None:
    """Per-peer queues are FIFO: a pong arriving first proves no alarm was queued before it."""
    await client.flush()
    assert not [m for m in client.received if isinstance(m, AlarmNotify)]


async def test_raise_reaches_neighbour_and_security_and_answers_flow_back(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser, neighbour, security = (
        await agent("pc-1-01"),
        await agent("pc-1-02"),
        await agent("pc-e-01"),
    )
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)

    stored = await raiser.expect(AlarmStored)
    assert stored.alarm_id == sent.alarm_id
    assert stored.reply_to == sent.id
    assert not stored.duplicate
    assert query(demo_hub, "SELECT state FROM alarms WHERE id = ?", str(sent.alarm_id)) == [
        ("active",)
    ]

    for recipient in (neighbour, security):
        notify = await recipient.expect(AlarmNotify, alarm_id=sent.alarm_id)
        assert notify.instruction is Instruction.COME_HELP
        assert notify.room is not None
        assert notify.room.number == "1.01"
        assert notify.room.name == "Beratung 1"
        assert notify.room.floor == "1. OG"
        assert notify.raiser == "Frau Albers"
        await recipient.send(Receipt(alarm_id=notify.alarm_id))

    await neighbour.send(Respond(alarm_id=sent.alarm_id, answer=Answer.COMING))
    update = await raiser.expect(AlarmUpdate, alarm_id=sent.alarm_id)
    assert update.coming == 1
    assert update.responders == []  # the default policy tells the raiser how many, not who
    colleagues = await security.expect(AlarmUpdate)
    assert [(r.name, r.room, r.answer) for r in colleagues.responders] == [
        ("Herr Becker", "1.02", Answer.COMING)
    ]
    await eventually(
        demo_hub,
        "SELECT workstation_id FROM alarm_recipients WHERE alarm_id = ? AND received_at IS NOT NULL"
        " ORDER BY workstation_id",
        str(sent.alarm_id),
        expect=[("pc-1-02",), ("pc-e-01",)],
    )


async def test_levels_one_and_two_skip_rooms_that_are_not_neighbours(agent: Connect) -> None:
    raiser, far_away = await agent("pc-1-01"), await agent("pc-1-04")
    await raiser.raise_alarm(AlarmLevel.SUPPORT)
    await raiser.expect(AlarmStored)
    await assert_nothing_queued(far_away)


async def test_level_three_warns_staff_without_location_and_gives_security_the_room(
    agent: Connect,
) -> None:
    raiser, neighbour, far_away, security = [
        await agent(ws) for ws in ("pc-1-01", "pc-1-02", "pc-1-04", "pc-e-01")
    ]
    sent = await raiser.raise_alarm(AlarmLevel.DANGER)
    await raiser.expect(AlarmStored)

    for staff in (neighbour, far_away):
        warning = await staff.expect(AlarmNotify, alarm_id=sent.alarm_id)
        assert warning.instruction is Instruction.STAY_AWAY
        assert warning.room is None, "level 3 must never send colleagues towards the room"
        assert warning.raiser is None
    guard = await security.expect(AlarmNotify, alarm_id=sent.alarm_id)
    assert guard.instruction is Instruction.SECURE_AND_CALL_POLICE
    assert guard.room is not None
    assert guard.room.number == "1.01"

    respond = Respond(alarm_id=sent.alarm_id, answer=Answer.COMING)
    await neighbour.send(respond)
    error = await neighbour.expect(Error)
    assert error.reply_to == respond.id
    assert error.code is ErrorCode.NOT_ALLOWED


async def test_retried_alarm_is_stored_and_fanned_out_once(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    alarm_id = uuid.uuid4()
    await raiser.raise_alarm(alarm_id=alarm_id)
    assert not (await raiser.expect(AlarmStored)).duplicate
    notify = await neighbour.expect(AlarmNotify)
    await neighbour.send(Receipt(alarm_id=notify.alarm_id))
    # Once the receipt is committed the re-send round leaves the neighbour alone; before,
    # a busy machine may legitimately re-send (more than an interval without a receipt).
    await eventually(
        demo_hub,
        "SELECT count(*) FROM alarm_recipients WHERE alarm_id = ? AND workstation_id = 'pc-1-02'"
        " AND received_at IS NOT NULL",
        str(alarm_id),
        expect=[(1,)],
        timeout=10,
    )
    await neighbour.flush()
    notified = notifies(neighbour)

    await raiser.raise_alarm(alarm_id=alarm_id)
    assert (await raiser.expect(AlarmStored)).duplicate
    await neighbour.flush()  # the hub handled the retry before this pong
    assert notifies(neighbour) == notified
    assert query(demo_hub, "SELECT count(*) FROM alarms") == [(1,)]
    assert query(demo_hub, "SELECT count(*) FROM audit_events WHERE action = 'alarm_raised'") == [
        (1,)
    ]


async def paused_reading(hub: RunningHub, workstation_id: str) -> None:
    """Waits (bounded) for the hub's log to say it stopped reading this agent."""
    peer = f'"peer": "workstation:{workstation_id}"'
    await until(
        lambda: any("agent_reading_paused" in ln and peer in ln for ln in hub.log().splitlines()),
        what=f"the hub pausing its reading of {workstation_id}",
    )


def notifies(client: AgentClient) -> int:
    return len([m for m in client.received if isinstance(m, AlarmNotify)])


async def test_an_alarm_id_of_another_workstation_is_refused(agent: Connect) -> None:
    first, second = await agent("pc-1-01"), await agent("pc-1-03")
    taken = await first.raise_alarm()
    await first.expect(AlarmStored)
    await second.raise_alarm(alarm_id=taken.alarm_id)
    assert (await second.expect(Error)).code is ErrorCode.NOT_ALLOWED


async def test_claimed_room_is_ignored_and_audited(agent: Connect, demo_hub: RunningHub) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm(claimed_room="1.05")
    await raiser.expect(AlarmStored)
    notify = await neighbour.expect(AlarmNotify)
    assert notify.room is not None
    assert notify.room.number == "1.01"
    assert query(
        demo_hub,
        "SELECT actor FROM audit_events WHERE action = 'room_claim_ignored' AND alarm_id = ?",
        str(sent.alarm_id),
    ) == [("workstation:pc-1-01",)]


async def test_offline_recipient_gets_open_alarm_on_connect_and_raiser_gets_its_state(
    agent: Connect,
) -> None:
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm()
    await raiser.expect(AlarmStored)
    await raiser.close()

    neighbour = await agent("pc-1-02")  # was offline when the alarm was raised
    notify = await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    assert notify.room is not None
    assert notify.room.number == "1.01"

    again = await agent("pc-1-01")
    state = await again.expect(AlarmUpdate, alarm_id=sent.alarm_id)
    assert state.state is AlarmState.ACTIVE


async def test_hub_resends_until_the_recipient_confirms_receipt(agent: Connect) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm()
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    # No receipt sent: the hub's re-send round (0.5 s in the test hub) sends it again.
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id, timeout=5)


RESEND_EVERY = 2.0  # this test's re-send interval
RECEIPT_GAP = 1.1  # the pace of receipts: four span more than two intervals


# The receipts span more than a re-send interval, so a hub that ignored them would re-send
# meanwhile (at least one round falls inside); each gap leaves 0.9 s for a busy machine.
@pytest.mark.parametrize(
    "demo_hub_env",
    [
        {
            "SILENT_ALARM_HEARTBEAT_INTERVAL": "1",
            "SILENT_ALARM_REDELIVER_INTERVAL": str(RESEND_EVERY),
            "SILENT_ALARM_HANDSHAKE_TIMEOUT": "2",
        }
    ],
)
async def test_no_resend_while_the_alarms_receipts_are_still_coming_in(agent: Connect) -> None:
    """An alarm to thousands takes longer than a re-send interval to confirm under load;
    re-sending to every PC not yet heard from would only add to that load."""
    raiser = await agent("pc-1-01")
    confirming = [await agent(ws) for ws in ("pc-e-01", "pc-1-02", "pc-1-03", "pc-1-04")]
    late = await agent("pc-1-05")
    for recipient in [*confirming, late]:  # their connect-time replays are done (no copy)
        await recipient.flush()
    sent = await raiser.raise_alarm(AlarmLevel.DANGER)  # the whole building
    for recipient in [*confirming, late]:
        await recipient.expect(AlarmNotify, alarm_id=sent.alarm_id)
    for recipient in confirming:
        await asyncio.sleep(RECEIPT_GAP)  # the stimulus' pace, not a wait for a result
        await recipient.send(Receipt(alarm_id=sent.alarm_id))
        await recipient.flush()  # the hub has read this receipt
        await late.flush()  # and has sent the late one nothing again so far
        assert notifies(late) == 1
    # Once the receipts stop, the one still missing is sent the alarm again.
    await late.expect(AlarmNotify, alarm_id=sent.alarm_id, timeout=3 * RESEND_EVERY)


async def test_a_receipt_still_being_committed_is_not_answered_with_a_resend(
    agent: Connect, demo_hub: RunningHub
) -> None:
    """A slow commit of a batch of receipts must not look like missing receipts.

    The guard does not confirm: each alarm sent to it again marks a re-send round."""
    raiser, neighbour, guard = [await agent(ws) for ws in ("pc-1-01", "pc-1-02", "pc-e-01")]
    # The hub answers a ping only after the connect-time replay: an alarm raised before
    # the replay's read would reach them twice (by design), not as a re-send.
    await neighbour.flush()
    await guard.flush()
    sent = await raiser.raise_alarm()
    await raiser.expect(AlarmStored)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await guard.expect(AlarmNotify, alarm_id=sent.alarm_id)
    # Another writer holds SQLite's write lock: the hub's receipt commit waits
    # (busy timeout 5 s) while its re-send round (every 0.5 s) goes on.
    with sqlite3.connect(demo_hub.data_dir / "dispatch.sqlite3", isolation_level=None) as db:
        db.execute("BEGIN IMMEDIATE")
        await neighbour.send(Receipt(alarm_id=sent.alarm_id))
        await neighbour.flush()  # the hub has read the receipt
        await guard.flush()  # what the guard is sent from here on, a round sent after it
        # A round may have begun before the receipt was read: the neighbour's count is
        # taken after one round since, and a whole round after that must not add to it.
        await guard.expect(AlarmNotify, alarm_id=sent.alarm_id)
        await neighbour.flush()
        before = notifies(neighbour)
        await guard.expect(AlarmNotify, alarm_id=sent.alarm_id)
        await neighbour.flush()
        assert notifies(neighbour) == before
        db.execute("ROLLBACK")
    await eventually(
        demo_hub,
        "SELECT count(*) FROM alarm_recipients WHERE workstation_id = 'pc-1-02'"
        " AND received_at IS NOT NULL",
        expect=[(1,)],
    )


async def test_an_agent_is_answered_while_its_alarms_are_stored_and_a_cancel_waits_for_them(
    agent: Connect, demo_hub: RunningHub
) -> None:
    """An alarm being stored does not hold up the agent's next messages, and a cancel
    sent right behind its alarm still finds it stored."""
    raiser = await agent("pc-1-01")
    # Another writer holds SQLite's write lock: the hub's alarm commit waits (busy timeout 5 s).
    with sqlite3.connect(demo_hub.data_dir / "dispatch.sqlite3", isolation_level=None) as db:
        db.execute("BEGIN IMMEDIATE")
        first = await raiser.raise_alarm(AlarmLevel.THREAT)
        second = await raiser.raise_alarm(AlarmLevel.SUPPORT)
        ping = Ping()
        await raiser.send(ping)
        assert (await raiser.expect(Pong, timeout=2)).reply_to == ping.id
        assert not [m for m in raiser.received if isinstance(m, AlarmStored)]
        await raiser.send(CancelAlarm(alarm_id=second.alarm_id))  # waits for its alarm
        db.execute("ROLLBACK")
    acks = [await raiser.expect(AlarmStored, timeout=5) for _ in range(2)]
    assert {a.alarm_id for a in acks} == {first.alarm_id, second.alarm_id}
    await eventually(
        demo_hub,
        "SELECT level, state FROM alarms ORDER BY level",
        expect=[(1, "cancelled"), (2, "active")],
    )


async def test_an_agent_flooding_alarms_is_read_no_further_until_some_are_stored(
    agent: Connect, demo_hub: RunningHub
) -> None:
    """Alarms are never limited, but the hub holds at most MAX_STORING of one agent in
    memory at once: then it stops reading, and the agent's socket pushes back."""
    raiser = await agent("pc-1-01")
    with sqlite3.connect(demo_hub.data_dir / "dispatch.sqlite3", isolation_level=None) as db:
        db.execute("BEGIN IMMEDIATE")
        sent = [await raiser.raise_alarm(AlarmLevel.SUPPORT) for _ in range(MAX_STORING + 1)]
        ping = Ping()
        await raiser.send(ping)
        await paused_reading(demo_hub, "pc-1-01")  # the hub reads no further while 16 wait
        db.execute("ROLLBACK")
    # It read on, and answered the ping, only once one of them was stored.
    pong = await raiser.expect(Pong, timeout=10)
    assert pong.reply_to == ping.id
    before_pong = raiser.received[: raiser.received.index(pong)]
    assert any(isinstance(m, AlarmStored) for m in before_pong)
    stored = {m.alarm_id for m in raiser.received if isinstance(m, AlarmStored)}
    while len(stored) < len(sent):
        stored.add((await raiser.expect(AlarmStored, timeout=5)).alarm_id)
    assert stored == {s.alarm_id for s in sent}


async def test_connected_workstation_is_recorded_as_seen_with_its_version(
    agent: Connect, demo_hub: RunningHub
) -> None:
    await agent("pc-1-03")

    def seen() -> list[tuple[object, ...]]:
        return query(
            demo_hub,
            "SELECT agent_version FROM workstations WHERE id = 'pc-1-03' "
            "AND last_seen_at IS NOT NULL",
        )

    # Written once per heartbeat round (1 s in the test hub), not per handshake.
    deadline = asyncio.get_running_loop().time() + 5
    while not seen():
        assert asyncio.get_running_loop().time() < deadline, "last_seen_at never written"
        await asyncio.sleep(0.05)
    assert seen() == [("test",)]
