"""The fan-out core: connected peers, store-then-send, receipts, re-sends and heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

import structlog
from pydantic import BaseModel

from dispatch.alarms import views
from dispatch.alarms.lifecycle import AlarmError
from dispatch.alarms.plan import NewAlarm
from dispatch.alarms.record import AlarmRecord, SelfTestResult
from dispatch.alarms.store import AlarmStore
from dispatch.channels.queue import DeliveryQueue
from dispatch.channels.summary import AlarmCounts
from dispatch.directory.authentication import Authenticator
from dispatch.directory.identities import OperatorView
from dispatch.directory.sessions import still_valid
from dispatch.directory.site_scope import SiteScope
from dispatch.live.announcements import Announced, Announcements
from dispatch.live.peer_directory import PeerDirectories
from dispatch.live.protection import unprotected_reasons
from dispatch.live.receipt_queue import ReceiptQueue
from dispatch.net import bus as events
from dispatch.net.bus import Bus, BusEvent, LocalBus
from dispatch.net.peers import AgentPeer, ConsolePeer, Peer
from dispatch.routing.snapshot import RoutingSnapshot, workstation_updates
from dispatch.runtime.loop_stalls import StallWatch
from dispatch.runtime.metrics import Metrics
from dispatch.store.coalesce import HANDSHAKE_LINGER_S, Coalescer
from dispatch.store.store_health import StoreState
from shared.domain import AlarmKind, Answer
from shared.protocol import (
    AlarmChannels,
    AlarmSnapshot,
    AlarmStored,
    CloseCode,
    ConsoleAlarmChanged,
    IncidentReport,
    Ping,
    RaiseAlarm,
    Respond,
    StoreStatus,
    WorkstationChanged,
    WorkstationStatus,
    encode,
    utc_now,
)

log = structlog.get_logger(__name__)

MISSED_HEARTBEATS = 2.5
"""A console silent this many intervals is gone. Checked every half interval, it is
noticed within three intervals of its last sign of life (18 s at the production 6 s). A
console whose browser stopped answering at all is closed sooner, within 2 intervals, by
the WebSocket pings every connection gets (dispatch/net/keepalive.py)."""
PONG_WAIT_INTERVALS = 1.0
"""Agents: the WebSocket layer pings every interval and closes a peer that has sent nothing
this many intervals after a ping: 2 intervals after its last sign of life (12 s at the
production 6 s; dispatch/cli.py, dispatch/net/keepalive.py)."""
ESCALATION_CHECK_INTERVAL = 1.0
REACH_CHECK_INTERVAL = 1.0
"""How often the nobody-reached timers (the alarms' ``reach_due_at``) are checked."""
ANNOUNCED_RETRY_FIRST_S = 0.25
ANNOUNCED_RETRY_MAX_S = 2.0
"""The hub stores an announced alarm whose commit failed itself, as the agent re-sends one
(agent/resend.py): 0.25 s doubling to 2 s, until stored."""
PEER_DIRECTORY_DEBOUNCE = 1.0
"""Agents starting or stopping to listen within this time share one round of peer
directories (a restart storm of thousands costs a few rounds, not one per agent)."""
RECENTLY_RESOLVED_WITHIN = timedelta(hours=12)
RECENTLY_RESOLVED_SHOWN = 5
"""A connecting console gets the last 5 alarms resolved within 12 h (a shift and its
hand-over) that its operator may see, as many as its "Kürzlich erledigt" keeps
(console.js RESOLVED_KEEP)."""


class Hub:
    def __init__(
        self,
        alarms: AlarmStore,
        directory: Authenticator,
        heartbeat_interval: float,
        redeliver_interval: float,
        bus: Bus | None = None,
        metrics: Metrics | None = None,
        crowded: Callable[[], bool] | None = None,
    ) -> None:
        """``crowded``: whether agents arrive faster than the hub lets them in (its handshake
        gate full), so the replay reads linger to be shared."""
        self.alarms = alarms
        self.metrics = metrics or Metrics()
        # Set when the metrics are served: only then does the supervision round count
        # the unprotected PCs (a walk over every workstation).
        self.metrics_served = False
        self.bus: Bus = bus or LocalBus()  # tells other hub instances; see dispatch/net/bus.py
        self.directory = directory
        self.heartbeat_interval = heartbeat_interval
        self.redeliver_interval = redeliver_interval
        self._agents: dict[str, set[AgentPeer]] = defaultdict(set)
        # Remote sessions per terminal server (issue 19): registered under their clients'
        # ids above, closed with the host when it is revoked.
        self._via_host: dict[str, set[AgentPeer]] = defaultdict(set)
        self._consoles: set[ConsolePeer] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._receipts = ReceiptQueue(self.alarms.record_receipts)
        # Alarms whose popups went out ahead of their commit, until stored (raise_alarm).
        self._announced = Announcements()
        self._seen: dict[str, tuple[datetime, str]] = {}
        self._last_fan_out: dict[uuid.UUID, float] = {}  # monotonic time, per alarm
        # Alarms whose raiser was told "zugestellt" by this instance: later receipt batches
        # read the record only for consoles (an alarm to thousands confirms in many batches).
        self._delivery_told: set[uuid.UUID] = set()
        self._revoked_checked_at = utc_now()
        # Last self-test per workstation, for the coverage board's live updates.
        self._self_tests: dict[str, tuple[datetime | None, bool | None]] = {}
        # What each online PC's agent reported broken (agent_health), for the same board.
        self._health: dict[str, tuple[str, ...]] = {}
        # Agents reconnecting together (a restart storm) share one replay read.
        self._replays = Coalescer(
            self.alarms.open_alarms_for_many,
            name="replays",
            linger=HANDSHAKE_LINGER_S,
            linger_when=crowded,
        )
        self.alarms.routing.on_new_snapshot = self.placements_moved
        self.store = StoreState()  # whether writes succeed (dispatch/store/store_health.py)
        # The hub's own stalls (SIGSTOP, a long pause) are not held against consoles: their
        # pings wait unread meanwhile. A round half an interval late shows one; a pinging
        # console can only look lost after a stall of about an interval and a half.
        self._stalls = StallWatch(tolerance=heartbeat_interval / 2)
        # Issue 16: each agent's neighbours for the direct path; None: not handed out.
        self.peer_directories: PeerDirectories | None = None
        self._addresses: dict[str, tuple[str, int]] = {}  # listening PC -> address, port
        self._directories_due: asyncio.TimerHandle | None = None
        # Issue 20: e-mail, webhook/SMS, … to people away from a PC; None: no channel set up.
        self.deliveries: DeliveryQueue | None = None
        self._channel_tasks: set[asyncio.Task[None]] = set()
        self._channel_turn = asyncio.Lock()  # counts read and sent in the order of changes

    # --- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._every(self.heartbeat_interval / 2, self.supervise)),
            asyncio.create_task(self._every(self.redeliver_interval, self.redeliver)),
            asyncio.create_task(self._write_receipts()),
            asyncio.create_task(self._every(ESCALATION_CHECK_INTERVAL, self.escalate)),
            asyncio.create_task(self._every(REACH_CHECK_INTERVAL, self.check_reach)),
        ]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._channel_tasks]:
            task.cancel()
        for task in [*self._tasks, *self._channel_tasks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for entry in self._announced:
            if entry.retry is not None:
                entry.retry.cancel()
        for peer in [*self._all_agents(), *self._consoles]:
            await peer.close(CloseCode.GOING_AWAY, "hub shutting down")
        await self._flush_receipts()
        await self._record_seen()

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            due = time.monotonic() + seconds
            await asyncio.sleep(seconds)
            now = time.monotonic()
            if self._stalls.fired(due, now):
                log.warning("event_loop_stalled", late_s=round(now - due, 1))
            try:
                await job()
            except Exception:  # a failed round must not end supervision for good
                log.exception("background_job_failed", job=getattr(job, "__name__", "?"))

    # --- membership ---------------------------------------------------------

    def is_online(self, workstation_id: str) -> bool:
        return any(not p.closed for p in self._agents.get(workstation_id, ()))

    def online_workstations(self) -> set[str]:
        return {ws for ws, peers in self._agents.items() if any(not p.closed for p in peers)}

    async def agent_joined(self, peer: AgentPeer) -> None:
        """Registers, then replays every open alarm for the workstation.

        Fan-outs that happen while the replay is read from the store are held
        back and sent after it: the replay may predate them, and a newer update
        must never be overtaken by an older state. Registering first means an
        alarm in between is sent twice (agents deduplicate), never missed.
        """
        peer.hold()
        workstation = peer.workstation
        first = not self.is_online(workstation.id)
        self._agents[workstation.id].add(peer)
        self.metrics.agents_connected.inc()
        self._seen[workstation.id] = (utc_now(), peer.agent_version)
        if workstation.session_host is not None:
            self._via_host[workstation.session_host].add(peer)
            self._seen[workstation.session_host] = (utc_now(), peer.agent_version)
        self._self_tests.setdefault(
            workstation.id, (workstation.self_test_at, workstation.self_test_ok)
        )
        host = workstation.session_host  # a terminal server's session (issue 19)
        log.info("agent_connected", workstation=workstation.id, **({"via": host} if host else {}))
        if first:
            self._health.pop(workstation.id, None)  # the new session reports afresh
            self._workstation_changed(workstation.id)
        # Taken before the store is read: one stored meanwhile is in the read, never missed.
        announced = self._announced.for_recipient(workstation.id)
        stored = await self._replays.get(workstation.id) or []
        known = {record.id for record in stored}
        replay: list[BaseModel] = []
        for record in [*stored, *(r for r in announced if r.id not in known)]:
            recipient = record.recipient(peer.workstation.id)
            if recipient is not None and not record.told_withdrawn(recipient):
                replay.append(views.notify(record, recipient))
                peer.sent_alarm(record.id)
            if (
                record.workstation_id == peer.workstation.id
                and record.kind is not AlarmKind.SELF_TEST
                and not record.under_duress  # withdrawn, as far as the raiser knows
            ):
                # As discreet as the live updates; the status first, as live (issue 13).
                replay += [views.raiser_status(record), views.raiser_update(record)]
        if not self.store.ready:
            replay.append(self._store_status())
        peer.release(*replay)

    async def disconnect(
        self, workstation_id: str, code: int, reason: str, *, publish: bool = True
    ) -> int:
        """Closes every live socket of a workstation (revocation); returns how many."""
        if publish and code == CloseCode.REVOKED:  # the socket may be on another instance
            self.bus.publish(events.WorkstationRevoked(workstation_id=workstation_id))
        # A terminal server's sessions go with it: they spoke with its secret.
        peers = list(
            {*self._agents.get(workstation_id, ()), *self._via_host.get(workstation_id, ())}
        )
        for peer in peers:
            await peer.close(code, reason)
        return len(peers)

    def agent_left(self, peer: AgentPeer) -> None:
        peers = self._agents.get(peer.workstation.id)
        if peers is not None and peer in peers:
            peers.discard(peer)
            self.metrics.agents_connected.dec()
            if not peers:
                del self._agents[peer.workstation.id]
        host = peer.workstation.session_host
        if host is not None and peer in self._via_host.get(host, ()):
            self._via_host[host].discard(peer)
            if not self._via_host[host]:
                del self._via_host[host]
        self._seen[peer.workstation.id] = (utc_now(), peer.agent_version)
        log.info("agent_disconnected", workstation=peer.workstation.id)
        if not self.is_online(peer.workstation.id):
            if self._addresses.pop(peer.workstation.id, None) is not None:
                self._directories_changed()  # its neighbours no longer try it
            self._health.pop(peer.workstation.id, None)
            self._workstation_changed(peer.workstation.id)

    def agent_health(self, peer: AgentPeer, reasons: list[str]) -> None:
        """The agent says what is broken on its PC ([]: nothing); the board shows it."""
        workstation_id = peer.workstation.id
        new = tuple(dict.fromkeys(reasons))
        if self._health.get(workstation_id) == new:
            return
        self._health[workstation_id] = new
        report = log.warning if new else log.info
        report("agent_health", workstation=workstation_id, reasons=list(new))
        self._workstation_changed(workstation_id)

    def agent_reasons(self, workstation_id: str) -> tuple[str, ...]:
        """What the PC's agent last reported broken (nothing while offline or never told)."""
        return self._health.get(workstation_id, ())

    async def console_joined(self, peer: ConsolePeer) -> None:
        """The snapshot first, then changes made while it was read (as for agents)."""
        peer.hold()
        self._consoles.add(peer)
        self.metrics.consoles_connected.inc()
        log.info("console_connected", operator=peer.operator.username)
        announced = self._announced.records()  # before the read, as for agents
        records = await self.alarms.open_alarms()
        known = {record.id for record in records}
        records += [r for r in announced if r.id not in known]
        visible = [r for r in records if views.console_may_see(peer.operator, r)]
        resolved = await self._recently_resolved(peer)
        snapshot = AlarmSnapshot(
            alarms=[views.console_alarm(r) for r in visible],
            recently_resolved=[views.console_alarm(r) for r in resolved],
        )
        counted = await self._channel_counts([r for r in visible if r.is_open] + resolved)
        channels = [c for c in counted if c.channels or c.all_clear]
        peer.release(snapshot, *channels, *([] if self.store.ready else [self._store_status()]))

    async def _recently_resolved(self, peer: ConsolePeer) -> list[AlarmRecord]:
        """What "Kürzlich erledigt" lists on a console that just connected: a reload
        or the next shift still sees whom an all-clear did not reach."""
        since = utc_now() - RECENTLY_RESOLVED_WITHIN
        return await self.alarms.recently_resolved(since, RECENTLY_RESOLVED_SHOWN, peer.operator)

    def console_left(self, peer: ConsolePeer) -> None:
        if peer in self._consoles:
            self._consoles.discard(peer)
            self.metrics.consoles_connected.dec()
        log.info("console_disconnected", operator=peer.operator.username)

    # --- the store's health (issue 16) ----------------------------------------

    def store_changed(self, state: StoreState) -> None:
        """Tells every agent and console whether the hub can store (a full disk)."""
        self.store = state
        message = encode(self._store_status())
        for peer in [*self._all_agents(), *self._consoles]:
            peer.send(message)

    def _store_status(self) -> StoreStatus:
        problem = self.store.problem
        return StoreStatus(can_store=self.store.can_store, problem=problem and problem.value)

    # --- the alarm path -----------------------------------------------------

    async def raise_alarm(self, peer: AgentPeer, message: RaiseAlarm) -> None:
        """Route, tell the recipients and consoles, store, then acknowledge to the raiser.

        The popups go out as soon as the alarm is routed (from the snapshot in memory),
        while it is committed: the raiser's ``alarm_stored`` still waits for the commit
        (durable before "stored"), the popups need not. If the commit fails the raiser is
        told (``error internal``) and re-sends; the hub also keeps storing it itself, and
        nobody is told it a second time (docs/architecture.md, "Popups before the commit").
        An alarm that needs the store to be routed (a drill, a self-test) is fanned out
        after its commit, as before.
        """
        received = time.perf_counter()
        # Written on the loop's next turn, while the commit is in flight, not ahead of
        # it: a JSON line costs 20-50 µs, which the alarm would otherwise wait for.
        asyncio.get_running_loop().call_soon(_log_received, message, peer.workstation.id)
        entry = self._announced.get(message.alarm_id)
        if entry is None or entry.raiser.id != peer.workstation.id:
            # Routed and told first; a re-send of an alarm announced but not stored yet
            # (the entry is there) is told nothing again. Measured: starting the commit
            # first and announcing while it runs made the popups later, not the ack
            # sooner (docs/performance.md, "Step 2").
            entry = await self._announce(peer, message, received)
        new = entry.new if entry is not None else None
        pending = self.alarms.enqueue(message, peer.workstation, peer.display_name, new)
        if entry is not None:
            entry.attempts += 1
        try:
            record, created = await pending.result
        except AlarmError:
            if entry is not None:  # refused for good: its popups were for nothing
                self._give_up(entry)
            raise
        except Exception:
            if entry is not None:
                self._store_failed(entry)
            raise
        peer.send(_stored_ack(message, record, created))
        self.metrics.stored_ack_seconds.observe(time.perf_counter() - received)
        self._now_stored(record, created, message.claimed_room, entry)
        if entry is None and created:  # fanned out only now, after the commit
            self.metrics.fan_out_seconds.observe(time.perf_counter() - received)

    async def _announce(
        self, peer: AgentPeer, message: RaiseAlarm, received: float
    ) -> Announced | None:
        """Routes the alarm from memory and sends its popups and console rows at once;
        None if it must be routed in its transaction, or is stored already (a re-send of a
        stored alarm is never announced: read from the store, since after a restart the
        hub's memory does not know it)."""
        alarm_id = message.alarm_id
        if alarm_id in self._announced:
            return None  # another PC's alarm id: the store refuses it
        new = await self._route_ahead(peer, message)
        if new is None:
            return None
        if (entry := self._announced.get(alarm_id)) is not None:  # a re-send raced this one
            return entry if entry.raiser.id == peer.workstation.id else None
        record = new.record
        popups, deliveries = self._popups(record, [r.workstation_id for r in record.recipients])
        entry = Announced(new, message, peer.workstation, peer.display_name, popups, deliveries)
        self._announced.add(entry)
        self._receipts.hold(alarm_id)  # receipts wait until there is a row to write them to
        self._send_popups(alarm_id, popups, deliveries)
        self.metrics.fan_out_seconds.observe(time.perf_counter() - received)
        self._to_consoles(record)
        return entry

    async def _route_ahead(self, peer: AgentPeer, message: RaiseAlarm) -> NewAlarm | None:
        """The alarm routed before its commit (``AlarmStore.announce``). If the store cannot
        be read (its database down), from memory alone: the alarm will most likely not be
        stored now either, and its colleagues' popups are what still works (a stored one
        told again is deduplicated by the agents)."""
        try:
            return await self.alarms.announce(message, peer.workstation, peer.display_name)
        except Exception as failed:  # its type only: a driver's message may name the server
            log.warning(
                "alarm_announce_check_failed",
                alarm_id=str(message.alarm_id),
                error=type(failed).__name__,
            )
            return self.alarms.announce_unchecked(message, peer.workstation, peer.display_name)

    def _store_failed(self, entry: Announced) -> None:
        """The commit of an announced alarm failed: its popups are out, so the hub stores
        it itself, 0.25 s doubling to 2 s, as long as it runs (its raiser re-sends too;
        whichever is first stores it, once)."""
        entry.attempt_ended()
        if entry.retry is None and entry.record.id in self._announced:
            log.warning("alarm_announced_not_stored", alarm_id=str(entry.record.id))
            entry.retry = asyncio.create_task(self._store_announced(entry))

    async def _store_announced(self, entry: Announced) -> None:
        delay = ANNOUNCED_RETRY_FIRST_S
        while entry.record.id in self._announced:
            await asyncio.sleep(delay)
            delay = min(2 * delay, ANNOUNCED_RETRY_MAX_S)
            entry.attempts += 1
            try:
                record, created = await self.alarms.store(
                    entry.message, entry.raiser, entry.raiser_name, entry.new
                )
            except AlarmError:
                self._give_up(entry)
                return
            except Exception:
                entry.attempt_ended()
                log.warning("alarm_announced_store_failed", alarm_id=str(entry.record.id))
                continue
            # The raiser learns it at once (its agent goes by the alarm id), not only
            # from its own next re-send.
            ack = encode(_stored_ack(entry.message, record, created))
            for peer in self._agents.get(record.workstation_id, ()):
                peer.send(ack)
            self._now_stored(record, created, entry.message.claimed_room, entry)
            return

    def _give_up(self, entry: Announced) -> None:
        """Refused for good (not a passing failure): nothing will store it, receipts go."""
        log.warning("alarm_announced_refused", alarm_id=str(entry.record.id))
        if self._announced.pop(entry.record.id) is not None:
            self._receipts.release(entry.record.id)

    def _now_stored(
        self,
        record: AlarmRecord,
        created: bool,
        claimed_room: str | None,
        entry: Announced | None,
    ) -> None:
        """After a commit: held receipts are written, and a new alarm is fanned out to whoever
        its announcement (``entry``) did not reach (everyone if it was not announced).

        The entry is the caller's, not looked up: the hub's retry and the raiser's share one
        group commit, and whichever of them is told "stored" first ends the entry."""
        if self._announced.pop(record.id) is not None:
            self._receipts.release(record.id)
        if not created:
            return  # a retry: stored and fanned out before, never again
        self.metrics.alarm_stored(int(record.level), record.kind.value)
        log.info("alarm_stored", **_where_and_who(record))
        if claimed_room is not None and (record.room is None or claimed_room != record.room.number):
            log.warning(
                "room_claim_ignored", alarm_id=str(record.id), workstation=record.workstation_id
            )
        self.alarm_stored(record, announced=entry)

    async def cancel(self, peer: AgentPeer, alarm_id: uuid.UUID, *, duress: bool = False) -> None:
        if duress:
            # The hub's log is on the server, never on the raiser's screen: it says the truth.
            record, security = await self.alarms.cancel_under_duress(alarm_id, peer.workstation)
            log.warning(
                "alarm_cancelled_under_duress",
                alarm=str(alarm_id),
                workstation=peer.workstation.id,
                security=len(security),
            )
            self.broadcast_update(record)  # the raiser and staff: "withdrawn"
            self.alarm_escalated(record, security)  # security: the level-3 popup
            self._alarm_ended()  # staff's all-clear, as after a normal withdrawal
            return
        record = await self.alarms.cancel(alarm_id, peer.workstation)
        log.warning("alarm_cancelled", alarm_id=str(alarm_id), workstation=peer.workstation.id)
        self.broadcast_update(record)
        self._alarm_ended()

    # --- operators ------------------------------------------------------------

    async def acknowledge(
        self, alarm_id: uuid.UUID, operator: OperatorView, via: str | None = None
    ) -> AlarmRecord:
        """``via`` names a path other than the console (``push``: a phone's notification);
        the audit event records it."""
        await self._may_act(alarm_id, operator)
        record = await self.alarms.acknowledge(alarm_id, operator.display_name, via=via)
        _log_change("alarm_acknowledged", record)
        self.broadcast_update(record)
        return record

    async def arrive(self, alarm_id: uuid.UUID, operator: OperatorView) -> None:
        await self._may_act(alarm_id, operator)
        record = await self.alarms.arrive(alarm_id, operator.display_name)
        _log_change("alarm_arrived", record)
        self.broadcast_update(record)

    async def resolve(
        self, alarm_id: uuid.UUID, operator: OperatorView, report: IncidentReport | None
    ) -> None:
        await self._may_act(alarm_id, operator)
        record = await self.alarms.resolve(alarm_id, operator.display_name, report)
        _log_change("alarm_resolved", record)
        self.broadcast_update(record)
        self._alarm_ended()

    async def _may_act(self, alarm_id: uuid.UUID, operator: OperatorView) -> None:
        """An operator acts only on alarms their console shows them (one shown before its
        commit once the commit is done)."""
        await self._announced.settled(alarm_id)
        record = await self.alarms.get(alarm_id)
        if record is None or not views.console_may_see(operator, record):
            raise AlarmError("unknown_alarm", "no such alarm on this console")

    async def escalate(self) -> None:
        """Widens the circle of alarms nobody has acknowledged in time."""
        for record, added in await self.alarms.escalate_due(utc_now()):
            log.warning(
                "alarm_escalated",
                alarm_id=str(record.id),
                alarm_level=int(record.level),
                kind=record.kind.value,
                step=record.escalation_step,
                added=len(added),
                recipients=len(record.recipients),
            )
            self.alarm_escalated(record, added)

    async def check_reach(self) -> None:
        """Tells the raiser of every alarm that reached nobody by its policy's time.

        Each decision is logged (``alarm_reach_decided``), reached or not: it is
        the event that makes "the raiser was not told" true.
        """
        for record, reached in await self.alarms.decide_reach(utc_now()):
            log.info("alarm_reach_decided", alarm_id=str(record.id), reached=reached)
            if not reached:
                _log_nobody_reached(record)
                self.broadcast_update(record)

    async def console_seen(self, alarm_id: uuid.UUID, operator: OperatorView) -> None:
        """A console rendered the alarm's row: recorded once, and the raiser learns it."""
        await self._may_act(alarm_id, operator)
        record = await self.alarms.console_seen(alarm_id, operator.display_name)
        if record is not None:
            log.info("alarm_seen", alarm_id=str(alarm_id), operator=operator.username)
            self.broadcast_update(record)

    def receipt(self, peer: AgentPeer, alarm_id: uuid.UUID) -> None:
        """Queued, not awaited: the agent's next message is read at once."""
        self._receipts.add(alarm_id, peer.workstation.id)

    async def _write_receipts(self) -> None:
        while True:
            await self._receipts.due()
            try:
                await self._flush_receipts()
            except Exception:  # unwritten receipts only mean the popup is sent again
                log.exception("receipts_not_written")

    async def _flush_receipts(self) -> None:
        outcome = await self._receipts.write()
        for alarm_id in outcome.changed:
            await self.alarm_delivered(alarm_id)
        for workstation_id, at in outcome.self_tests_passed.items():
            self.self_test_done(SelfTestResult(workstation_id, at, ok=True))

    async def respond(self, peer: AgentPeer, message: Respond) -> None:
        await self._announced.settled(message.alarm_id)  # a popup shown before the commit
        record = await self.alarms.record_answer(
            message.alarm_id, peer.workstation.id, message.answer, peer.display_name
        )
        if (
            message.answer is Answer.CANNOT
            and record.nobody_reached_at is not None
            and all(r.answer is Answer.CANNOT for r in record.recipients)
        ):  # this answer was the last "Kann nicht": the store has just told the raiser
            _log_nobody_reached(record)
        self.broadcast_update(record)

    # --- changes, told to the peers of this instance ----------------------------
    # BUS HOOKS READY: every change of an alarm or a workstation passes through one of
    # alarm_stored, alarm_escalated, broadcast_update, alarm_delivered, self_test_done
    # and _workstation_changed; another instance replays the same for its own peers.

    def alarm_stored(
        self, record: AlarmRecord, *, publish: bool = True, announced: Announced | None = None
    ) -> None:
        """A new alarm: its recipients and the consoles (``announced``: those its announcement
        told before the commit are not told again)."""
        told: set[str] = set()
        if announced is not None and announced.record.recipients == record.recipients:
            popups, deliveries = announced.popups, announced.deliveries
            told = {ws for ws, _ in deliveries}
        else:
            popups, deliveries = self._popups(record, [r.workstation_id for r in record.recipients])
            if announced is not None:
                told = {r.workstation_id for r in announced.record.recipients}
        if publish:  # first, and with the popups: other instances send without a store read
            self.bus.publish(
                events.AlarmStored(
                    alarm_id=record.id,
                    popups=tuple(popups),
                    deliveries=tuple(deliveries),
                )
            )
        if told:
            deliveries = [(ws, index) for ws, index in deliveries if ws not in told]
            if not deliveries:
                return  # every recipient and the consoles had it before the commit
        self._send_popups(record.id, popups, deliveries)
        self._to_consoles(record)
        if publish and self.deliveries is not None:
            self.deliveries.wake()  # after the commit: its e-mails and SMS are planned now

    def alarm_escalated(
        self, record: AlarmRecord, added: Iterable[str], *, publish: bool = True
    ) -> None:
        added = list(added)
        if publish:
            self.bus.publish(events.AlarmEscalated(alarm_id=record.id, added=tuple(added)))
        self._fan_out(record, added)
        self._to_consoles(record)

    def broadcast_update(self, record: AlarmRecord, *, publish: bool = True) -> None:
        """State or responders changed: tell the raiser, every recipient and the consoles."""
        if publish:
            self.bus.publish(events.AlarmChanged(alarm_id=record.id))
        text = encode(views.update(record))
        # Staff of an alarm withdrawn under duress get what a normal withdrawal sends.
        withdrawn = encode(views.update(record, withdrawn=True)) if record.under_duress else text
        for r in record.recipients:
            if r.workstation_id != record.workstation_id:
                told = withdrawn if record.told_withdrawn(r) else text
                for p in self._agents.get(r.workstation_id, ()):
                    p.send(told)
        if record.kind is not AlarmKind.SELF_TEST:
            # The raiser's status first: an agent that knows it goes by it and ignores the
            # update; an agent before it ignores the status and goes by the update.
            status_text = encode(views.raiser_status(record))
            raiser_text = encode(views.raiser_update(record))
            for p in self._agents.get(record.workstation_id, ()):
                p.send(status_text)
                p.send(raiser_text)
        self._to_consoles(record)

    async def alarm_delivered(self, alarm_id: uuid.UUID, *, publish: bool = True) -> None:
        """Receipts came in: the consoles' delivery count and the raiser's "zugestellt"."""
        if publish:
            self.bus.publish(events.AlarmDelivered(alarm_id=alarm_id))
        tell_raiser = alarm_id not in self._delivery_told
        if not (self._consoles or tell_raiser):
            return
        if (record := await self.alarms.get(alarm_id)) is None:
            return
        log.info(
            "alarm_delivered",
            alarm_id=str(record.id),
            delivered=record.delivered,
            recipients=len(record.recipients),
        )
        self._to_consoles(record)
        if not tell_raiser:
            return
        # Once: later counts come with other changes, and a raiser not connected here
        # gets the status in the replay when it connects.
        self._delivery_told.add(alarm_id)
        if record.kind is not AlarmKind.SELF_TEST and record.is_open:
            text = encode(views.raiser_status(record))  # "zugestellt"; no alarm_update
            for p in self._agents.get(record.workstation_id, ()):
                p.send(text)

    # --- outbound channels (issue 20) -----------------------------------------------

    def _alarm_ended(self) -> None:
        """After the commit: the all-clears (and the rows to drop) are planned now, not at
        the queue's next poll (another instance's queue finds them at its own poll)."""
        if self.deliveries is not None:
            self.deliveries.wake()

    def channels_changed(self, alarm_ids: set[str], *, publish: bool = True) -> None:
        """The delivery queue planned, sent or failed messages of these alarms: the consoles
        that show them get the new counts (read off the queue's own task), on every
        instance."""
        if publish:
            for alarm_id in alarm_ids:
                self.bus.publish(events.AlarmChannels(alarm_id=uuid.UUID(alarm_id)))
        if not self._consoles or self.deliveries is None:
            return
        task = asyncio.create_task(self._tell_channels(alarm_ids))
        self._channel_tasks.add(task)
        task.add_done_callback(self._channel_tasks.discard)

    async def _tell_channels(self, alarm_ids: set[str]) -> None:
        try:
            async with self._channel_turn:  # an older read never overtakes a newer one
                records = [r for a in alarm_ids if (r := await self.alarms.get(uuid.UUID(a)))]
                counted = await self._channel_counts(records)
                for message, record in zip(counted, records, strict=True):
                    text = encode(message)
                    for p in self._consoles:
                        if views.console_may_see(p.operator, record):
                            p.send(text)
        except Exception:  # the next change sends the counts again
            log.exception("channel_counts_not_sent")

    async def _channel_counts(self, records: list[AlarmRecord]) -> list[AlarmChannels]:
        """The records' channel counts, in their order (an alarm without any: an empty list)."""
        if self.deliveries is None or not records:
            return []
        found = await self.deliveries.counts([str(r.id) for r in records])
        none = AlarmCounts([], [])
        return [
            AlarmChannels(alarm_id=r.id, channels=c.alarm, all_clear=c.all_clear)
            for r in records
            for c in [found.get(str(r.id), none)]
        ]

    def self_test_done(self, result: SelfTestResult) -> None:
        self._self_tests[result.workstation_id] = (result.at, result.ok)
        report = log.info if result.ok else log.warning
        report("self_test", workstation=result.workstation_id, ok=result.ok)
        self._workstation_changed(result.workstation_id)

    def _workstation_changed(
        self, workstation_id: str, *, online: bool | None = None, publish: bool = True
    ) -> None:
        """The coverage board's live row: on/offline, the last self-test, why unprotected.

        Sent to the consoles whose operator covers the PC's site only (a PC the mapping
        lacks: to those covering every site), as ``GET /coverage`` lists it."""
        at, ok = self._self_tests.get(workstation_id, (None, None))
        if online is None:
            online = self.is_online(workstation_id)
        agent = self._health.get(workstation_id)
        if publish:
            self.bus.publish(
                events.WorkstationChanged(
                    workstation_id=workstation_id,
                    online=online,
                    self_test_ok=ok,
                    self_test_at=at,
                    agent_reasons=agent,
                )
            )
        if not self._consoles:
            return
        text = encode(
            WorkstationChanged(
                workstation=WorkstationStatus(
                    workstation_id=workstation_id,
                    online=online,
                    last_seen_at=utc_now(),
                    self_test_ok=ok,
                    self_test_at=at,
                    unprotected_reasons=unprotected_reasons(
                        online=online,
                        agent=agent or (),
                        has_room=self._has_room(workstation_id),
                        self_test_ok=ok,
                    ),
                )
            )
        )
        placement = self.alarms.routing.placement(workstation_id)
        site_id = placement.site_id if placement is not None else None
        for p in self._consoles:
            if SiteScope.of(p.operator).covers(site_id):
                p.send(text)

    def placements_moved(self, before: RoutingSnapshot, after: RoutingSnapshot) -> None:
        """The routing snapshot was reloaded: tell each connected agent whose room changed.

        Whatever moved the PC (the admin page, REST, CSV import, the CLI, plain SQL,
        another hub instance), the topology_version triggers made this instance
        reload, so every write path is covered without hooking any of them. Each
        instance tells the agents it holds. Called inside the reloading transaction
        (an alarm's group commit, perhaps): the comparison runs right after it.
        """
        asyncio.get_running_loop().call_soon(self._tell_moved, before, after)

    def _tell_moved(self, before: RoutingSnapshot, after: RoutingSnapshot) -> None:
        self._directories_changed()  # neighbours, roles or a revocation (the key's epoch)
        for workstation_id, update in workstation_updates(before, after, self._agents).items():
            message = encode(update)
            for peer in self._agents.get(workstation_id, ()):
                peer.send(message)
            room = update.workstation.room
            log.info(
                "workstation_update_sent",
                workstation=workstation_id,
                room=room.number if room is not None else None,
                site_changed=update.levels is not None,
            )

    # --- peer directories (issue 16) ------------------------------------------

    def peer_listen(self, peer: AgentPeer, port: int) -> None:
        """The agent takes direct alarms on ``port``: it gets its directory at once, and its
        neighbours learn its address in the next round."""
        if self.peer_directories is None or not peer.address:
            return
        if peer.workstation.session_host is not None:
            # The sessions of a terminal server share its address: a neighbour's direct
            # alarm could not reach the right one (agents in sessions do not ask).
            log.info("peer_listen_ignored", workstation=peer.workstation.id, reason="session")
            return
        peer.peer_port = port
        workstation_id = peer.workstation.id
        if self._addresses.get(workstation_id) != (peer.address, port):
            self._addresses[workstation_id] = (peer.address, port)
            self._directories_changed()
        self._send_directory(workstation_id, [peer])

    def _directories_changed(self) -> None:
        if self.peer_directories is None or self._directories_due is not None:
            return
        self._directories_due = asyncio.get_running_loop().call_later(
            PEER_DIRECTORY_DEBOUNCE, self._send_directories
        )

    def _send_directories(self) -> None:
        """One round: every listening agent whose directory changed gets it again (agents
        that never sent ``peer_listen``, a load generator's thousands, cost nothing)."""
        self._directories_due = None
        for workstation_id in list(self._addresses):
            self._send_directory(workstation_id, self._agents.get(workstation_id, ()))

    def _send_directory(self, workstation_id: str, peers: Iterable[AgentPeer]) -> None:
        """Sends the workstation's directory to those of its sockets that have not got it."""
        directories, snapshot = self.peer_directories, self.alarms.routing.current
        if directories is None or snapshot is None:
            return
        directory = directories.directory(snapshot, workstation_id, self._addresses)
        if directory is None:
            return
        said = (directory.site_id, directory.key_epoch, tuple(directory.peers))
        for peer in peers:
            if peer.peer_port is not None and peer.directory_said != said and not peer.closed:
                peer.directory_said = said
                peer.send(directory)  # never logged: it carries the site key
                log.info(
                    "peer_directory_sent",
                    workstation=workstation_id,
                    peers=len(directory.peers),
                    epoch=directory.key_epoch,
                )

    def _has_room(self, workstation_id: str) -> bool | None:
        """Whether the PC has a room in the mapping now; None if the mapping lacks the PC."""
        placement = self.alarms.routing.placement(workstation_id)
        return None if placement is None else placement.room_id is not None

    async def on_bus_event(self, event: BusEvent) -> None:
        """Another instance changed the store: replay the change for this instance's peers.

        The event only names what changed; the record is read again here, so a late or
        repeated event sends the current state (agents deduplicate notifies).
        """
        match event:
            case events.WorkstationRevoked(workstation_id=workstation_id) if workstation_id:
                await self.disconnect(workstation_id, CloseCode.REVOKED, "revoked", publish=False)
            case events.WorkstationChanged(workstation_id=workstation_id) if workstation_id:
                self._foreign_workstation_changed(event)
            case events.Resync():
                await self._resync(event)
            case events.AlarmDelivered():
                await self.alarm_delivered(event.alarm_id, publish=False)
            case events.AlarmChannels():
                self.channels_changed({str(event.alarm_id)}, publish=False)
            case events.AlarmStored(popups=popups) if popups:
                await self._foreign_popups(event)
            case events.AlarmStored():
                await self._foreign_alarm_stored(event)
            case events.AlarmEscalated():
                await self._foreign_escalation(event)
            case events.AlarmChanged():
                if (record := await self.alarms.get(event.alarm_id)) is not None:
                    self.broadcast_update(record, publish=False)

    def _foreign_workstation_changed(self, event: events.WorkstationChanged) -> None:
        ws = event.workstation_id
        if event.self_test_at is not None or event.self_test_ok is not None:
            self._self_tests[ws] = (event.self_test_at, event.self_test_ok)
        if event.agent_reasons is not None:
            self._health[ws] = event.agent_reasons
        elif not event.online and not self.is_online(ws):
            self._health.pop(ws, None)
        # Online if the other instance holds its socket or this one does.
        online = bool(event.online) or self.is_online(ws)
        self._workstation_changed(ws, online=online, publish=False)

    async def _resync(self, event: events.Resync) -> None:
        """Missed while the bus was down: re-send what is unconfirmed, then the state."""
        for ws in event.revoked:
            await self.disconnect(ws, CloseCode.REVOKED, "revoked", publish=False)
        for alarm_id in event.alarm_ids:
            if (record := await self.alarms.get(alarm_id)) is not None:
                if record.is_open:
                    unconfirmed = [
                        r.workstation_id
                        for r in record.recipients
                        if not r.received and not record.told_withdrawn(r)
                    ]
                    self._fan_out(record, unconfirmed)
                self.broadcast_update(record, publish=False)

    async def _foreign_popups(self, event: events.AlarmStored) -> None:
        """The popups came with the event: send first, read the store only for consoles."""
        if self._stored_elsewhere(event.alarm_id):
            return  # announced here: recipients and consoles have it
        if event.alarm_id not in self._last_fan_out:
            self._send_popups(event.alarm_id, list(event.popups), event.deliveries)
        if self._consoles and (record := await self.alarms.get(event.alarm_id)):
            self._to_consoles(record)

    async def _foreign_alarm_stored(self, event: events.AlarmStored) -> None:
        """Too many popups to carry along: the record is read and fanned out from here."""
        if self._stored_elsewhere(event.alarm_id):
            return
        if (record := await self.alarms.get(event.alarm_id)) is None:
            return
        if record.id in self._last_fan_out:
            # This instance's re-delivery round read it from the store first.
            self._to_consoles(record)
        else:
            self.alarm_stored(record, publish=False)

    def _stored_elsewhere(self, alarm_id: uuid.UUID) -> bool:
        """Another instance stored an alarm announced here (its raiser moved on after a
        failed commit): the entry ends, nobody is told twice."""
        if self._announced.pop(alarm_id) is None:
            return False
        self._receipts.release(alarm_id)
        return True

    async def _foreign_escalation(self, event: events.AlarmEscalated) -> None:
        if (record := await self.alarms.get(event.alarm_id)) is None:
            return
        # Without a list (too long for NOTIFY): whoever has not confirmed it yet.
        added = event.added
        if added is None:
            added = tuple(
                r.workstation_id
                for r in record.recipients
                if not r.received and not record.told_withdrawn(r)
            )
        self.alarm_escalated(record, added, publish=False)

    def _fan_out(self, record: AlarmRecord, workstation_ids: Iterable[str]) -> None:
        popups, deliveries = self._popups(record, workstation_ids)
        self._send_popups(record.id, popups, deliveries)

    @staticmethod
    def _popups(
        record: AlarmRecord, workstation_ids: Iterable[str]
    ) -> tuple[list[str], list[tuple[str, int]]]:
        """Each recipient's popup; they differ only in instruction and location, so each
        variant is encoded once and recipients name it by index."""
        popups: list[str] = []
        variant: dict[tuple[str, bool], int] = {}
        deliveries: list[tuple[str, int]] = []
        for ws in workstation_ids:
            recipient = record.recipient(ws)
            assert recipient is not None
            key = (recipient.instruction.value, recipient.with_location)
            if key not in variant:
                variant[key] = len(popups)
                popups.append(encode(views.notify(record, recipient)))
            deliveries.append((ws, variant[key]))
        return popups, deliveries

    def _send_popups(
        self, alarm_id: uuid.UUID, popups: list[str], deliveries: Iterable[tuple[str, int]]
    ) -> None:
        self._last_fan_out[alarm_id] = time.monotonic()
        for ws, index in deliveries:
            for p in self._agents.get(ws, ()):
                p.send(popups[index])  # not connected: sent on reconnect, shown as undelivered
                p.sent_alarm(alarm_id)

    def _to_consoles(self, record: AlarmRecord) -> None:
        if not self._consoles or record.kind is AlarmKind.SELF_TEST:
            return  # self-tests show on the coverage board, never as alarms
        text = encode(ConsoleAlarmChanged(alarm=views.console_alarm(record)))
        for p in self._consoles:
            if views.console_may_see(p.operator, record):
                p.send(text)

    # --- background rounds --------------------------------------------------

    async def redeliver(self) -> None:
        """Re-sends every open alarm to connected recipients that have not confirmed it.

        An alarm sent out within the last interval is left alone, and so is one
        whose receipts are still coming in: the missing ones are most likely on
        their way (an alarm to thousands takes longer than an interval to confirm
        under load), and re-sending then only adds load under load.
        """
        unconfirmed = await self.alarms.unconfirmed()
        recent = time.monotonic() - self.redeliver_interval
        self._last_fan_out = {
            alarm_id: at
            for alarm_id, at in self._last_fan_out.items()
            if alarm_id in unconfirmed or alarm_id in self._announced
        }
        self._receipts.keep_only(unconfirmed)
        self._delivery_told &= unconfirmed.keys()  # the others get no more receipts
        for alarm_id, workstations in unconfirmed.items():
            if self._settling(alarm_id, since=recent):
                continue
            missing = [
                ws
                for ws in workstations
                if ws in self._agents and not self._receipts.holds(alarm_id, ws)
            ]
            if not missing or (record := await self.alarms.get(alarm_id)) is None:
                continue
            if self._last_fan_out.get(alarm_id, 0.0) > recent:
                continue  # sent while the record was read (a bus event): not twice
            self._fan_out(record, missing)
            self.metrics.redeliveries.inc(len(missing))

    def _settling(self, alarm_id: uuid.UUID, since: float) -> bool:
        """Sent out, or confirmed by someone, since ``since``: its receipts are still coming."""
        last = max(self._last_fan_out.get(alarm_id, 0.0), self._receipts.last_at(alarm_id))
        return last > since

    async def supervise(self) -> None:
        """Closes consoles silent for 2.5 intervals; re-checks sessions, revocations, self-tests
        and the topology version (a moved PC's agent is told its new room).

        Agents are supervised below the application: the WebSocket layer pings each
        one every interval and closes it when the pong is an interval late (a lost,
        frozen or half-open agent), which reaches the hub as a disconnect. Pinging
        ten thousand agents through the application cost a quarter of a core.
        Consoles ping the hub every interval and the hub answers; the hub pings
        only consoles that have gone quiet.
        """
        now = time.monotonic()
        lost = now - MISSED_HEARTBEATS * self.heartbeat_interval
        quiet = now - self.heartbeat_interval
        ping = encode(Ping())
        for peer in list(self._consoles):
            # After a stall of the hub's own, its pings may wait unread: silent since it ended.
            heard = self._stalls.silent_since(peer.last_heard)
            if heard < lost:
                log.warning("peer_heartbeat_lost", peer=peer.label)
                await peer.close(CloseCode.HEARTBEAT_TIMEOUT, "no heartbeat")
            elif heard < quiet:
                peer.send(ping)
        await self._recheck_consoles(now)
        await self.alarms.routing.refresh()  # a moved PC's agent is told (placements_moved)
        await self._record_seen()
        await self._close_revoked()
        for result in await self.alarms.expire_self_tests(utc_now()):
            self.self_test_done(result)
        if self.metrics_served:
            self.metrics.set_unprotected(self._unprotected_reasons())

    def _unprotected_reasons(self) -> Iterable[list[str]]:
        """Every non-revoked PC's reasons, as the coverage board lists them."""
        for workstation_id, placement in self.alarms.routing.placements().items():
            _, ok = self._self_tests.get(workstation_id, (None, None))
            yield unprotected_reasons(
                online=self.is_online(workstation_id),
                agent=self._health.get(workstation_id, ()),
                has_room=placement.room_id is not None,
                self_test_ok=ok,
            )

    async def _close_revoked(self) -> None:
        """Revocations made outside this process (the CLI, another hub) close sockets too."""
        since, self._revoked_checked_at = self._revoked_checked_at, utc_now()
        for ws in await self.directory.revoked_since(since - timedelta(seconds=1)):
            if ws in self._agents or ws in self._via_host:
                await self.disconnect(ws, CloseCode.REVOKED, "revoked")

    async def _recheck_consoles(self, now: float) -> None:
        """A console's session is re-checked every round, not only when it connected."""
        for peer in list(self._consoles):
            if now >= peer.expires_at:
                await peer.close(CloseCode.UNAUTHORIZED, "session expired")
            elif not still_valid(await self.directory.operator(peer.operator.id), peer.operator):
                # Logged out elsewhere, new password, other role or sites, disabled or gone.
                await peer.close(CloseCode.UNAUTHORIZED, "session ended")

    async def _record_seen(self) -> None:
        # Connects and disconnects since the last round, in one transaction: a
        # reconnect storm must not queue thousands of commits ahead of an alarm.
        seen, self._seen = self._seen, {}
        await self.directory.record_seen(seen)

    def _all_agents(self) -> list[Peer]:
        return [p for peers in self._agents.values() for p in peers]


def _stored_ack(message: RaiseAlarm, record: AlarmRecord, created: bool) -> AlarmStored:
    return AlarmStored(
        reply_to=message.id,
        alarm_id=record.id,
        stored_at=record.stored_at,
        duplicate=not created,
        cancel_window_s=record.cancel_window_s,
    )


def _log_received(message: RaiseAlarm, workstation_id: str) -> None:
    log.info(
        "alarm_received",
        alarm_id=str(message.alarm_id),
        alarm_level=int(message.level),
        kind=message.kind.value,
        workstation=workstation_id,
    )


def _log_change(event: str, record: AlarmRecord) -> None:
    """An operator's step, without the operator: the audit trail names who did it."""
    log.info(
        event,
        alarm_id=str(record.id),
        alarm_level=int(record.level),
        kind=record.kind.value,
        state=record.state.value,
    )


def _log_nobody_reached(record: AlarmRecord) -> None:
    log.warning("alarm_nobody_reached", **_where_and_who(record))


def _where_and_who(record: AlarmRecord) -> dict[str, object]:
    """An alarm's log fields: which alarm, from which PC and room, to how many (no names)."""
    return {
        "alarm_id": str(record.id),
        "alarm_level": int(record.level),
        "kind": record.kind.value,
        "workstation": record.workstation_id,
        "room": record.room.number if record.room is not None else None,
        "recipients": len(record.recipients),
    }
