"""The connection to a hub: hello, alarms out of the outbox, popups in, heartbeats both ways.

Runs an asyncio loop on its own worker thread so the Qt shell (or the
``trigger`` command) never blocks on the network. Every method meant for other
threads is marked thread-safe; the callbacks in ``LinkEvents`` run on the
link's thread, and a shell must hand them over to its own thread (the tray
agent's ``LinkSignals``, agent/link_signals.py, does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import threading
import uuid
from collections.abc import Sequence
from enum import Enum
from typing import Any, cast

from pydantic import SecretStr, ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from agent import __version__, remote_session
from agent.backoff import Backoff, retry_after_seconds
from agent.config import AgentConfig
from agent.feedback import STORED_DEADLINE
from agent.outbox import Outbox
from agent.peer_fallback import PeerFallback
from agent.resend import Resends
from shared.domain import AlarmKind, AlarmLevel, Answer, Trigger
from shared.protocol import (
    ALARM_WAITING_HEADER,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    AgentHealth,
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    CancelAlarm,
    Error,
    ErrorCode,
    Hello,
    PeerDirectory,
    PeerListen,
    Ping,
    Pong,
    RaiseAlarm,
    RaiserStatus,
    Receipt,
    RemoteSession,
    Respond,
    StoreStatus,
    Welcome,
    WorkstationUpdate,
    encode,
    hub_to_agent,
    utc_now,
)

log = logging.getLogger(__name__)

DEAD_AFTER_INTERVALS = 2
"""A hub silent for this many heartbeat intervals is treated as gone (a frozen hub too).

A live hub sends a WebSocket ping every interval (or, before Welcome.keepalive,
answers the agent's ping message at once), so silence for two intervals means a
hub that is frozen or cut off. With the default 5 s interval that is noticed
within 10 s, which leaves room to reach the next hub within the 15 s failover
target (three intervals would use all 15 s up).
"""


class HeardConnection(ClientConnection):
    """Notes when the hub last sent anything, its WebSocket pings included.

    The library answers those pings itself and hands the application nothing,
    so the watchdog looks at the bytes arriving instead.
    """

    last_rx = 0.0

    def data_received(self, data: bytes) -> None:
        self.last_rx = self.loop.time()
        super().data_received(data)


def ssl_context(url: str) -> ssl.SSLContext | None:
    """A TLS context that trusts the operating system's certificate store, for wss:// only.

    truststore verifies through the platform's own verifier (Windows CryptoAPI,
    macOS Security framework, the system CA bundle on Linux), so a company CA
    rolled out by group policy works. Without it Python's default context is used.
    """
    if not url.startswith("wss://"):
        return None
    try:
        import truststore
    except ImportError:  # pragma: no cover - truststore is in the agent extra
        return ssl.create_default_context()
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


HANDSHAKE_TIMEOUT = 5.0
"""Seconds for the upgrade, and again for the welcome after the hello."""

BUSY = 503
"""A hub refusing handshakes for now (a restart storm); its Retry-After says when to return."""

RECEIPTS_KEPT_S = 600.0
"""Receipts are sent again on each new connection for this long. A hub killed (kill -9)
loses those still waiting in its 20 ms batch; the hub sends an open alarm again on
connect and the popup confirms it again, but one resolved before this agent came back
is never sent again, and its "zugestellt an X von Y" would stay short for good."""

RECEIPTS_AGAIN_MAX = 50
"""At most this many, the newest: receipts of alarms the hub did not send on a
connection count against the 100 messages a second an agent may send there."""

URGENT_RETRY_CAP = 2.0
"""While a real alarm waits in the outbox, reconnect rounds are at most this far apart.

The full-jitter backoff grows to 4 s for a hub that stays down; an alarm
must reach a hub within 5 s of it coming back, handshake included. Only agents
holding an undelivered alarm retry this often.
"""


class Outcome(Enum):
    """How one connection attempt ended; decides which hub is tried next."""

    FAILED = "failed"  # refused, unreachable or no welcome: try the next hub at once
    ENDED = "ended"  # a welcomed session ended (closed): come back to the same hub first
    SILENT = "silent"  # a welcomed session whose hub went silent (frozen): the next hub first


class LinkEvents:
    """What the link reports; override what you need. Runs on the link thread
    (``alarm_queued`` on the thread that raised)."""

    def connected(self, welcome: Welcome) -> None:
        """A hub accepted the hello."""

    def disconnected(self, code: int | None, reason: str) -> None:
        """A welcomed session ended."""

    def alarm_queued(self, alarm: RaiseAlarm) -> None:
        """The alarm is on disk and on its way."""

    def alarm_stored(self, stored: AlarmStored) -> None:
        """The hub committed one of our alarms."""

    def alarm_notify(self, notify: AlarmNotify) -> None:
        """Someone else's alarm for this workstation (may repeat; dedupe by alarm_id)."""

    def alarm_update(self, update: AlarmUpdate) -> None:
        """State and responders of an alarm we raised or were told about."""

    def raiser_status(self, status: RaiserStatus) -> None:
        """The raiser's view of one of our alarms (hubs with issue 13), before its update."""

    def self_test_echo(self, notify: AlarmNotify) -> None:
        """The hub echoed one of our self-tests (kind self_test); the receipt is already sent."""

    def drill_refused(self, alarm: RaiseAlarm, message: str) -> None:
        """The hub ran no drill for this site: the drill alarm was dropped, nothing stored."""

    def workstation_changed(self, update: WorkstationUpdate) -> None:
        """The hub's mapping of this PC changed while connected (its room; ``levels`` too
        if it moved to another site)."""

    def store_status(self, status: StoreStatus) -> None:
        """Whether the hub can store alarms (a full disk); told only when it is not ready
        and on every change, so a new session starts as "can store"."""

    def peer_alarm(self, notify: AlarmNotify) -> None:
        """A neighbour's agent sent its alarm directly: no hub answered it (issue 16)."""

    def peers_told(self, alarm_id: uuid.UUID, acknowledged: int, asked: int) -> None:
        """One of our alarms, unstored in time, went to the neighbours directly."""


class Link:
    """Keeps one WebSocket to one of the hubs, reconnecting with full-jitter backoff."""

    def __init__(
        self,
        *,
        hub_urls: Sequence[str],
        workstation_id: str,
        token: SecretStr,
        user: str | None,
        outbox: Outbox,
        events: LinkEvents | None = None,
        backoff: Backoff | None = None,
        rescan_interval: float = 2.0,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        peers: PeerFallback | None = None,
        bind_address: str | None = None,
        remote_session: RemoteSession | None = None,
        unmappable_session: bool = False,
    ) -> None:
        if not hub_urls:
            raise ValueError("at least one hub URL is needed")
        self._urls = list(hub_urls)
        self._workstation_id = workstation_id
        self._token = token
        self._user = user
        self._outbox = outbox
        self._events = events or LinkEvents()
        self._backoff = backoff or Backoff()
        self._rescan_interval = rescan_interval
        self._handshake_timeout = handshake_timeout
        self._ssl = {url: ssl_context(url) for url in self._urls}
        self._peers = peers  # the direct path to the neighbours (issue 16); None: off
        # In a remote session the hub routes by the client's room (agent/remote_session.py).
        self._remote_session = remote_session
        # A remote session without a client name never connects: the hub would take it for
        # the host, whose room is not where the person sits. Alarms stay in the outbox.
        self._unmappable_session = unmappable_session
        # Connect from this address (a PC with several, or one loopback address per test agent).
        self._local_addr = (bind_address, 0) if bind_address else None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None  # a new alarm while offline: retry now
        # Loop-thread state of the current session.
        self._ws: ClientConnection | None = None
        self._sent: set[uuid.UUID] = set()
        self._resends: Resends | None = None  # alarms the hub could not store, sent again
        self._unsent_answers: list[Respond] = []
        self._receipts: dict[uuid.UUID, float] = {}  # alarm → when its popup was confirmed
        self._tasks: set[asyncio.Task[Any]] = set()
        self._went_silent = False
        self._busy_for: float | None = None  # the shortest Retry-After of this round's hubs
        self._self_tests: set[uuid.UUID] = set()  # logged as self-tests, never as alarms
        self._health_accepted = False  # this session's hub takes AgentHealth

    # --- any thread ---------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread; returns once its loop runs."""
        if self._unmappable_session:
            log.warning("remote session without a client name: not connecting (room unknown)")
            return
        self._thread = threading.Thread(target=self._thread_main, name="hub-link", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the connection and end the worker thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def raise_alarm(
        self, level: AlarmLevel, trigger: Trigger, kind: AlarmKind = AlarmKind.ALARM
    ) -> RaiseAlarm:
        """Persist a new alarm, then send it at once if a hub is connected. Thread-safe."""
        alarm = RaiseAlarm(
            alarm_id=uuid.uuid4(), level=level, trigger=trigger, raised_at=utc_now(), kind=kind
        )
        self._outbox.add(alarm)  # on disk before anything goes on the wire
        log.info("%s queued %s level=%d trigger=%s", _noun(alarm), alarm.alarm_id, level, trigger)
        self._events.alarm_queued(alarm)
        self._call(self._send_alarm, alarm)
        if alarm.kind is AlarmKind.ALARM and self._peers is not None:
            self._call(self._peers_if_unstored, alarm)
        return alarm

    def send_receipt(self, alarm_id: uuid.UUID) -> None:
        """The popup for alarm_id is on screen. Thread-safe; dropped while offline because
        the hub re-sends the alarm on reconnect and the shell confirms it again."""
        self._call(self._send_receipt, Receipt(alarm_id=alarm_id))

    def respond(self, alarm_id: uuid.UUID, answer: Answer) -> None:
        """Send the user's answer, after reconnecting if need be. Thread-safe."""
        self._call(self._send_answer, Respond(alarm_id=alarm_id, answer=answer))

    def cancel_alarm(self, alarm_id: uuid.UUID, duress: bool = False) -> None:
        """Withdraw one of our alarms; the hub decides whether its window is still open.
        Thread-safe; dropped while offline (the window is seconds long). ``duress``: the hub
        keeps it open for security; logged here like any cancel (the log is on this PC)."""
        self._call(self._send_cancel, CancelAlarm(alarm_id=alarm_id, duress=duress))

    def report_health(self, reasons: Sequence[str]) -> None:
        """Tell the hub what is broken on this PC. Thread-safe; dropped while offline or
        with an older hub (the shell reports again after every connect)."""
        self._call(self._send_health, AgentHealth(reasons=list(reasons)))

    def _call(self, func: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed meanwhile; alarms are still in the outbox.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._spawn, func, *args)

    # --- the worker thread --------------------------------------------------

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        if self._peers is not None:
            await self._peers.start(self._events.peer_alarm)
        self._ready.set()
        runner = asyncio.create_task(self._run())
        await self._stop.wait()
        if self._peers is not None:
            await self._peers.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, func: Any, *args: Any) -> None:
        task = asyncio.create_task(func(*args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        """Rounds over the hub list: each hub once, without delay in between, then a backoff.

        The backoff sits between rounds only, so a lost hub is replaced by the
        next one at once (failover), while a fleet whose hubs are all down
        still spreads its retries over up to 4 s. A round in which a hub
        answered "busy, retry after N s" waits about N s instead: that hub is
        up and has said when it will have room.
        """
        assert self._stop is not None
        first = 0
        count = len(self._urls)
        while not self._stop.is_set():
            assert self._wake is not None
            self._wake.clear()  # an alarm raised from here on ends the next backoff wait
            self._busy_for = None
            outcome, index = Outcome.FAILED, first
            for offset in range(count):
                if self._stop.is_set():
                    return
                index = (first + offset) % count
                outcome = await self._connect_once(self._urls[index])
                if outcome is not Outcome.FAILED:
                    break
            if outcome is not Outcome.FAILED:
                self._backoff.reset()
                # A hub that closed the session is tried first again (it may be
                # restarting); one that went silent is frozen or cut off: skip it,
                # since connecting to it would only wait for the handshake timeout.
                first = (index + 1) % count if outcome is Outcome.SILENT else index
            if outcome is Outcome.FAILED and self._busy_for is not None:
                delay = self._backoff.retry_after(self._busy_for)
            else:
                delay = self._backoff.next_delay()
            if await asyncio.to_thread(self._alarm_waiting):
                delay = min(delay, URGENT_RETRY_CAP)
            log.info("reconnecting in %.2f s", delay)  # once a round: a support desk sees why
            await self._sleep_unless_woken(delay)

    def _alarm_waiting(self) -> bool:
        # Self-tests do not count: they must never make a fleet retry fast.
        return any(alarm.kind is not AlarmKind.SELF_TEST for alarm in self._outbox.pending())

    async def _sleep_unless_woken(self, delay: float) -> None:
        """Wait out a backoff delay; stop() or a newly raised alarm ends it early."""
        assert self._stop is not None
        assert self._wake is not None
        waiters = [
            asyncio.create_task(self._stop.wait()),
            asyncio.create_task(self._wake.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _connect_once(self, url: str) -> Outcome:
        """One connection attempt and, if the hub welcomes us, the whole session."""
        welcomed = False
        self._went_silent = False
        # A hub refusing handshakes in a restart storm still lets an alarm in.
        waiting = (
            {ALARM_WAITING_HEADER: "1"} if await asyncio.to_thread(self._alarm_waiting) else {}
        )
        try:
            async with connect(
                url,
                additional_headers=waiting,
                max_size=MAX_MESSAGE_BYTES,
                compression=None,
                ping_interval=None,  # the hub pings; _heartbeat watches that it does
                create_connection=HeardConnection,
                open_timeout=self._handshake_timeout,
                close_timeout=1.0,
                proxy=None,
                user_agent_header=f"silent-alarm-agent/{__version__}",
                ssl=self._ssl[url],
                local_addr=self._local_addr,
            ) as ws:
                welcome = await self._handshake(ws)
                if welcome is None:
                    return Outcome.FAILED
                welcomed = True
                await self._session(ws, welcome, url)
        except ConnectionClosed as exc:
            if not welcomed:
                code, reason = _close_of(exc)
                log.warning(
                    "hub %s closed the connection before welcome: code=%s reason=%r",
                    url,
                    code,
                    reason,
                )
        except InvalidStatus as exc:
            self._note_refusal(url, exc)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            log.warning("hub %s unreachable: %s", url, exc.__class__.__name__)
        if not welcomed:
            return Outcome.FAILED
        return Outcome.SILENT if self._went_silent else Outcome.ENDED

    def _note_refusal(self, url: str, refused: InvalidStatus) -> None:
        """An HTTP answer instead of the upgrade; a busy hub's Retry-After is kept for the round."""
        status = refused.response.status_code
        retry_after = (
            retry_after_seconds(refused.response.headers.get("Retry-After"))
            if status == BUSY
            else None
        )
        if retry_after is None:
            log.warning("hub %s refused the connection: HTTP %d", url, status)
            return
        log.info("hub %s busy: retry after %g s", url, retry_after)
        if self._busy_for is None or retry_after < self._busy_for:
            self._busy_for = retry_after

    async def _handshake(self, ws: ClientConnection) -> Welcome | None:
        hello = Hello(
            protocol=PROTOCOL_VERSION,
            workstation_id=self._workstation_id,
            token=self._token,
            agent_version=__version__,
            user=self._user,
            remote_session=self._remote_session,
        )
        await ws.send(encode(hello))
        raw = await asyncio.wait_for(ws.recv(), self._handshake_timeout)
        message = _parse(raw)
        if not isinstance(message, Welcome):
            log.warning("hub answered hello with %s", type(message).__name__)
            await ws.close(4400, "expected welcome")
            return None
        if message.protocol != PROTOCOL_VERSION:
            log.warning("hub speaks protocol %d, agent %d", message.protocol, PROTOCOL_VERSION)
        return message

    async def _session(self, ws: ClientConnection, welcome: Welcome, url: str) -> None:
        connected_at = asyncio.get_running_loop().time()
        self._ws = ws
        self._sent = set()
        self._resends = Resends(asyncio.get_running_loop(), self._resend_due)
        self._health_accepted = welcome.agent_health
        room = welcome.workstation.room
        log.info(
            "connected to hub %s (version %s, room %s, heartbeat %.1f s)",
            url,
            welcome.hub_version,
            room.number if room else "unassigned",
            welcome.heartbeat_interval,
        )
        self._events.connected(welcome)
        if self._peers is not None:
            await self._peers.room_known(room)
            if welcome.peer_directory and self._peers.port is not None:
                await self._send(PeerListen(port=self._peers.port))  # the hub answers the list
        helpers = [
            asyncio.create_task(self._heartbeat(cast(HeardConnection, ws), welcome)),
            asyncio.create_task(self._rescan_outbox()),
        ]
        try:
            await self._flush_answers()
            await self._send_receipts_again(connected_at)
            async for raw in ws:
                await self._handle(raw)
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            self._resends.clear()
            for task in helpers:
                task.cancel()
            code, reason = ws.close_code, ws.close_reason or ""
            log.info("disconnected from hub: code=%s reason=%r", code, reason)
            self._events.disconnected(code, reason)

    async def _handle(self, raw: str | bytes) -> None:
        message = _parse(raw)
        if isinstance(message, Ping):
            await self._send(Pong(reply_to=message.id))
        elif isinstance(message, AlarmStored):
            await asyncio.to_thread(self._outbox.mark_stored, message.alarm_id)
            if self._resends is not None:
                self._resends.stored(message.alarm_id)
            noun = "self-test" if message.alarm_id in self._self_tests else "alarm"
            duplicate = " (duplicate)" if message.duplicate else ""
            log.info("%s stored %s%s", noun, message.alarm_id, duplicate)
            self._events.alarm_stored(message)
        elif isinstance(message, AlarmNotify) and message.kind is AlarmKind.SELF_TEST:
            # Our own self-test coming back: no popup, but a receipt, which is
            # what tells the hub that the whole path works.
            await self._send_receipt(Receipt(alarm_id=message.alarm_id))
            log.info("self-test echo %s", message.alarm_id)
            self._events.self_test_echo(message)
        elif isinstance(message, AlarmNotify):
            self._events.alarm_notify(message)
        elif isinstance(message, AlarmUpdate):
            self._events.alarm_update(message)
        elif isinstance(message, WorkstationUpdate):
            room = message.workstation.room
            log.info("workstation update: room %s", room.number if room else "unassigned")
            self._events.workstation_changed(message)
            if self._peers is not None:
                await self._peers.room_known(room)
        elif isinstance(message, PeerDirectory):
            if self._peers is not None:
                await self._peers.directory_received(message)
        elif isinstance(message, RaiserStatus):
            self._events.raiser_status(message)
        elif isinstance(message, StoreStatus):
            log.log(
                logging.INFO if message.can_store else logging.WARNING,
                "hub store: %s",
                message.problem or "ok",
            )
            self._events.store_status(message)
        elif isinstance(message, Error):
            log.warning("hub error %s: %s", message.code, message.message)
            if message.code is ErrorCode.NO_DRILL:
                await self._drop_refused_drill(message)
            elif message.code is ErrorCode.INTERNAL:
                await self._resend_refused(message)
        elif message is None:
            log.warning("ignored a message the protocol does not know")

    async def _heartbeat(self, ws: HeardConnection, welcome: Welcome) -> None:
        """Drops a hub silent for two intervals; sends ping messages only to a hub that
        does not ping itself (Welcome.keepalive "app": hubs before WebSocket pings)."""
        loop = asyncio.get_running_loop()
        interval = welcome.heartbeat_interval
        next_ping = loop.time() + interval if welcome.keepalive == "app" else math.inf
        while True:
            dead_at = ws.last_rx + DEAD_AFTER_INTERVALS * interval
            await asyncio.sleep(max(0.0, min(next_ping, dead_at) - loop.time()))
            now = loop.time()
            silent = now - ws.last_rx
            if silent >= DEAD_AFTER_INTERVALS * interval:
                log.warning("hub silent for %.1f s; dropping the connection", silent)
                self._went_silent = True
                ws.transport.abort()
                return
            if now >= next_ping:
                next_ping = now + interval
                await self._send(Ping())

    async def _rescan_outbox(self) -> None:
        # The trigger command writes into the same outbox from another process.
        while True:
            await self._flush_outbox()
            await asyncio.sleep(self._rescan_interval)

    async def _flush_outbox(self) -> None:
        for alarm in await asyncio.to_thread(self._outbox.pending):
            await self._send_alarm(alarm)

    async def _flush_answers(self) -> None:
        answers, self._unsent_answers = self._unsent_answers, []
        for answer in answers:
            await self._send_answer(answer)

    async def _drop_refused_drill(self, error: Error) -> None:
        """A drill outside a scheduled drill is refused for good: retrying cannot help.

        Only drills are dropped; a real alarm the hub refuses stays in the outbox
        and its raiser sees "not delivered — use the phone".
        """
        for alarm in await asyncio.to_thread(self._outbox.pending):
            if alarm.id == error.reply_to and alarm.kind is AlarmKind.DRILL:
                # Forgotten like a stored one: nothing of it is left to send.
                await asyncio.to_thread(self._outbox.mark_stored, alarm.alarm_id)
                log.info("drill %s refused by the hub: %s", alarm.alarm_id, error.message)
                self._events.drill_refused(alarm, error.message)

    async def _resend_refused(self, error: Error) -> None:
        """The hub could not store an alarm (its database down, its disk full): it is sent
        again on this connection with backoff (agent/resend.py) until it is stored.

        Meanwhile the raiser sees "not delivered — use the phone" once 3 s passed without
        ``alarm_stored`` (agent/feedback.py), as for a lost hub.
        """
        resends = self._resends
        if resends is None or error.reply_to is None:
            return
        for alarm in await asyncio.to_thread(self._outbox.pending):
            if alarm.id == error.reply_to:
                delay = resends.refused(alarm.alarm_id)
                log.warning(
                    "%s %s not stored by the hub; sending it again in %.2f s",
                    _noun(alarm),
                    alarm.alarm_id,
                    delay,
                )
                return

    def _resend_due(self, alarm_id: uuid.UUID) -> None:
        self._sent.discard(alarm_id)  # sent before, refused: may go out again
        self._spawn(self._resend, alarm_id)

    async def _resend(self, alarm_id: uuid.UUID) -> None:
        for alarm in await asyncio.to_thread(self._outbox.pending):
            if alarm.alarm_id == alarm_id:
                await self._send_alarm(alarm)
                return

    async def _peers_if_unstored(self, alarm: RaiseAlarm) -> None:
        """The second path (issue 16): no hub stored the alarm in time, so the neighbours'
        agents get it directly. At once when no hub is connected at all; else after the
        3 s the raiser waits for ``alarm_stored``. The alarm stays in the outbox either way."""
        assert self._peers is not None
        if self._ws is not None:
            await asyncio.sleep(STORED_DEADLINE)
            pending = await asyncio.to_thread(self._outbox.pending)
            if all(queued.alarm_id != alarm.alarm_id for queued in pending):
                return  # stored meanwhile
            log.warning("alarm %s not stored within %g s", alarm.alarm_id, STORED_DEADLINE)
        told = await self._peers.alarm_unstored(alarm)
        if told is not None:
            self._events.peers_told(alarm.alarm_id, *told)

    async def _send_alarm(self, alarm: RaiseAlarm) -> None:
        if self._ws is None:
            if self._wake is not None and alarm.kind is not AlarmKind.SELF_TEST:
                self._wake.set()  # offline: end the backoff wait and try the hubs now
            return
        if alarm.alarm_id in self._sent:
            return
        self._sent.add(alarm.alarm_id)
        if alarm.kind is AlarmKind.SELF_TEST:
            self._self_tests.add(alarm.alarm_id)
        if await self._send(alarm):
            log.info("%s sent %s", _noun(alarm), alarm.alarm_id)
        else:
            self._sent.discard(alarm.alarm_id)

    async def _send_cancel(self, cancel: CancelAlarm) -> None:
        if await self._send(cancel):
            log.info("cancel sent %s", cancel.alarm_id)
        else:
            log.warning("cancel of %s not sent: no hub connected", cancel.alarm_id)

    async def _send_receipt(self, receipt: Receipt) -> None:
        self._receipts.pop(receipt.alarm_id, None)  # newest last
        self._receipts[receipt.alarm_id] = asyncio.get_running_loop().time()
        if await self._send(receipt):
            log.info("receipt sent %s", receipt.alarm_id)

    async def _send_receipts_again(self, connected_at: float) -> None:
        """The receipts of the last minutes, once more: the hub may have lost them."""
        kept = {
            alarm_id: at
            for alarm_id, at in self._receipts.items()
            if at > connected_at - RECEIPTS_KEPT_S
        }
        self._receipts = kept
        earlier = [alarm_id for alarm_id, at in kept.items() if at < connected_at]
        for alarm_id in earlier[-RECEIPTS_AGAIN_MAX:]:
            if await self._send(Receipt(alarm_id=alarm_id)):
                log.info("receipt sent again %s", alarm_id)

    async def _send_answer(self, answer: Respond) -> None:
        if await self._send(answer):
            log.info("answer sent %s %s", answer.alarm_id, answer.answer)
        else:
            self._unsent_answers.append(answer)

    async def _send_health(self, health: AgentHealth) -> None:
        if self._health_accepted and await self._send(health):
            log.info("health sent to hub: %s", ", ".join(health.reasons) or "protected")

    async def _send(self, message: Any) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(encode(message))
        except ConnectionClosed:
            return False
        return True


def _noun(alarm: RaiseAlarm) -> str:
    # Self-tests get their own log lines so a support desk (and a test waiting
    # for "alarm stored") never mistakes one for a real alarm.
    return "self-test" if alarm.kind is AlarmKind.SELF_TEST else "alarm"


def _parse(raw: str | bytes) -> Any:
    try:
        return hub_to_agent.validate_json(raw)
    except ValidationError:
        return None


def _close_of(exc: ConnectionClosed) -> tuple[int | None, str]:
    frame = exc.rcvd
    return (frame.code, frame.reason) if frame is not None else (None, "")


def link_for(
    config: AgentConfig,
    outbox: Outbox,
    events: LinkEvents,
    session: remote_session.RemoteSession | None = None,
) -> Link:
    """The link of this PC's configuration: its hubs, identity and secret.

    In a remote session the direct path stays off: the sessions of a terminal server
    share its address and port, and their neighbours could not tell them apart.
    """
    peers = (
        PeerFallback(
            workstation_id=config.workstation_id,
            raiser=config.user,
            data_dir=config.data_dir,
            port=config.peer_port,
            host=config.bind_address,
        )
        if config.peer_port and session is None
        else None
    )
    return Link(
        hub_urls=config.hub_urls,
        workstation_id=config.workstation_id,
        token=config.token,
        user=config.user,
        outbox=outbox,
        events=events,
        peers=peers,
        bind_address=config.bind_address,
        remote_session=(
            RemoteSession(client_name=session.client_name)
            if session is not None and session.client_name is not None
            else None
        ),
        unmappable_session=session is not None and not session.mappable,
    )
