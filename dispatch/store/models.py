"""SQLAlchemy tables of the hub; Alembic migrations are written against this metadata."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.domain import RoomLinkKind, WorkstationState

# A fixed naming convention keeps Alembic's generated constraint names stable on
# every backend (SQLite batch migrations need named constraints).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns aware datetimes (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store UTC-aware times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Site(Base):
    """A location with its own address, police hand-off data and routing settings."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(400), default="")
    police_notes: Mapped[str] = mapped_column(Text, default="")  # access, parking, key safe
    phone: Mapped[str] = mapped_column(String(64), default="")
    # Rooms on the same floor within this distance count as neighbours (0: links only).
    neighbour_radius_m: Mapped[float] = mapped_column(Float, default=0.0)


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(400), default="")


class Floor(Base):
    __tablename__ = "floors"
    __table_args__ = (UniqueConstraint("building_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    name: Mapped[str] = mapped_column(String(64))  # "EG", "1. OG"
    level: Mapped[int] = mapped_column(Integer, default=0)  # sort order, 0 = ground floor
    plan_file: Mapped[str | None] = mapped_column(String(200))  # under DATA_DIR/plans/
    width_m: Mapped[float | None] = mapped_column(Float)  # the plan's extent in metres
    height_m: Mapped[float | None] = mapped_column(Float)


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    floor_id: Mapped[int] = mapped_column(ForeignKey("floors.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(64), default="")
    x_m: Mapped[float | None] = mapped_column(Float)  # position on the floor plan, metres
    y_m: Mapped[float | None] = mapped_column(Float)
    # The nearest marked entrance or stairwell for responders and police.
    entrance: Mapped[str] = mapped_column(String(120), default="")


class RoomNeighbour(Base):
    """An admin's word on two rooms, stored in both directions.

    ``link`` makes them neighbours whatever their distance; ``exclude`` keeps
    rooms apart that the distance rule would join (a fire wall, another unit).
    """

    __tablename__ = "room_neighbours"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    neighbour_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), default=RoomLinkKind.LINK.value)


class Workstation(Base):
    __tablename__ = "workstations"
    __table_args__ = (Index("ix_workstations_room_id", "room_id"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=WorkstationState.ACTIVE.value)
    hostname: Mapped[str] = mapped_column(String(128), default="")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the device secret
    agent_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The agent's last end-to-end self-test: passed when its echo came back.
    self_test_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    self_test_ok: Mapped[bool | None] = mapped_column(Boolean)


class EnrolmentCode(Base):
    """A one-time, expiring code an agent trades for its per-device secret."""

    __tablename__ = "enrolment_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))  # pre-assigned, optional
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    workstation_id: Mapped[str | None] = mapped_column(String(128))


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # since the last success
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Raised to end every session of the operator at once (dispatch/directory/sessions.py).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # "local" (password here) or "directory" (LDAP bind; role and sites from its groups).
    source: Mapped[str] = mapped_column(String(16), default="local", server_default="local")
    # The latest login while its sessions may still live; None once they were all ended.
    session_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PushSubscription(Base):
    """One browser's Web Push subscription (RFC 8030) for an operator: where the hub posts
    and the keys it encrypts to (RFC 8291). Valid while the operator's session epoch is the
    one it was made at: logout, a new password, a role change and disabling end it."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    # The push service's URL for this browser; a capability, never logged (only its host).
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(128))  # the browser's P-256 key, base64url
    auth: Mapped[str] = mapped_column(String(64))  # its 16-byte auth secret, base64url
    session_epoch: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OperatorSite(Base):
    """The sites an operator covers; an operator with none covers every site."""

    __tablename__ = "operator_sites"

    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)


class AlarmPolicy(Base):
    """Who is alerted, what they are told and how it escalates, per site and level.

    ``scopes`` and ``escalation`` are JSON: scopes from dispatch.routing.policy.Scope,
    escalation a list of ``{"after_s": 60, "scope": "floor"}`` steps.
    """

    __tablename__ = "alarm_policies"
    __table_args__ = (UniqueConstraint("site_id", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    level: Mapped[int] = mapped_column(Integer)
    scopes: Mapped[str] = mapped_column(Text)
    raiser_feedback: Mapped[str] = mapped_column(String(16))  # none | count | names
    escalation: Mapped[str] = mapped_column(Text, default="[]")
    cancel_window_s: Mapped[int] = mapped_column(Integer, default=0)
    countdown_s: Mapped[int] = mapped_column(Integer, default=0)  # before the agent sends
    # Seconds after storing until the raiser is told "nobody reached" (no receipt, no console).
    nobody_reached_s: Mapped[int] = mapped_column(Integer, default=10)


class Drill(Base):
    """A scheduled drill: while it runs, drill alarms of its site go only to its scopes."""

    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    scopes: Mapped[str] = mapped_column(Text)  # JSON list of dispatch.routing.policy.Scope
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Alarm(Base):
    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_state", "state"),
        Index("ix_alarms_state_resolved_at", "state", "resolved_at"),  # recently resolved
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # client-generated UUID
    workstation_id: Mapped[str] = mapped_column(ForeignKey("workstations.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    level: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    raiser_name: Mapped[str | None] = mapped_column(String(200))
    claimed_room: Mapped[str | None] = mapped_column(String(64))
    # alarm | drill | self_test (shared.domain.AlarmKind); only "alarm" counts in statistics.
    kind: Mapped[str] = mapped_column(String(16), default="alarm")
    drill_id: Mapped[int | None] = mapped_column(ForeignKey("drills.id"))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Escalation timers live here, not in memory, so they survive a hub restart.
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Fixed when raised from the policy then in force; a later policy change does not move it.
    cancel_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the raiser is told of responders (none | count | names), fixed at raise time too.
    raiser_feedback: Mapped[str] = mapped_column(String(16), default="count")
    # The nobody-reached timer, like the escalation's: NULL once decided (or a self-test).
    reach_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    nobody_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # raiser told
    console_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # first console
    # The raiser was forced to withdraw it (a duress cancel): it stays open at level 3 for
    # security, while the raiser and staff were told it was withdrawn.
    cancelled_under_duress_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    arrived_by: Mapped[str | None] = mapped_column(String(200))
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlarmRecipient(Base):
    """One row per workstation an alarm was routed to: delivery and answer."""

    __tablename__ = "alarm_recipients"
    __table_args__ = (Index("ix_alarm_recipients_workstation_id", "workstation_id"),)

    alarm_id: Mapped[str] = mapped_column(ForeignKey("alarms.id"), primary_key=True)
    workstation_id: Mapped[str] = mapped_column(ForeignKey("workstations.id"), primary_key=True)
    instruction: Mapped[str] = mapped_column(String(32))
    with_location: Mapped[bool] = mapped_column()
    step: Mapped[int] = mapped_column(Integer, default=0)  # 0: first fan-out, n: escalation n
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(String(16))
    responder_name: Mapped[str | None] = mapped_column(String(200))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IncidentReport(Base):
    """The operator's report on a resolved alarm: what the yearly statistics count."""

    __tablename__ = "incident_reports"

    alarm_id: Mapped[str] = mapped_column(ForeignKey("alarms.id"), primary_key=True)
    assessed_level: Mapped[int] = mapped_column(Integer)
    police_called: Mapped[bool] = mapped_column(Boolean, default=False)
    injuries: Mapped[bool] = mapped_column(Boolean, default=False)
    property_damage: Mapped[bool] = mapped_column(Boolean, default=False)
    house_ban: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    written_by: Mapped[str] = mapped_column(String(200))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Entrance(Base):
    """A marked entrance or stairwell on a floor plan ("Eingang B / Treppenhaus 2")."""

    __tablename__ = "entrances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    floor_id: Mapped[int] = mapped_column(ForeignKey("floors.id"), index=True)
    label: Mapped[str] = mapped_column(String(120))
    x_m: Mapped[float] = mapped_column(Float)
    y_m: Mapped[float] = mapped_column(Float)


class AuditEvent(Base):
    """Append-only, hash-chained trail of every state change (who, what, when, where)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    alarm_id: Mapped[str | None] = mapped_column(String(36), index=True)
    workstation_id: Mapped[str | None] = mapped_column(String(128))
    room_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    # Unique: two events appended to the same head (a forked chain) cannot both commit.
    previous_hash: Mapped[str] = mapped_column(String(64), index=True, unique=True)
    hash: Mapped[str] = mapped_column(String(64))  # see dispatch.store.audit


class TopologyVersion(Base):
    """One row (id 1) whose counter rises with every change routing depends on.

    Database triggers raise it (migration 0006), so a change from any process is
    seen; the hub reloads its routing snapshot when the number moved.
    """

    __tablename__ = "topology_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class ChannelRecipient(Base):
    """Someone away from a PC told of a site's alarms of one level on one channel (issue 20).

    Part of the policy: ``after_s`` 0 sends when the alarm is stored, N sends N seconds
    later if nobody has acknowledged it by then. The transport and its secrets are
    settings, never rows: ``address`` is only where to (an e-mail address, or a webhook
    endpoint's name and its recipient, ``sms:+49…``).
    """

    __tablename__ = "channel_recipients"
    __table_args__ = (Index("ix_channel_recipients_site_level", "site_id", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    level: Mapped[int] = mapped_column(Integer)
    after_s: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str] = mapped_column(String(16))  # dispatch.channels.base.ChannelKind
    address: Mapped[str] = mapped_column(String(400))
    label: Mapped[str] = mapped_column(String(200), default="")  # "Wachleitung Handy"
    audience: Mapped[str] = mapped_column(String(16))  # dispatch.channels.base.Audience
    language: Mapped[str] = mapped_column(String(8), default="de")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChannelDelivery(Base):
    """The delivery queue: one row per (alarm, channel recipient, kind), sent at least once.

    ``state``: due → sending → sent | failed (retried at ``due_at``) → given_up; dropped
    when the alarm ended before it went out. The recipient's channel, address and
    audience are copied in, so an admin's later change never rewrites what was sent.
    ``idempotency_key`` goes with every attempt (the webhook's ``Idempotency-Key``, the
    e-mail's Message-ID), so a receiver can tell a re-send after a crash from a new alarm.
    ``kind`` "alarm" is the alarm's message, "all_clear" its all-clear to a recipient
    the alarm's message was sent to (dispatch/channels/allclear.py).
    """

    __tablename__ = "channel_deliveries"
    __table_args__ = (
        UniqueConstraint("alarm_id", "recipient_id", "kind"),
        Index("ix_channel_deliveries_state_due_at", "state", "due_at"),
        # The all-clear's planning reads sent alarm rows not closed yet: few, whatever the
        # table's history (dispatch/channels/allclear.py).
        Index("ix_channel_deliveries_state_closed_at", "state", "closed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    alarm_id: Mapped[str] = mapped_column(ForeignKey("alarms.id"), index=True)
    recipient_id: Mapped[int] = mapped_column(Integer)  # no FK: the recipient may be deleted
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(400))
    label: Mapped[str] = mapped_column(String(200), default="")
    audience: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="de")
    after_s: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the send's lease
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(String(300), default="")  # one line, no secret
    reference: Mapped[str] = mapped_column(String(300), default="")  # Message-ID, gateway id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16), default="alarm")  # alarm | all_clear
    # The alarm's level when the row was planned: a duress cancel raises the alarm to 3,
    # and staff's all-clear must still read as the withdrawal of the alarm they were told.
    level: Mapped[int] = mapped_column(Integer, default=0)
    # An alarm row: when its all-clear was planned (NULL while the alarm goes on); an
    # all-clear row: when it was made. Only sent alarm rows with NULL are looked at.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
