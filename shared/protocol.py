"""The versioned WebSocket protocol: every message both channels may carry.

Two channels share one envelope. Agents speak on ``/ws/agent``: a ``hello``
first (identity, token, protocol version), then alarms, receipts, answers and
heartbeats. Consoles speak on ``/ws/console`` after a browser login. Every
message has a ``type`` (the discriminator) and an ``id``; a reply names the
message it answers in ``reply_to``. The committed JSON Schema in
``shared/schema/`` is generated from these models and a test fails on drift.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    field_serializer,
    model_serializer,
)

from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer, Instruction, Trigger

PROTOCOL_VERSION = 1
"""Bumped on every incompatible change; the hub refuses versions it does not speak."""

MAX_MESSAGE_BYTES = 64 * 1024
"""Larger frames are closed with 1009 by the WebSocket layer before parsing."""

ALARM_WAITING_HEADER = "X-Silent-Alarm-Waiting"
"""Sent as "1" on the upgrade request by an agent with an alarm in its outbox: the hub lets
it in even while it refuses other handshakes (dispatch/net/admission.py)."""


class CloseCode(IntEnum):
    """WebSocket close codes the hub uses; the close reason says why in words."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    PROTOCOL_ERROR = 4400  # malformed JSON, unknown type, or wrong order
    UNAUTHORIZED = 4401  # unknown workstation, bad token, or no operator session
    FORBIDDEN = 4403  # foreign Origin, or a role that may not do this
    REVOKED = 4410  # an admin revoked this workstation; enrol again
    HANDSHAKE_TIMEOUT = 4408  # no hello in time
    UNSUPPORTED_VERSION = 4426  # protocol version the hub does not speak
    RATE_LIMITED = 4429  # too many non-alarm messages; alarms themselves are never limited
    TOO_SLOW = 4503  # the peer did not read its messages; reconnect to catch up
    HEARTBEAT_TIMEOUT = 4504  # nothing heard for 2.5 heartbeat intervals


class ErrorCode(StrEnum):
    """Errors answered in-band; the connection stays open."""

    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_ALARM = "unknown_alarm"
    NOT_A_RECIPIENT = "not_a_recipient"
    NOT_ALLOWED = "not_allowed"
    UNASSIGNED = "unassigned"  # the workstation has no room yet; the alarm cannot be routed
    NO_DRILL = "no_drill"  # a drill alarm outside any scheduled drill of the site
    INTERNAL = "internal"


_STRICT = ConfigDict(extra="forbid", frozen=True, defer_build=True)
"""Every model: no unknown fields, immutable, and built on first use.

``defer_build`` keeps a process from building validators it never uses: the
agent needs only its own channel and never builds the console's models
(~50 ms less start-up). The hub builds all of them at start
(:func:`build_all`), so its first alarm does not pay for them.
"""


def new_message_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Message(BaseModel):
    model_config = _STRICT

    id: str = Field(default_factory=new_message_id, min_length=1, max_length=64)


class _Reply(_Message):
    reply_to: str | None = Field(default=None, max_length=64)


# --- values carried inside messages ----------------------------------------


class RoomRef(BaseModel):
    """Where help is needed, as the hub's own mapping says (never the agent's claim)."""

    model_config = _STRICT

    number: str
    name: str
    floor: str
    building: str | None = None
    entrance: str | None = None  # nearest marked entrance or stairwell, for responders
    phone: str | None = None


class Responder(BaseModel):
    model_config = _STRICT

    name: str
    room: str | None = None
    answer: Answer


class LevelSettings(BaseModel):
    """What the agent needs to know of its site's policy for one level."""

    model_config = _STRICT

    level: AlarmLevel
    countdown_s: int = Field(default=0, ge=0, le=10)  # 0: send at once (the default)
    cancel_window_s: int = Field(default=0, ge=0)


class IncidentReport(BaseModel):
    """Written by the operator who resolves a real alarm; feeds the statistics."""

    # Built at import, not deferred: it is also a REST request body, and FastAPI
    # builds its adapter at route creation inside a warnings filter that a later
    # build would miss (UnsupportedFieldAttributeWarning for the body's alias).
    model_config = ConfigDict(extra="forbid", frozen=True)

    assessed_level: AlarmLevel  # the Aachener level as assessed afterwards
    police_called: bool = False
    injuries: bool = False
    property_damage: bool = False
    house_ban: bool = False
    notes: str = Field(default="", max_length=4000)


class WorkstationInfo(BaseModel):
    model_config = _STRICT

    workstation_id: str
    room: RoomRef | None  # None while an admin has not assigned a room


class ConsoleAlarm(BaseModel):
    """One alarm as the guards' console shows it."""

    model_config = _STRICT

    alarm_id: uuid.UUID
    level: AlarmLevel
    kind: AlarmKind = AlarmKind.ALARM  # a drill is shown as "ÜBUNG"; self-tests never appear
    state: AlarmState
    room: RoomRef | None  # None only for a workstation an admin has not placed yet
    site_id: int | None = None  # for the floor plan and the police hand-off panel
    floor_id: int | None = None
    room_id: int | None = None
    workstation_id: str
    raiser: str | None
    trigger: Trigger
    raised_at: AwareDatetime
    stored_at: AwareDatetime
    recipients: int
    delivered: int
    responders: list[Responder]  # answers, including "arrived"
    escalation_step: int = 0  # how many times the circle was widened
    acknowledged_by: str | None = None
    arrived_by: str | None = None  # the operator who marked help as arrived
    resolved_by: str | None = None
    cancelled_at: AwareDatetime | None = None
    # The raiser withdrew it under duress: still open, level 3, "unter Zwang zurückgenommen".
    cancelled_under_duress_at: AwareDatetime | None = None
    report: IncidentReport | None = None


class WorkstationStatus(BaseModel):
    """One row of the coverage board: is this PC protected right now?"""

    model_config = _STRICT

    workstation_id: str
    online: bool
    last_seen_at: AwareDatetime | None = None
    self_test_ok: bool | None = None  # None: no self-test yet
    self_test_at: AwareDatetime | None = None
    # Why the PC is not protected ([]: it is, as far as the hub knows): the agent's own
    # reasons (agent_health) and the hub's ("offline", "no_room", "self_test_failed").
    unprotected_reasons: list[str] = Field(default_factory=list)


# --- both channels ---------------------------------------------------------


class Ping(_Message):
    type: Literal["ping"] = "ping"


class Pong(_Reply):
    type: Literal["pong"] = "pong"


class Error(_Reply):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str


# --- agent channel: agent -> hub -------------------------------------------


class RemoteSession(BaseModel):
    """The agent runs in a remote session (RDS, Citrix, xrdp): the room is its client's.

    ``client_name`` is the client device's name as the session reports it (Windows'
    ``WTSClientName``/``CLIENTNAME``). The hub maps it like a PC's id; a session whose
    client name is unknown cannot be mapped and never says hello (agent/remote_session.py).
    """

    model_config = _STRICT

    client_name: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")


class Hello(_Message):
    """First message on an agent socket; anything else first closes with 4400."""

    type: Literal["hello"] = "hello"
    protocol: int = Field(ge=1)
    workstation_id: str = Field(min_length=1, max_length=128)
    token: SecretStr = Field(min_length=1, max_length=256)
    agent_version: str = Field(max_length=64)
    user: str | None = Field(default=None, max_length=128)  # display name of who is logged in
    # Set only in a remote session (issue 19): the hub then routes by the client's room,
    # never by the host's. Agents before this field, and agents on a PC, send none.
    remote_session: RemoteSession | None = None

    @field_serializer("token", when_used="json")
    def _reveal_token_on_the_wire(self, token: SecretStr) -> str:
        # Only the wire form carries the secret; repr() and logs see '**********'.
        return token.get_secret_value()

    @model_serializer(mode="wrap")
    def _session_only_when_remote(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # A hub before this field refuses unknown fields: an agent on a PC still says hello
        # there; one in a remote session is refused (4400) rather than routed by the host.
        data: dict[str, Any] = handler(self)
        if self.remote_session is None:
            data.pop("remote_session", None)
        return data


class RaiseAlarm(_Message):
    type: Literal["raise_alarm"] = "raise_alarm"
    alarm_id: uuid.UUID  # generated by the agent: the idempotency key for retries
    level: AlarmLevel
    trigger: Trigger
    raised_at: AwareDatetime
    claimed_room: str | None = Field(default=None, max_length=64)  # logged, never trusted
    kind: AlarmKind = AlarmKind.ALARM


class AgentHealth(_Message):
    """What the agent found broken on its PC ([]: nothing): sent after the welcome and on
    every change, only to a hub whose Welcome has ``agent_health`` true (an older hub
    would close the socket on an unknown type). Values: "hotkey_unavailable",
    "no_tray", "no_room", "self_test_failed"; a hub shows values it does not know as they are.
    """

    type: Literal["agent_health"] = "agent_health"
    reasons: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=16
    )


class PeerListen(_Message):
    """The agent takes its neighbours' alarms directly on ``port`` (issue 16): sent after the
    welcome, only to a hub whose Welcome has ``peer_directory`` true. The hub answers with
    ``peer_directory`` and lists this PC in its neighbours' directories while it is connected.
    """

    type: Literal["peer_listen"] = "peer_listen"
    port: int = Field(ge=1, le=65535)


class CancelAlarm(_Message):
    """The raiser withdraws an alarm within the policy's cancel window."""

    type: Literal["cancel_alarm"] = "cancel_alarm"
    alarm_id: uuid.UUID
    # The raiser's duress cancel: the raiser and staff are told "withdrawn" as for a normal
    # cancel, but the alarm stays open at level 3 for security.
    duress: bool = False

    @model_serializer(mode="wrap")
    def _duress_only_when_set(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # A hub before this field refuses unknown fields: a normal cancel goes out without
        # it, so it still works there; a duress cancel is refused there and the alarm stays.
        data: dict[str, Any] = handler(self)
        if not self.duress:
            data.pop("duress", None)
        return data


class Receipt(_Message):
    """A recipient's agent confirms the popup is on screen."""

    type: Literal["receipt"] = "receipt"
    alarm_id: uuid.UUID


class Respond(_Message):
    type: Literal["respond"] = "respond"
    alarm_id: uuid.UUID
    answer: Answer


# --- agent channel: hub -> agent -------------------------------------------


class Welcome(_Reply):
    type: Literal["welcome"] = "welcome"
    protocol: int
    hub_version: str
    heartbeat_interval: float = Field(gt=0)  # seconds between pings each way
    workstation: WorkstationInfo
    levels: list[LevelSettings] = Field(default_factory=list)  # the site's policy, per level
    # "websocket": the hub sends WebSocket ping frames every heartbeat_interval and
    # closes a peer whose pong is late; the agent sends no ping messages and treats
    # 2 intervals without any frame as a lost hub. "app": ping/pong messages both
    # ways (hubs before this field).
    keepalive: Literal["app", "websocket"] = "app"
    agent_health: bool = False  # this hub takes AgentHealth messages (older hubs: no)
    peer_directory: bool = False  # this hub takes PeerListen (issue 16; older hubs: no)


class AlarmStored(_Reply):
    """Sent to the raiser only after the alarm is committed to the store."""

    type: Literal["alarm_stored"] = "alarm_stored"
    alarm_id: uuid.UUID
    stored_at: AwareDatetime
    duplicate: bool = False  # a retry of an alarm the hub already had
    cancel_window_s: int = 0  # how long after stored_at the raiser may cancel


class AlarmNotify(_Message):
    """An alarm for a recipient. Level 3 to staff carries STAY_AWAY and no room."""

    type: Literal["alarm_notify"] = "alarm_notify"
    alarm_id: uuid.UUID
    level: AlarmLevel
    kind: AlarmKind = AlarmKind.ALARM  # drill: shown as "ÜBUNG"; self_test: no popup, a receipt
    instruction: Instruction
    room: RoomRef | None
    raiser: str | None
    raised_at: AwareDatetime
    responders: list[Responder] = Field(default_factory=list)


class AlarmUpdate(_Message):
    """State and responders of an alarm, to its raiser and its recipients.

    The raiser's copy follows the policy's feedback setting: with "count" the
    responders list is empty and only ``coming`` is set; with "none" both are.
    """

    type: Literal["alarm_update"] = "alarm_update"
    alarm_id: uuid.UUID
    state: AlarmState
    responders: list[Responder]
    coming: int = 0  # responders who said "Ich komme" or have arrived


class WorkstationUpdate(_Message):
    """The hub's mapping of this workstation changed while its agent is connected
    (moved to another room, a pending PC assigned one, its room renamed): the
    ``workstation`` of the welcome, as it is now. Agents before this message ignore it.
    """

    type: Literal["workstation_update"] = "workstation_update"
    workstation: WorkstationInfo
    # Only when the PC moved to another site: that site's policy per level, as in the
    # welcome (the countdown before sending). None: the site, and so these, stayed.
    levels: list[LevelSettings] | None = None


class RaiserStatus(_Message):
    """The raiser's own view of one of its alarms (issue 13: told the truth).

    Sent to the raiser's agent just before the ``alarm_update`` of the same change
    (and on its own when receipts come in or the hub decides "nobody reached"), and
    replayed on connect for every open alarm the workstation raised. A new message
    rather than new ``alarm_update`` fields: agents before it ignore an unknown type,
    while an ``alarm_update`` with fields they do not know would be dropped whole.
    ``coming`` and ``responders`` follow the policy's feedback setting as in
    ``alarm_update``; everything else is told whatever the setting.
    """

    type: Literal["raiser_status"] = "raiser_status"
    alarm_id: uuid.UUID
    state: AlarmState
    kind: AlarmKind = AlarmKind.ALARM  # a drill is marked "ÜBUNG" on the raiser's notice
    coming: int = 0
    responders: list[Responder] = Field(default_factory=list)  # only with the "names" policy
    delivered: int = 0  # recipients whose popup is on screen (receipts)
    recipients: int = 0  # recipients the alarm went to so far
    seen_by_console: bool = False  # a guards' console confirmed it shows the alarm
    acknowledged_by_security: bool = False  # an operator took the alarm
    # Nobody had the popup on screen and no console showed it by the policy's
    # nobody_reached_s, or every recipient answered "Kann nicht" and no operator took
    # it: the raiser must call for help by phone.
    nobody_reached: bool = False


class PeerAddress(BaseModel):
    """One workstation that would get this PC's level-1/2 alarm, where the hub last saw it."""

    model_config = _STRICT

    workstation_id: str = Field(min_length=1, max_length=128)
    address: str = Field(min_length=1, max_length=64)  # the IP the hub sees its WebSocket from
    port: int = Field(ge=1, le=65535)  # where it listens (its peer_listen)


class PeerDirectory(_Message):
    """What the agent needs to alarm its neighbours directly when no hub answers (issue 16).

    Sent in answer to ``peer_listen`` and again when the topology or the set of
    listening agents changes. ``peers``: the connected, listening workstations the hub
    would route this PC's level-1/2 alarm to (neighbours and security), at the address
    the hub sees their WebSocket come from. ``site_key`` (hex, 256 bit) authenticates the
    agent-to-agent frames of the site; ``key_epoch`` changes when a PC of the site is
    revoked (the key rotates with it). Both are secrets: never logged.
    """

    type: Literal["peer_directory"] = "peer_directory"
    site_id: int
    key_epoch: int = Field(ge=0)
    site_key: SecretStr = Field(min_length=32, max_length=128)
    peers: list[PeerAddress] = Field(default_factory=list, max_length=256)

    @field_serializer("site_key", when_used="json")
    def _reveal_key_on_the_wire(self, key: SecretStr) -> str:
        return key.get_secret_value()


# --- both channels, hub -> peer ----------------------------------------------


class StoreStatus(_Message):
    """Whether the hub can store alarms (issue 16), to agents and consoles.

    Sent on connect when the store is not ready, and to everyone on every change.
    ``can_store`` false: the last write failed on a full or broken disk (an alarm
    raised now is answered ``error: internal`` and re-sent): the agent shows "not
    protected" ("Zentrale kann nicht speichern"), the console a banner. ``problem``
    "no_reserve": alarms are stored, on the disk reserve; consoles warn the admin.
    Agents before this message ignore it (an unknown type).
    """

    type: Literal["store_status"] = "store_status"
    can_store: bool
    problem: Literal["disk_full", "io_error", "no_reserve"] | None = None


# --- console channel --------------------------------------------------------


class AlarmSnapshot(_Message):
    """Every active alarm, sent when a console connects.

    ``recently_resolved``: the last few alarms resolved in the last hours, newest
    first, so a reloaded console (or the next shift's) still shows how their
    all-clears went ("Kürzlich erledigt"); their channel counts follow as
    ``alarm_channels``."""

    type: Literal["alarm_snapshot"] = "alarm_snapshot"
    alarms: list[ConsoleAlarm]
    recently_resolved: list[ConsoleAlarm] = Field(default_factory=list)


class ConsoleAlarmChanged(_Message):
    type: Literal["alarm_changed"] = "alarm_changed"
    alarm: ConsoleAlarm


class ChannelCount(BaseModel):
    """One outbound channel's deliveries of an alarm (issue 20): "E-Mail 2/2", "SMS 0/1"."""

    model_config = _STRICT

    channel: str  # email | webhook | espa | webpush (dispatch.channels.base.ChannelKind)
    name: str = ""  # a webhook endpoint's label ("SMS"); empty: the channel's own name
    recipients: int
    sent: int
    retrying: int = 0  # failed, tried again with backoff
    given_up: int = 0  # failed for good
    reason: str | None = None  # the last failure, one line without secrets


class AlarmChannels(_Message):
    """How an alarm's messages to people away from a PC went, per channel; sent to the
    consoles that show the alarm whenever one changes, and after the snapshot."""

    type: Literal["alarm_channels"] = "alarm_channels"
    alarm_id: uuid.UUID
    channels: list[ChannelCount]
    # The all-clears sent to them once the alarm ended for them, counted apart: "E-Mail 2/2"
    # stays who was sent the alarm, and a failed all-clear is someone still waiting behind a
    # locked door.
    all_clear: list[ChannelCount] = Field(default_factory=list)


class Acknowledge(_Message):
    type: Literal["acknowledge"] = "acknowledge"
    alarm_id: uuid.UUID


class Seen(_Message):
    """The console has rendered this alarm's row: it counts as reached (issue 13)."""

    type: Literal["seen"] = "seen"
    alarm_id: uuid.UUID


class Arrive(_Message):
    """An operator confirms that help is at the room."""

    type: Literal["arrive"] = "arrive"
    alarm_id: uuid.UUID


class Resolve(_Message):
    """The all-clear. A real alarm is resolved with its incident report."""

    type: Literal["resolve"] = "resolve"
    alarm_id: uuid.UUID
    report: IncidentReport | None = None


class WorkstationChanged(_Message):
    """A workstation went on- or offline or ran a self-test (the coverage board)."""

    type: Literal["workstation_changed"] = "workstation_changed"
    workstation: WorkstationStatus


AgentToHub = Annotated[
    Hello | RaiseAlarm | CancelAlarm | Receipt | Respond | Ping | Pong | AgentHealth | PeerListen,
    Field(discriminator="type"),
]
HubToAgent = Annotated[
    Welcome
    | AlarmStored
    | AlarmNotify
    | AlarmUpdate
    | RaiserStatus
    | Ping
    | Pong
    | Error
    | WorkstationUpdate
    | StoreStatus
    | PeerDirectory,
    Field(discriminator="type"),
]
ConsoleToHub = Annotated[
    Acknowledge | Arrive | Resolve | Seen | Ping | Pong, Field(discriminator="type")
]
HubToConsole = Annotated[
    AlarmSnapshot
    | ConsoleAlarmChanged
    | AlarmChannels
    | WorkstationChanged
    | StoreStatus
    | Ping
    | Pong
    | Error,
    Field(discriminator="type"),
]

_DEFERRED = ConfigDict(defer_build=True)  # each channel's validator is built on first use
agent_to_hub: TypeAdapter[AgentToHub] = TypeAdapter(AgentToHub, config=_DEFERRED)
hub_to_agent: TypeAdapter[HubToAgent] = TypeAdapter(HubToAgent, config=_DEFERRED)
console_to_hub: TypeAdapter[ConsoleToHub] = TypeAdapter(ConsoleToHub, config=_DEFERRED)
hub_to_console: TypeAdapter[HubToConsole] = TypeAdapter(HubToConsole, config=_DEFERRED)

CHANNELS: dict[str, TypeAdapter[Any]] = {
    "agent_to_hub": agent_to_hub,
    "hub_to_agent": hub_to_agent,
    "console_to_hub": console_to_hub,
    "hub_to_console": hub_to_console,
}


def encode(message: BaseModel) -> str:
    """The wire form of one message."""
    return message.model_dump_json(exclude_none=False)


def models() -> list[type[BaseModel]]:
    """Every model of the protocol, both channels, values and messages."""
    return [
        value
        for value in globals().values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
    ]


def build_all() -> None:
    """Build every validator and serializer now; the hub calls this at start.

    Without it the first message of each type would pay for its build (a few
    milliseconds each) on the alarm path.
    """
    for model in models():
        model.model_rebuild()  # a no-op for a model already built
    for adapter in CHANNELS.values():
        adapter.rebuild()
