"""Issue 13 on the wire: the raiser's view travels as a new message, so agents before it
keep working (they parse strictly: unknown fields drop a message, unknown types are ignored)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

from agent.link import _parse
from shared.domain import AlarmState
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    Error,
    Ping,
    Pong,
    RaiserStatus,
    Welcome,
    encode,
)

# The agent channel as agents before issue 13 knew it.
OLD_HUB_TO_AGENT: TypeAdapter[object] = TypeAdapter(
    Annotated[
        Welcome | AlarmStored | AlarmNotify | AlarmUpdate | Ping | Pong | Error,
        Field(discriminator="type"),
    ]
)


def test_alarm_update_keeps_exactly_its_old_fields() -> None:
    # A new field here would make older agents drop every alarm_update (all-clears too).
    assert set(AlarmUpdate.model_fields) == {
        "id",
        "type",
        "alarm_id",
        "state",
        "responders",
        "coming",
    }


def test_an_older_agent_reads_the_update_and_ignores_the_status() -> None:
    alarm = uuid.uuid4()
    update = encode(AlarmUpdate(alarm_id=alarm, state=AlarmState.ACTIVE, responders=[], coming=1))
    status = encode(RaiserStatus(alarm_id=alarm, state=AlarmState.ACTIVE, nobody_reached=True))
    assert isinstance(OLD_HUB_TO_AGENT.validate_json(update), AlarmUpdate)
    try:
        OLD_HUB_TO_AGENT.validate_json(status)
    except ValidationError:
        pass  # the old link's _parse turns this into None: "ignored a message"
    else:
        raise AssertionError("an older agent must not understand raiser_status")


def test_this_agent_reads_the_status() -> None:
    alarm = uuid.uuid4()
    status = encode(RaiserStatus(alarm_id=alarm, state=AlarmState.ACTIVE, nobody_reached=True))
    parsed = _parse(status)
    assert isinstance(parsed, RaiserStatus)
    assert parsed.nobody_reached
