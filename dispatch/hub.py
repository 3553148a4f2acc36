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

from dispatch import views
from dispatch.alarms import AlarmRecord, AlarmStore
from dispatch.directory import Directory
from dispatch.peers import AgentPeer, ConsolePeer, Peer
from shared.protocol import (
    AlarmSnapshot,
    AlarmStored,
    CloseCode,
    ConsoleAlarmChanged,
    Ping,
    RaiseAlarm,
    Respond,
    encode,
    utc_now,
)

log = structlog.get_logger(__name__)

MISSED_HEARTBEATS = 3
ESCALATION_CHECK_INTERVAL = 1.0
RECEIPT_BATCH_WINDOW = 0.02
"""Seconds receipts are gathered before one commit writes them all."""


class Hub:
    def __init__(
        self,
        alarms: AlarmStore,
        directory: Directory,
        heartbeat_interval: float,
        redeliver_interval: float,
    ) -> None:
        self.alarms = alarms
        self.directory = directory
        self.heartbeat_interval = heartbeat_interval
        self.redeliver_interval = redeliver_interval
        self._agents: dict[str, set[AgentPeer]] = defaultdict(set)
        self._consoles: set[ConsolePeer] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._receipts: set[tuple[uuid.UUID, str]] = set()
        self._receipts_waiting = asyncio.Event()
        self._seen: dict[str, tuple[datetime, str]] = {}
        self._last_fan_out: dict[uuid.UUID, float] = {}  # monotonic time, per alarm
        self._revoked_checked_at = utc_now()

    # --- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._every(self.heartbeat_interval, self.supervise)),
            asyncio.create_task(self._every(self.redeliver_interval, self.redeliver)),
            asyncio.create_task(self._write_receipts()),
            asyncio.create_task(self._every(ESCALATION_CHECK_INTERVAL, self.escalate)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for peer in [*self._all_agents(), *self._consoles]:
            await peer.close(CloseCode.GOING_AWAY, "hub shutting down")
        await self._flush_receipts()
        await self._record_seen()

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
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
        self._agents[peer.workstation.id].add(peer)
        self._seen[peer.workstation.id] = (utc_now(), peer.agent_version)
        log.info("agent_connected", workstation=peer.workstation.id)
        replay: list[BaseModel] = []
        for record in await self.alarms.open_alarms_for(peer.workstation.id):
            recipient = record.recipient(peer.workstation.id)
            if recipient is not None:
                replay.append(views.notify(record, recipient))
            if record.workstation_id == peer.workstation.id:
                replay.append(views.update(record))
        peer.release(*replay)

    async def disconnect(self, workstation_id: str, code: int, reason: str) -> int:
        """Closes every live socket of a workstation (revocation); returns how many."""
        peers = list(self._agents.get(workstation_id, ()))
        for peer in peers:
            await peer.close(code, reason)
        return len(peers)

    def agent_left(self, peer: AgentPeer) -> None:
        peers = self._agents.get(peer.workstation.id)
        if peers is not None:
            peers.discard(peer)
            if not peers:
                del self._agents[peer.workstation.id]
        self._seen[peer.workstation.id] = (utc_now(), peer.agent_version)
        log.info("agent_disconnected", workstation=peer.workstation.id)

    async def console_joined(self, peer: ConsolePeer) -> None:
        """The snapshot first, then changes made while it was read (as for agents)."""
        peer.hold()
        self._consoles.add(peer)
        records = await self.alarms.open_alarms()
        peer.release(AlarmSnapshot(alarms=[views.console_alarm(r) for r in records]))

    def console_left(self, peer: ConsolePeer) -> None:
        self._consoles.discard(peer)

    # --- the alarm path -----------------------------------------------------

    async def raise_alarm(self, peer: AgentPeer, message: RaiseAlarm) -> None:
        """Store, then acknowledge to the raiser, then fan out: in that order, always."""
        record, created = await self.alarms.store(message, peer.workstation, peer.display_name)
        peer.send(
            AlarmStored(
                reply_to=message.id,
                alarm_id=record.id,
                stored_at=record.stored_at,
                duplicate=not created,
                cancel_window_s=record.cancel_window_s,
            )
        )
        if not created:
            return
        log.info(
            "alarm_stored",
            alarm=str(record.id),
            level=int(record.level),
            workstation=record.workstation_id,
            recipients=len(record.recipients),
        )
        if message.claimed_room is not None and (
            record.room is None or message.claimed_room != record.room.number
        ):
            log.warning("room_claim_ignored", alarm=str(record.id), workstation=peer.workstation.id)
        self._fan_out(record, [r.workstation_id for r in record.recipients])
        self._to_consoles(record)

    async def cancel(self, peer: AgentPeer, alarm_id: uuid.UUID) -> None:
        record = await self.alarms.cancel(alarm_id, peer.workstation)
        log.warning("alarm_cancelled", alarm=str(alarm_id), workstation=peer.workstation.id)
        self.broadcast_update(record)

    async def escalate(self) -> None:
        """Widens the circle of alarms nobody has acknowledged in time."""
        for record, added in await self.alarms.escalate_due(utc_now()):
            log.warning(
                "alarm_escalated",
                alarm=str(record.id),
                step=record.escalation_step,
                added=len(added),
            )
            self._fan_out(record, added)
            self._to_consoles(record)

    def receipt(self, peer: AgentPeer, alarm_id: uuid.UUID) -> None:
        """Queued, not awaited: the agent's next message is read at once."""
        self._receipts.add((alarm_id, peer.workstation.id))
        self._receipts_waiting.set()

    async def _write_receipts(self) -> None:
        while True:
            await self._receipts_waiting.wait()
            await asyncio.sleep(RECEIPT_BATCH_WINDOW)
            try:
                await self._flush_receipts()
            except Exception:  # unwritten receipts only mean the popup is sent again
                log.exception("receipts_not_written")

    async def _flush_receipts(self) -> None:
        batch, self._receipts = self._receipts, set()
        self._receipts_waiting.clear()
        changed = await self.alarms.record_receipts(batch)
        if self._consoles:
            for alarm_id in changed:
                record = await self.alarms.get(alarm_id)
                if record is not None:
                    self._to_consoles(record)

    async def respond(self, peer: AgentPeer, message: Respond) -> None:
        record = await self.alarms.record_answer(
            message.alarm_id, peer.workstation.id, message.answer, peer.display_name
        )
        self.broadcast_update(record)

    def broadcast_update(self, record: AlarmRecord) -> None:
        """State or responders changed: tell the raiser, every recipient and the consoles."""
        text = encode(views.update(record))
        targets = {record.workstation_id, *(r.workstation_id for r in record.recipients)}
        for ws in targets:
            for p in self._agents.get(ws, ()):
                p.send(text)
        self._to_consoles(record)

    def _fan_out(self, record: AlarmRecord, workstation_ids: Iterable[str]) -> None:
        self._last_fan_out[record.id] = time.monotonic()
        # Recipients differ only in instruction and location: encode each variant once.
        encoded: dict[tuple[str, bool], str] = {}
        for ws in workstation_ids:
            peers = self._agents.get(ws)
            if not peers:
                continue  # sent on reconnect; the console shows it as not delivered
            recipient = record.recipient(ws)
            assert recipient is not None
            key = (recipient.instruction.value, recipient.with_location)
            if key not in encoded:
                encoded[key] = encode(views.notify(record, recipient))
            for p in peers:
                p.send(encoded[key])

    def _to_consoles(self, record: AlarmRecord) -> None:
        if not self._consoles:
            return
        text = encode(ConsoleAlarmChanged(alarm=views.console_alarm(record)))
        for p in self._consoles:
            p.send(text)

    # --- background rounds --------------------------------------------------

    async def redeliver(self) -> None:
        """Re-sends every open alarm to connected recipients that have not confirmed it.

        An alarm sent out within the last interval is left alone: its receipts are
        most likely on their way, and re-sending then only adds load under load.
        """
        unconfirmed = await self.alarms.unconfirmed()
        recent = time.monotonic() - self.redeliver_interval
        self._last_fan_out = {
            alarm_id: at for alarm_id, at in self._last_fan_out.items() if alarm_id in unconfirmed
        }
        for alarm_id, workstations in unconfirmed.items():
            if self._last_fan_out.get(alarm_id, 0.0) > recent:
                continue
            missing = [
                ws
                for ws in workstations
                if ws in self._agents and (alarm_id, ws) not in self._receipts
            ]
            if missing and (record := await self.alarms.get(alarm_id)) is not None:
                self._fan_out(record, missing)

    async def supervise(self) -> None:
        """Closes peers silent for three intervals (half-open sockets, frozen PCs).

        Agents and consoles ping the hub every interval and the hub answers, so a
        live peer is never silent; the hub pings only those that have gone quiet,
        which halves the heartbeat traffic of thousands of idle agents.
        """
        now = time.monotonic()
        lost = now - MISSED_HEARTBEATS * self.heartbeat_interval
        quiet = now - self.heartbeat_interval
        ping = encode(Ping())
        for peer in [*self._all_agents(), *self._consoles]:
            if peer.last_heard < lost:
                log.warning("peer_heartbeat_lost", peer=peer.label)
                await peer.close(CloseCode.HEARTBEAT_TIMEOUT, "no heartbeat")
            elif peer.last_heard < quiet:
                peer.send(ping)
        await self._recheck_consoles(now)
        await self._record_seen()
        await self._close_revoked()

    async def _close_revoked(self) -> None:
        """Revocations made outside this process (the CLI, another hub) close sockets too."""
        since, self._revoked_checked_at = self._revoked_checked_at, utc_now()
        for ws in await self.directory.revoked_since(since - timedelta(seconds=1)):
            if ws in self._agents:
                await self.disconnect(ws, CloseCode.REVOKED, "revoked")

    async def _recheck_consoles(self, now: float) -> None:
        """A console's session is re-checked every round, not only when it connected."""
        for peer in list(self._consoles):
            if now >= peer.expires_at:
                await peer.close(CloseCode.UNAUTHORIZED, "session expired")
            elif await self.directory.operator(peer.operator.id) is None:
                await peer.close(CloseCode.UNAUTHORIZED, "operator no longer exists")

    async def _record_seen(self) -> None:
        # Connects and disconnects since the last round, in one transaction: a
        # reconnect storm must not queue thousands of commits ahead of an alarm.
        seen, self._seen = self._seen, {}
        await self.directory.record_seen(seen)

    def _all_agents(self) -> list[Peer]:
        return [p for peers in self._agents.values() for p in peers]
