"""The bus between hub instances: each tells the others the store changed, so they look again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import structlog
from sqlalchemy.engine import make_url

from dispatch.store.postgres_hosts import libpq_form
from shared.protocol import utc_now

if TYPE_CHECKING:
    import asyncpg  # type: ignore[import-untyped]  # ships no type hints

log = structlog.get_logger(__name__)

BusMode = Literal["auto", "local", "postgres"]

CHANNEL = "silent_alarm_bus"
"""One channel per database: NOTIFY never crosses databases, so deployments cannot mix."""

MAX_PAYLOAD_BYTES = 7999
"""PostgreSQL refuses NOTIFY payloads of 8000 bytes or more."""

OUTBOX_LIMIT = 10_000
"""Events kept while the connection is down; beyond that the oldest are dropped (logged)."""


class EventType(StrEnum):
    """The ``type`` of an event on the wire."""

    ALARM_STORED = "alarm_stored"
    ALARM_CHANGED = "alarm_changed"
    ALARM_DELIVERED = "alarm_delivered"
    ALARM_CHANNELS = "alarm_channels"
    ALARM_ESCALATED = "alarm_escalated"
    WORKSTATION_CHANGED = "workstation_changed"
    WORKSTATION_REVOKED = "workstation_revoked"
    RESYNC = "resync"


# Each event only names what changed: receivers reload the record from the store. The
# one exception is a new alarm's popups, which travel along when they fit. ``instance``
# is the publishing hub instance, stamped by the bus.


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmStored:
    """A new alarm: notify its recipients, show it on consoles.

    When they fit: the encoded popups (one per instruction and location variant) and
    which recipient gets which, so receivers send without reading the store.
    """

    TYPE: ClassVar[EventType] = EventType.ALARM_STORED
    alarm_id: uuid.UUID
    popups: tuple[str, ...] = ()
    deliveries: tuple[tuple[str, int], ...] = ()
    instance: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmChanged:
    """State or responders: update the raiser, the recipients and the consoles."""

    TYPE: ClassVar[EventType] = EventType.ALARM_CHANGED
    alarm_id: uuid.UUID
    instance: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmDelivered:
    """Receipts: only the consoles' delivered count (and the raiser's "zugestellt") changed."""

    TYPE: ClassVar[EventType] = EventType.ALARM_DELIVERED
    alarm_id: uuid.UUID
    instance: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmChannels:
    """Its e-mails, SMS, … were planned, sent or failed (issue 20): the consoles' counts."""

    TYPE: ClassVar[EventType] = EventType.ALARM_CHANNELS
    alarm_id: uuid.UUID
    instance: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmEscalated:
    """Notify ``added``; None (too long for NOTIFY): whoever has not confirmed it yet."""

    TYPE: ClassVar[EventType] = EventType.ALARM_ESCALATED
    alarm_id: uuid.UUID
    added: tuple[str, ...] | None = None
    instance: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkstationChanged:
    """On/offline, the last self-test or what its agent reported broken: the coverage board.

    The self-test is as the publishing instance knows it; ``agent_reasons`` None: unknown.
    """

    TYPE: ClassVar[EventType] = EventType.WORKSTATION_CHANGED
    workstation_id: str
    online: bool | None = None
    self_test_ok: bool | None = None
    self_test_at: datetime | None = None
    agent_reasons: tuple[str, ...] | None = None
    instance: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkstationRevoked:
    """Close its live socket wherever it is."""

    TYPE: ClassVar[EventType] = EventType.WORKSTATION_REVOKED
    workstation_id: str
    instance: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resync:
    """Local only, after the bus was down: alarms and revocations changed meanwhile."""

    TYPE: ClassVar[EventType] = EventType.RESYNC
    alarm_ids: tuple[uuid.UUID, ...] = ()
    revoked: tuple[str, ...] = ()
    instance: str = ""


BusEvent = (
    AlarmStored
    | AlarmChanged
    | AlarmDelivered
    | AlarmChannels
    | AlarmEscalated
    | WorkstationChanged
    | WorkstationRevoked
    | Resync
)

Handler = Callable[[BusEvent], Awaitable[None]]


class Bus(Protocol):
    instance: str

    async def start(self, handler: Handler) -> None: ...

    def publish(self, event: BusEvent) -> None:
        """Queues without waiting: the alarm path never waits for other instances."""

    async def stop(self) -> None: ...

    @property
    def connected(self) -> bool:
        """Hears the other instances (a bus with none to hear always does): /readyz."""


# --- wire form ------------------------------------------------------------------------


def encode(event: BusEvent) -> str:
    """Compact JSON below PostgreSQL's NOTIFY limit; a recipient list too long is left out."""
    body: dict[str, Any] = {"instance": event.instance, "type": event.TYPE.value}
    match event:
        case AlarmStored():
            body["alarm_id"] = str(event.alarm_id)
            if event.popups:
                body["popups"] = list(event.popups)
                body["deliveries"] = [list(d) for d in event.deliveries]
        case AlarmChanged() | AlarmDelivered() | AlarmChannels():
            body["alarm_id"] = str(event.alarm_id)
        case AlarmEscalated():
            body["alarm_id"] = str(event.alarm_id)
            if event.added is not None:
                body["added"] = list(event.added)
        case WorkstationChanged():
            body["workstation_id"] = event.workstation_id
            if event.online is not None:
                body["online"] = event.online
            if event.self_test_ok is not None:
                body["self_test_ok"] = event.self_test_ok
            if event.self_test_at is not None:
                body["self_test_at"] = event.self_test_at.isoformat()
            if event.agent_reasons is not None:
                body["agent_reasons"] = list(event.agent_reasons)
        case WorkstationRevoked():
            body["workstation_id"] = event.workstation_id
        case Resync():
            pass  # never published: each instance catches up by itself
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_PAYLOAD_BYTES and "popups" in body:
        # Too many recipients to carry along: receivers read the alarm from the store.
        del body["popups"], body["deliveries"]
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_PAYLOAD_BYTES and "added" in body:
        # A level-3 escalation can add thousands of PCs; receivers ask the store instead.
        del body["added"]
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"bus event too large for NOTIFY: {len(text.encode())} bytes")
    return text


def decode(payload: str) -> BusEvent | None:
    """The event, or None for anything this version does not understand (logged)."""
    try:
        body = json.loads(payload)
        kind, instance = EventType(body["type"]), str(body["instance"])
        if kind is EventType.RESYNC:
            return None  # never published: each instance catches up by itself
        return _event(kind, body, instance)
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("bus_event_unreadable", size=len(payload))
        return None


def _event(kind: EventType, body: dict[str, Any], instance: str) -> BusEvent:
    """The event of a decoded body; KeyError, TypeError or ValueError if it is not one."""
    match kind:
        case EventType.ALARM_STORED:
            popups, deliveries = body.get("popups"), body.get("deliveries")
            if not (isinstance(popups, list) and isinstance(deliveries, list)):
                popups, deliveries = [], []
            stored = AlarmStored(
                alarm_id=uuid.UUID(body["alarm_id"]),
                popups=tuple(str(p) for p in popups),
                deliveries=tuple((str(ws), int(index)) for ws, index in deliveries),
                instance=instance,
            )
            if any(not 0 <= index < len(stored.popups) for _, index in stored.deliveries):
                raise ValueError("delivery names a popup the event does not carry")
            return stored
        case EventType.ALARM_CHANGED:
            return AlarmChanged(alarm_id=uuid.UUID(body["alarm_id"]), instance=instance)
        case EventType.ALARM_DELIVERED:
            return AlarmDelivered(alarm_id=uuid.UUID(body["alarm_id"]), instance=instance)
        case EventType.ALARM_CHANNELS:
            return AlarmChannels(alarm_id=uuid.UUID(body["alarm_id"]), instance=instance)
        case EventType.ALARM_ESCALATED:
            added = body.get("added")
            return AlarmEscalated(
                alarm_id=uuid.UUID(body["alarm_id"]),
                added=tuple(str(w) for w in added) if isinstance(added, list) else None,
                instance=instance,
            )
        case EventType.WORKSTATION_CHANGED:
            online, self_test_ok = body.get("online"), body.get("self_test_ok")
            self_test_at, agent_reasons = body.get("self_test_at"), body.get("agent_reasons")
            return WorkstationChanged(
                workstation_id=str(body["workstation_id"]),
                online=bool(online) if online is not None else None,
                self_test_ok=bool(self_test_ok) if self_test_ok is not None else None,
                self_test_at=datetime.fromisoformat(self_test_at) if self_test_at else None,
                agent_reasons=(
                    tuple(str(r) for r in agent_reasons)
                    if isinstance(agent_reasons, list)
                    else None
                ),
                instance=instance,
            )
        case EventType.WORKSTATION_REVOKED:
            return WorkstationRevoked(workstation_id=str(body["workstation_id"]), instance=instance)
    raise ValueError(f"no event of type {kind}")


def accept(payload: str, own_instance: str) -> BusEvent | None:
    """A foreign instance's event; the own ones come back over LISTEN and are dropped."""
    event = decode(payload)
    if event is None or event.instance == own_instance:
        return None
    return event


def new_instance_id() -> str:
    return uuid.uuid4().hex[:12]


# --- one process ----------------------------------------------------------------------


class LocalBus:
    """The embedded default: one hub process, in-process fan-out only, nothing to tell."""

    def __init__(self) -> None:
        self.instance = new_instance_id()

    async def start(self, handler: Handler) -> None:
        return None

    def publish(self, event: BusEvent) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def connected(self) -> bool:
        return True


# --- PostgreSQL LISTEN/NOTIFY ---------------------------------------------------------


def asyncpg_dsn(database_url: str) -> str:
    """``postgresql+asyncpg://…`` (SQLAlchemy) → ``postgresql://…`` (asyncpg), a host list
    and ``target_session_attrs`` included: the bus listens where the pool writes."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url.get_backend_name()}")
    return libpq_form(url)


class PostgresBus:
    """LISTEN/NOTIFY on one dedicated asyncpg connection, outside the SQLAlchemy pool.

    The pool's connections come and go and are busy with transactions; a listener
    needs one that stays. The connection is checked every ``check_interval`` and
    re-opened with backoff when it drops; afterwards the store is asked what changed
    meanwhile and a RESYNC event replays it, so nothing published while this instance
    was deaf is lost. Events this instance could not send wait and go out after the
    reconnect.
    """

    def __init__(
        self,
        database_url: str,
        *,
        instance: str | None = None,
        channel: str = CHANNEL,
        check_interval: float = 5.0,
        backoff: tuple[float, float] = (0.2, 10.0),
        catch_up_margin: float = 10.0,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.instance = instance or new_instance_id()
        self.channel = channel
        self.check_interval = check_interval
        self.backoff = backoff
        self.catch_up_margin = timedelta(seconds=catch_up_margin)
        self.reconnects = 0
        self._handler: Handler | None = None
        self._conn: asyncpg.Connection | None = None
        self._conn_lock = asyncio.Lock()  # asyncpg runs one statement per connection at a time
        self._connected = asyncio.Event()
        self._outbox: list[str] = []
        self._outbox_ready = asyncio.Event()
        self._sent = asyncio.Event()  # set after each batch went out (for a flush at stop)
        self._inbox: asyncio.Queue[BusEvent] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def server_pid(self) -> int | None:
        """The PostgreSQL backend of the listening connection (for tests and operators)."""
        return self._conn.get_server_pid() if self._conn is not None else None

    async def start(self, handler: Handler, wait: float = 10.0) -> None:
        """Listens before returning, so the hub reports ready only once it hears the others."""
        self._handler = handler
        self._tasks = [
            asyncio.create_task(self._supervise(), name="bus:listen"),
            asyncio.create_task(self._send_loop(), name="bus:send"),
            asyncio.create_task(self._consume(), name="bus:consume"),
        ]
        try:
            await asyncio.wait_for(self._connected.wait(), wait)
        except TimeoutError:
            # The hub still serves its own peers; the supervisor keeps trying.
            log.error("bus_not_listening", waited_s=wait)

    def publish(self, event: BusEvent) -> None:
        payload = encode(replace(event, instance=self.instance))
        self._outbox.append(payload)
        if len(self._outbox) > OUTBOX_LIMIT:
            dropped = len(self._outbox) - OUTBOX_LIMIT
            del self._outbox[:dropped]
            log.error("bus_outbox_overflow", dropped=dropped)
        self._outbox_ready.set()

    async def stop(self, flush: float = 2.0) -> None:
        """Sends what is queued (bounded), then closes the connection."""
        if self._outbox and self._connected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), flush)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _drained(self) -> None:
        while self._outbox:
            self._sent.clear()
            await self._sent.wait()

    # --- listening ----------------------------------------------------------------

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        event = accept(payload, self.instance)
        if event is not None:
            self._inbox.put_nowait(event)

    async def _consume(self) -> None:
        # One at a time, in arrival order: an update must never overtake the alarm it updates.
        while True:
            event = await self._inbox.get()
            assert self._handler is not None
            try:
                await self._handler(event)
            except Exception:  # one bad event must not end the bus
                log.exception("bus_event_failed", type=event.TYPE.value)

    def _delay(self, attempt: int) -> float:
        low, high = self.backoff
        return random.uniform(low, min(high, low * 2**attempt))  # noqa: S311 - jitter, not crypto

    async def _supervise(self) -> None:
        # asyncpg is imported by the PostgreSQL bus only: a hub on SQLite (the demo, the
        # tests) never loads it, and its import costs ~0.1 s of every start.
        import asyncpg

        attempt = 0
        deaf_since: datetime | None = None  # the last moment this instance surely heard all
        while True:
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=5,
                    # Named in pg_stat_activity, so an operator can tell the listeners apart.
                    server_settings={"application_name": f"silent-alarm-bus:{self.instance}"},
                )
            except (
                OSError,
                TimeoutError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                # No host takes writes yet (a failover: the standby is not promoted yet).
                asyncpg.TargetServerAttributeNotMatched,
            ) as error:
                log.warning("bus_connect_failed", error=type(error).__name__, attempt=attempt)
                await asyncio.sleep(self._delay(attempt))
                attempt += 1
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            heard_at = utc_now()
            try:
                await conn.add_listener(self.channel, self._on_notify)
                heard_at = utc_now()
                if deaf_since is not None:
                    # Listening again first, then asking: a change in between is seen twice.
                    await self._catch_up(conn, deaf_since - self.catch_up_margin)
                self._conn = conn
                self._connected.set()
                attempt = 0
                log.info("bus_listening", instance=self.instance, reconnects=self.reconnects)
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self.check_interval)
                    if lost.is_set():
                        break
                    checked_at = utc_now()
                    async with self._conn_lock:
                        await conn.fetchval("SELECT 1", timeout=self.check_interval)
                    heard_at = checked_at
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("bus_check_failed", error=type(error).__name__)
            finally:
                self._connected.clear()
                self._conn = None
                conn.terminate()
            deaf_since = heard_at
            self.reconnects += 1
            log.warning("bus_connection_lost", instance=self.instance)
            await asyncio.sleep(self._delay(attempt))
            attempt += 1

    async def _catch_up(self, conn: asyncpg.Connection, since: datetime) -> None:
        """Every alarm with an audit event since ``since``, and every revocation: look again."""
        alarm_rows = await conn.fetch(
            "SELECT DISTINCT alarm_id FROM audit_events WHERE at >= $1 AND alarm_id IS NOT NULL",
            since,
        )
        revoked_rows = await conn.fetch("SELECT id FROM workstations WHERE revoked_at >= $1", since)
        event = Resync(
            instance=self.instance,
            alarm_ids=tuple(uuid.UUID(r["alarm_id"]) for r in alarm_rows),
            revoked=tuple(str(r["id"]) for r in revoked_rows),
        )
        log.info("bus_catch_up", alarms=len(event.alarm_ids), revoked=len(event.revoked))
        self._inbox.put_nowait(event)

    # --- sending ------------------------------------------------------------------

    async def _send_loop(self) -> None:
        import asyncpg  # see _supervise

        while True:
            await self._outbox_ready.wait()
            await self._connected.wait()
            conn = self._conn
            batch, self._outbox = self._outbox, []
            self._outbox_ready.clear()
            if not batch:
                continue
            if conn is None:  # lost between the wake-up and here: wait for the next one
                self._outbox[:0] = batch
                self._outbox_ready.set()
                await asyncio.sleep(0.05)
                continue
            try:
                async with self._conn_lock:
                    # One round trip for everything queued; NOTIFY keeps the order.
                    await conn.execute(
                        "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                        self.channel,
                        batch,
                    )
                self._sent.set()
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as error:
                # Kept for after the reconnect; the supervisor notices the dead connection.
                log.warning("bus_send_failed", error=type(error).__name__, events=len(batch))
                self._outbox[:0] = batch
                self._outbox_ready.set()
                self._connected.clear()
                conn.terminate()
            except asyncpg.PostgresError:
                log.exception("bus_send_refused", events=len(batch))


def create_bus(mode: BusMode, database_url: str) -> Bus:
    """``auto``: PostgreSQL store → PostgreSQL bus; SQLite → one process, no bus."""
    is_postgres = make_url(database_url).get_backend_name() == "postgresql"
    if mode == "local" or (mode == "auto" and not is_postgres):
        return LocalBus()
    if not is_postgres:
        raise ValueError(
            "SILENT_ALARM_BUS=postgres needs a PostgreSQL SILENT_ALARM_DATABASE_URL "
            "(the instances share the store and the bus)"
        )
    return PostgresBus(database_url)
