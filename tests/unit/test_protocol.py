"""The protocol contract: round trips, strictness, secrets, and the committed schema."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from pydantic import BaseModel, ValidationError

from shared import schema_export
from shared.domain import AlarmLevel, AlarmState, Answer, Instruction, Trigger
from shared.protocol import (
    CHANNELS,
    AgentHealth,
    AlarmNotify,
    AlarmSnapshot,
    AlarmStored,
    AlarmUpdate,
    Error,
    ErrorCode,
    Hello,
    Ping,
    RaiseAlarm,
    Receipt,
    Respond,
    Responder,
    RoomRef,
    Welcome,
    WorkstationInfo,
    agent_to_hub,
    encode,
    hub_to_agent,
    hub_to_console,
    utc_now,
)

ROOM = RoomRef(number="1.01", name="Beratung 1", floor="1. OG", building="Haus A")
ALARM = uuid.uuid4()

AGENT_MESSAGES: list[BaseModel] = [
    Hello(protocol=1, workstation_id="pc-1", token="s3cret", agent_version="1", user="A"),
    RaiseAlarm(alarm_id=ALARM, level=AlarmLevel.DANGER, trigger=Trigger.TRAY, raised_at=utc_now()),
    Receipt(alarm_id=ALARM),
    Respond(alarm_id=ALARM, answer=Answer.CANNOT),
    Ping(),
    AgentHealth(reasons=["hotkey_unavailable", "no_room"]),
]
HUB_MESSAGES: list[BaseModel] = [
    Welcome(
        reply_to="x",
        protocol=1,
        hub_version="1",
        heartbeat_interval=5,
        workstation=WorkstationInfo(workstation_id="pc-1", room=ROOM),
    ),
    AlarmStored(alarm_id=ALARM, stored_at=utc_now()),
    AlarmNotify(
        alarm_id=ALARM,
        level=AlarmLevel.THREAT,
        instruction=Instruction.COME_HELP,
        room=ROOM,
        raiser="A",
        raised_at=utc_now(),
        responders=[Responder(name="B", room="1.02", answer=Answer.COMING)],
    ),
    AlarmUpdate(alarm_id=ALARM, state=AlarmState.RESOLVED, responders=[]),
    Error(code=ErrorCode.NOT_ALLOWED, message="no"),
]


@pytest.mark.parametrize("message", AGENT_MESSAGES, ids=lambda m: type(m).__name__)
def test_agent_messages_survive_the_wire(message: BaseModel) -> None:
    assert agent_to_hub.validate_json(encode(message)) == message


@pytest.mark.parametrize("message", HUB_MESSAGES, ids=lambda m: type(m).__name__)
def test_hub_messages_survive_the_wire(message: BaseModel) -> None:
    assert hub_to_agent.validate_json(encode(message)) == message


def test_console_snapshot_survives_the_wire() -> None:
    snapshot = AlarmSnapshot(alarms=[])
    assert hub_to_console.validate_json(encode(snapshot)) == snapshot


def test_token_is_on_the_wire_but_never_in_repr_or_str() -> None:
    hello = AGENT_MESSAGES[0]
    assert json.loads(encode(hello))["token"] == "s3cret"
    assert "s3cret" not in repr(hello)
    assert "s3cret" not in str(hello)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        agent_to_hub.validate_python({"type": "ping", "id": "1", "room": "9.99"})


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        agent_to_hub.validate_python({"type": "shutdown", "id": "1"})


def test_level_outside_one_to_three_is_refused() -> None:
    with pytest.raises(ValidationError):
        agent_to_hub.validate_python(
            {
                "type": "raise_alarm",
                "id": "1",
                "alarm_id": str(ALARM),
                "level": 4,
                "trigger": "hotkey",
                "raised_at": utc_now().isoformat(),
            }
        )


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError):
        RaiseAlarm(
            alarm_id=ALARM,
            level=AlarmLevel.SUPPORT,
            trigger=Trigger.CLI,
            raised_at=datetime(2026, 1, 1),
        )


def test_a_hub_message_is_not_accepted_from_an_agent() -> None:
    with pytest.raises(ValidationError):
        agent_to_hub.validate_json(encode(HUB_MESSAGES[1]))


def test_committed_schema_matches_the_models() -> None:
    committed = schema_export.SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == schema_export.render(), (
        "protocol models changed: run `python -m shared.schema_export` and review the diff"
    )


def test_schema_covers_every_channel() -> None:
    schema = schema_export.build_schema()
    assert set(schema["properties"]) == set(CHANNELS)


def test_agent_health_is_bounded_and_optional_in_the_welcome() -> None:
    with pytest.raises(ValidationError):
        AgentHealth(reasons=["x"] * 17)
    with pytest.raises(ValidationError):
        AgentHealth(reasons=[""])
    assert AgentHealth().reasons == []
    # A hub before agent_health sends no such field: the agent then never sends one.
    old = {
        "type": "welcome",
        "id": "w",
        "reply_to": "h",
        "protocol": 1,
        "hub_version": "0",
        "heartbeat_interval": 5,
        "workstation": {"workstation_id": "pc-1", "room": None},
    }
    welcome = hub_to_agent.validate_json(json.dumps(old))
    assert isinstance(welcome, Welcome)
    assert welcome.agent_health is False


def test_a_normal_cancel_goes_out_without_the_duress_field() -> None:
    """A hub before the duress cancel refuses unknown fields: a normal cancel still works there."""
    import json

    from shared.protocol import CancelAlarm, agent_to_hub, encode

    alarm_id = uuid.uuid4()
    plain = json.loads(encode(CancelAlarm(alarm_id=alarm_id)))
    assert "duress" not in plain
    forced = json.loads(encode(CancelAlarm(alarm_id=alarm_id, duress=True)))
    assert forced["duress"] is True
    parsed = agent_to_hub.validate_json(encode(CancelAlarm(alarm_id=alarm_id, duress=True)))
    assert isinstance(parsed, CancelAlarm)
    assert parsed.duress
