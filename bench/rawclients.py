"""The one client for all three systems: asyncio Protocols that stamp every read before parsing.

``Stamped.data_received`` takes ``time.monotonic_ns()`` first, for the hub, the naive hub
and Mosquitto alike; frames or packets are cut out and their JSON read only after every
socket readable at that moment has been stamped. A message is timed by the read that
completed it. The WebSocket client (the hub and the
naive hub, whose messages have the same shapes) and the MQTT client share that path and
differ only in framing, done by hand in ``bench.wsframe`` and ``bench.mqttframe``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import cast

from agent.backoff import retry_after_seconds
from bench import mqttframe as mq
from bench import wsframe as wf
from bench.fleet import Recorder
from bench.payloads import notify, raise_alarm
from shared.protocol import (
    ALARM_WAITING_HEADER,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Hello,
    Pong,
    Receipt,
    encode,
)

AGENT_PATH = "/ws/agent"
TOPIC = "bench/alarm"


class Busy(Exception):
    """Refused with 503; ``retry_after`` is what the server asked for, if it said."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"busy, Retry-After {retry_after}")
        self.retry_after = retry_after


class Refused(Exception):
    """The server said no (an HTTP status, a close code, a CONNACK or SUBACK failure)."""


class Stamped(asyncio.Protocol):
    """One connection: ``ready`` once it may carry alarms, ``lost`` with why it ended."""

    def __init__(self, rec: Recorder, seen: set[str]) -> None:
        self.loop = asyncio.get_running_loop()
        self.rec = rec
        self.seen = seen  # alarm ids this client showed, across its reconnects
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self.lost: asyncio.Future[str] = self.loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.end_reason = "abnormal"
        self._unparsed: list[tuple[int, bytes]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.opened()

    def data_received(self, data: bytes) -> None:
        # The clock first, before any parsing, the same for every system. The parsing
        # (and the receipt or PUBACK it sends) waits until the loop has stamped every
        # other socket that is readable now: one process holds all recipients, and the
        # 300th must not be timed after 299 others' JSON and replies.
        self._unparsed.append((time.monotonic_ns(), data))
        if len(self._unparsed) == 1:
            self.loop.call_soon(self._parse)

    def _parse(self) -> None:
        batch, self._unparsed = self._unparsed, []
        try:
            for at, data in batch:
                self.received(data, at)
        except (wf.FrameError, mq.PacketError, ValueError, KeyError) as exc:
            self.fail(Refused(f"protocol error: {exc}"))

    def became_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"lost before ready ({self.end_reason})"))
        if not self.lost.done():
            self.lost.set_result(self.end_reason)
        self.closed()

    def fail(self, error: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(error)
        self.end_reason = type(error).__name__
        self.abort()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def shown(self, alarm_id: str, at: int) -> None:
        """A notification read at ``at``: counted once per client, repeats as duplicates."""
        if alarm_id in self.seen:
            self.rec.duplicates += 1
        else:
            self.seen.add(alarm_id)
            self.rec.notified(alarm_id, at)

    # --- what each protocol adds ----------------------------------------------

    def opened(self) -> None:
        raise NotImplementedError

    def received(self, data: bytes, at: int) -> None:
        raise NotImplementedError

    def closed(self) -> None:
        """After the connection ended (timers to stop)."""

    def send_alarm(self, alarm_id: str, level: int) -> None:
        raise NotImplementedError


class WsAgent(Stamped):
    """A simulated agent: upgrade, Hello → Welcome, pongs, a Receipt for every popup."""

    def __init__(
        self,
        rec: Recorder,
        seen: set[str],
        *,
        host: str,
        port: int,
        workstation_id: str,
        token: str,
        alarm_waiting: bool,
        receipts: bool,
    ) -> None:
        super().__init__(rec, seen)
        self.host, self.port = host, port
        self.workstation_id, self.token = workstation_id, token
        self.alarm_waiting = alarm_waiting
        self.receipts = receipts
        self.key = wf.new_key()
        self._head: bytearray | None = bytearray()  # None once the upgrade is through
        self._frames = wf.FrameReader(MAX_MESSAGE_BYTES)

    def opened(self) -> None:
        extra = {ALARM_WAITING_HEADER: "1"} if self.alarm_waiting else {}
        self.write(wf.upgrade_request(self.host, self.port, AGENT_PATH, self.key, extra))

    def send_text(self, text: str) -> None:
        self.write(wf.encode_frame(wf.OP_TEXT, text.encode("utf-8")))

    def received(self, data: bytes, at: int) -> None:
        if self._head is not None:
            self._head += data
            answer = wf.parse_upgrade_response(bytes(self._head))
            if answer is None:
                return
            data = bytes(self._head[answer.length :])
            self._head = None
            self._upgraded(answer)
            if self.transport is None or self.transport.is_closing():
                return
        for opcode, payload in self._frames.feed(data):
            self._frame(opcode, payload, at)

    def _upgraded(self, answer: wf.UpgradeResponse) -> None:
        if answer.status == 503:
            self.fail(Busy(retry_after_seconds(answer.headers.get("retry-after"))))
        elif answer.status != 101:
            self.fail(Refused(f"HTTP {answer.status}"))
        elif answer.headers.get("sec-websocket-accept") != wf.accept_for(self.key):
            self.fail(Refused("wrong Sec-WebSocket-Accept"))
        else:
            hello = Hello(
                protocol=PROTOCOL_VERSION,
                workstation_id=self.workstation_id,
                token=self.token,
                agent_version="bench-raw",
            )
            self.send_text(encode(hello))

    def _frame(self, opcode: int, payload: bytes, at: int) -> None:
        if opcode == wf.OP_TEXT:
            self._message(json.loads(payload), at)
        elif opcode == wf.OP_PING:
            self.write(wf.encode_frame(wf.OP_PONG, payload))
        elif opcode == wf.OP_CLOSE:
            code = wf.close_code(payload)
            self.end_reason = str(code) if code is not None else "1005"
            if not self.ready.done():
                self.ready.set_exception(Refused(f"closed {self.end_reason}"))
            self.write(wf.encode_frame(wf.OP_CLOSE, payload[:2]))
            assert self.transport is not None
            self.transport.close()

    def _message(self, message: dict[str, object], at: int) -> None:
        kind = message.get("type")
        if kind == "alarm_notify":
            alarm_id = str(message["alarm_id"])
            self.shown(alarm_id, at)
            if self.receipts:  # as the real agent, once the popup is up
                self.send_text(encode(Receipt(alarm_id=uuid.UUID(alarm_id))))
        elif kind == "alarm_stored":
            self.rec.stored.setdefault(str(message["alarm_id"]), at)
        elif kind == "welcome":
            self.became_ready()
        elif kind == "ping":  # a hub with app-level keepalive (before WebSocket pings)
            self.send_text(encode(Pong(reply_to=str(message["id"]))))
        elif kind == "error":
            self.rec.errors[f"hub error {message.get('code')}"] += 1

    def send_alarm(self, alarm_id: str, level: int) -> None:
        """The raiser's RaiseAlarm; the clock is read after the frame is built, before writing."""
        frame = wf.encode_frame(wf.OP_TEXT, raise_alarm(alarm_id, level))
        self.rec.sent[alarm_id] = time.monotonic_ns()
        self.write(frame)


class MqttClient(Stamped):
    """An MQTT 3.1.1 client: QoS 1 both ways, PINGREQ every keepalive, phases spread."""

    def __init__(
        self, rec: Recorder, seen: set[str], *, client_id: str, keepalive: int, subscribe: bool
    ) -> None:
        super().__init__(rec, seen)
        self.client_id = client_id
        self.keepalive = keepalive
        self.subscribe = subscribe
        self._packets = mq.PacketReader(MAX_MESSAGE_BYTES)
        self._timer: asyncio.TimerHandle | None = None
        self._next_id = 0
        self._in_flight: dict[int, str] = {}  # packet id -> alarm id, until its PUBACK

    def opened(self) -> None:
        self.write(mq.connect(self.client_id, self.keepalive))
        # The first PINGREQ somewhere in the first interval, so thousands do not align.
        self._timer = asyncio.get_running_loop().call_later(
            random.uniform(0.5, 1.0) * self.keepalive,  # noqa: S311 - spreading, not secrecy
            self._ping,
        )

    def _ping(self) -> None:
        self.write(mq.PINGREQ_PACKET)
        self._timer = asyncio.get_running_loop().call_later(self.keepalive, self._ping)

    def closed(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 0xFFFF + 1
        return self._next_id

    def received(self, data: bytes, at: int) -> None:
        for kind, flags, body in self._packets.feed(data):
            if kind == mq.PUBLISH:
                _topic, packet_id, payload = mq.parse_publish(flags, body)
                self.shown(str(json.loads(payload)["alarm_id"]), at)
                if packet_id is not None:
                    self.write(mq.puback(packet_id))
            elif kind == mq.PUBACK:
                alarm_id = self._in_flight.pop(mq.packet_id_of(body), None)
                if alarm_id is not None:
                    self.rec.stored.setdefault(alarm_id, at)
            elif kind == mq.CONNACK:
                if len(body) < 2 or body[1] != 0:
                    self.fail(Refused(f"CONNACK {body[1:2].hex() or '-'}"))
                elif self.subscribe:
                    self.write(mq.subscribe(self._packet_id(), TOPIC))
                else:
                    self.became_ready()
            elif kind == mq.SUBACK:
                if body[2:3] == b"\x80":
                    self.fail(Refused("SUBACK failure"))
                else:
                    self.became_ready()

    def send_alarm(self, alarm_id: str, level: int) -> None:
        """A PUBLISH of the hub's AlarmNotify at QoS 1; its PUBACK plays the stored-ack."""
        packet_id = self._packet_id()
        packet = mq.publish_qos1(packet_id, TOPIC, notify(alarm_id, level))
        self._in_flight[packet_id] = alarm_id
        self.rec.sent[alarm_id] = time.monotonic_ns()
        self.write(packet)
