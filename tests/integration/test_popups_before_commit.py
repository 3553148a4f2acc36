"""Popups go out while the alarm is committed; the raiser's ack still waits for the commit.

A real hub process (the demo site), real WebSockets, and the hub's real SQLite file: the
test holds its write lock from another connection, or makes it refuse new alarms with a
trigger, so the commit waits or fails while everything else goes on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from shared.domain import AlarmLevel, AlarmState
from shared.protocol import (
    Acknowledge,
    AlarmNotify,
    AlarmStored,
    ConsoleAlarmChanged,
    Error,
    ErrorCode,
    Receipt,
    new_message_id,
)
from tests.integration.conftest import Connect, eventually
from tests.support.consoleclient import connect_console
from tests.support.hub import RunningHub, query
from tests.support.wsclient import AgentClient

REFUSE_ALARMS = (
    "CREATE TRIGGER refuse_alarms BEFORE INSERT ON alarms"
    " BEGIN SELECT RAISE(ABORT, 'the test refuses alarms'); END"
)


def notifies(client: AgentClient) -> int:
    return len([m for m in client.received if isinstance(m, AlarmNotify)])


@contextmanager
def write_lock(hub: RunningHub) -> Iterator[sqlite3.Connection]:
    """Holds the hub's SQLite write lock: its next commit waits (busy timeout 5 s), reads go
    on (WAL)."""
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3", isolation_level=None) as db:
        db.execute("BEGIN EXCLUSIVE")
        try:
            yield db
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")


def sql(hub: RunningHub, statement: str) -> None:
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3", isolation_level=None) as db:
        db.execute(statement)


async def test_popups_and_console_rows_go_out_while_the_commit_waits(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    console = await connect_console(demo_hub)
    await neighbour.flush()  # its connect-time replay is done
    try:
        with write_lock(demo_hub) as lock:
            sent = await raiser.raise_alarm(AlarmLevel.THREAT)
            await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id, timeout=3)
            await console.expect(ConsoleAlarmChanged, alarm__alarm_id=sent.alarm_id, timeout=3)
            # A recipient that connects now gets it from the hub's memory: not stored yet.
            security = await agent("pc-e-01")
            await security.expect(AlarmNotify, alarm_id=sent.alarm_id, timeout=3)
            # Receipts and an operator's step before the alarm's row exists.
            for recipient in (neighbour, security):
                await recipient.send(Receipt(alarm_id=sent.alarm_id))
            await console.send(Acknowledge(alarm_id=sent.alarm_id))
            await raiser.flush()
            assert not [m for m in raiser.received if isinstance(m, AlarmStored)]
            assert query(demo_hub, "SELECT count(*) FROM alarms") == [(0,)]
            lock.execute("ROLLBACK")
        stored = await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
        assert not stored.duplicate
        acknowledged = await console.expect(
            ConsoleAlarmChanged, alarm__alarm_id=sent.alarm_id, alarm__state=AlarmState.ACKNOWLEDGED
        )
        assert acknowledged.alarm.alarm_id == sent.alarm_id
        await eventually(
            demo_hub,
            "SELECT workstation_id, received_at IS NOT NULL FROM alarm_recipients"
            " WHERE alarm_id = ? ORDER BY workstation_id",
            str(sent.alarm_id),
            expect=[("pc-1-02", 1), ("pc-e-01", 1)],
        )
        for recipient in (neighbour, security):
            await recipient.flush()
            assert notifies(recipient) == 1, "told once: not again after the commit"
    finally:
        await console.close()


async def test_an_alarm_the_store_refuses_is_shown_once_and_stored_once_the_store_takes_it(
    agent: Connect, demo_hub: RunningHub
) -> None:
    """The decision (docs/architecture.md, "Popups before the commit"): the popup stays,
    since the alarm is real; the hub keeps storing it itself until the store takes it."""
    raiser, neighbour, security = [await agent(ws) for ws in ("pc-1-01", "pc-1-02", "pc-e-01")]
    await neighbour.flush()
    sql(demo_hub, REFUSE_ALARMS)
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await security.expect(AlarmNotify, alarm_id=sent.alarm_id)
    refused = await raiser.expect(Error, reply_to=sent.id)
    assert refused.code is ErrorCode.INTERNAL
    for recipient in (neighbour, security):  # kept until there is a row to mark
        await recipient.send(Receipt(alarm_id=sent.alarm_id))
    # The agent re-sends it on the same connection (agent/resend.py): refused again,
    # and nobody is told a second time.
    retry = sent.model_copy(update={"id": new_message_id()})
    await raiser.send(retry)
    assert (await raiser.expect(Error, reply_to=retry.id)).code is ErrorCode.INTERNAL
    for recipient in (neighbour, security):
        await recipient.flush()
        assert notifies(recipient) == 1
    assert query(demo_hub, "SELECT count(*) FROM alarms") == [(0,)]

    sql(demo_hub, "DROP TRIGGER refuse_alarms")
    # Stored by the hub itself (at most 2 s apart), without another re-send.
    stored = await raiser.expect(AlarmStored, alarm_id=sent.alarm_id, timeout=8)
    assert not stored.duplicate
    assert query(demo_hub, "SELECT count(*) FROM alarms WHERE id = ?", str(sent.alarm_id)) == [(1,)]
    assert query(
        demo_hub,
        "SELECT count(*) FROM audit_events WHERE action = 'alarm_raised' AND alarm_id = ?",
        str(sent.alarm_id),
    ) == [(1,)]
    await eventually(
        demo_hub,
        "SELECT workstation_id, received_at IS NOT NULL FROM alarm_recipients"
        " WHERE alarm_id = ? ORDER BY workstation_id",
        str(sent.alarm_id),
        expect=[("pc-1-02", 1), ("pc-e-01", 1)],
    )
    # The agent's next re-send learns it is stored; still nobody is told twice.
    await raiser.send(sent.model_copy(update={"id": new_message_id()}))
    assert (await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)).duplicate
    for recipient in (neighbour, security):
        await recipient.flush()
        assert notifies(recipient) == 1
