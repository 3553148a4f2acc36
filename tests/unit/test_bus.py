"""The bus between hub instances: its wire form and own-event filtering (over a real
PostgreSQL LISTEN/NOTIFY: tests/storage/test_bus_postgres.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from dispatch.net.bus import (
    MAX_PAYLOAD_BYTES,
    AlarmChanged,
    AlarmChannels,
    AlarmEscalated,
    AlarmStored,
    LocalBus,
    PostgresBus,
    WorkstationChanged,
    WorkstationRevoked,
    accept,
    asyncpg_dsn,
    create_bus,
    decode,
    encode,
)

ALARM = uuid.UUID("6f1d2c3b-0000-4000-8000-000000000001")


# --- wire form ------------------------------------------------------------------------


def test_an_event_round_trips_as_small_json() -> None:
    event = AlarmEscalated(alarm_id=ALARM, added=("pc-1-03", "pc-1-04"), instance="a1")
    payload = encode(event)
    assert json.loads(payload) == {
        "instance": "a1",
        "type": "alarm_escalated",
        "alarm_id": str(ALARM),
        "added": ["pc-1-03", "pc-1-04"],
    }
    assert " " not in payload  # compact: every byte counts below the NOTIFY limit
    assert decode(payload) == event


def test_a_channel_change_names_only_the_alarm() -> None:
    """Issue 20: the receiving instance reads the counts from the store itself."""
    event = AlarmChannels(alarm_id=ALARM, instance="b2")
    payload = encode(event)
    assert json.loads(payload) == {
        "instance": "b2",
        "type": "alarm_channels",
        "alarm_id": str(ALARM),
    }
    assert decode(payload) == event


def test_workstation_events_carry_the_workstation_and_its_state() -> None:
    event = WorkstationChanged(workstation_id="pc-1-02", online=False, instance="b")
    assert decode(encode(event)) == event
    tested = WorkstationChanged(
        workstation_id="pc-1-02",
        online=True,
        self_test_ok=False,
        self_test_at=datetime(2026, 11, 22, 17, 0, 5, tzinfo=UTC),
        instance="b",
    )
    assert decode(encode(tested)) == tested
    revoked = WorkstationRevoked(workstation_id="pc-1-02", instance="b")
    assert decode(encode(revoked)) == revoked


def test_an_escalation_to_thousands_leaves_the_list_to_the_store() -> None:
    added = tuple(f"staff-{i:05d}" for i in range(5000))
    payload = encode(AlarmEscalated(alarm_id=ALARM, added=added, instance="a"))
    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES
    event = decode(payload)
    assert event is not None
    assert isinstance(event, AlarmEscalated)
    assert event.alarm_id == ALARM
    assert event.added is None  # receivers compute "recipients without a receipt" themselves


def test_a_short_escalation_list_is_kept() -> None:
    added = tuple(f"pc-{i:03d}" for i in range(200))
    event = decode(encode(AlarmEscalated(alarm_id=ALARM, added=added, instance="a")))
    assert isinstance(event, AlarmEscalated)
    assert event.added == added


def test_a_new_alarm_carries_its_popups_so_receivers_need_no_store_read() -> None:
    popups = ('{"type":"alarm_notify","instruction":"come_help"}', '{"type":"alarm_notify"}')
    deliveries = tuple((f"pc-{i:03d}", i % 2) for i in range(50))
    sent = AlarmStored(alarm_id=ALARM, popups=popups, deliveries=deliveries, instance="a")
    event = decode(encode(sent))
    assert isinstance(event, AlarmStored)
    assert (event.popups, event.deliveries) == (popups, deliveries)


def test_a_new_alarm_for_thousands_leaves_its_popups_to_the_store() -> None:
    deliveries = tuple((f"staff-{i:05d}", 0) for i in range(3000))
    sent = AlarmStored(alarm_id=ALARM, popups=("{}",), deliveries=deliveries, instance="a")
    payload = encode(sent)
    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES
    event = decode(payload)
    assert isinstance(event, AlarmStored)
    assert (event.alarm_id, event.popups, event.deliveries) == (ALARM, (), ())


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"type": "alarm_stored"}',  # no instance
        '{"instance": "a", "type": "alarm_burnt"}',  # a type this version does not know
        '{"instance": "a", "type": "alarm_stored", "alarm_id": "nope"}',
        '{"instance": "a", "type": "resync"}',  # catch-up is local, never taken from the wire
        '{"instance": "a", "type": "alarm_stored", "popups": ["{}"], "deliveries": [["pc", 1]]}',
    ],
)
def test_unreadable_events_are_dropped(payload: str) -> None:
    assert decode(payload) is None


def test_own_events_are_ignored_and_foreign_ones_accepted() -> None:
    payload = encode(AlarmChanged(alarm_id=ALARM, instance="hub-a"))
    assert accept(payload, own_instance="hub-a") is None
    foreign = accept(payload, own_instance="hub-b")
    assert foreign is not None
    assert foreign.instance == "hub-a"


def test_the_bus_is_chosen_by_setting_and_store() -> None:
    sqlite = "sqlite+aiosqlite:////tmp/x.sqlite3"
    postgres = "postgresql+asyncpg://postgres@127.0.0.1:5432/alarm"
    assert isinstance(create_bus("auto", sqlite), LocalBus)
    assert isinstance(create_bus("auto", postgres), PostgresBus)
    assert isinstance(create_bus("local", postgres), LocalBus)
    assert isinstance(create_bus("postgres", postgres), PostgresBus)
    with pytest.raises(ValueError, match="needs a PostgreSQL"):
        create_bus("postgres", sqlite)


def test_the_listening_connection_gets_a_plain_asyncpg_dsn() -> None:
    dsn = asyncpg_dsn("postgresql+asyncpg://alarm:s3cret@db.example:5433/alarm")
    assert dsn == "postgresql://alarm:s3cret@db.example:5433/alarm"
