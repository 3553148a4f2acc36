"""MQTT clients (paho-mqtt, QoS 1) driven by asyncio instead of one thread per client.

The same shape as the agents: idle connections that keep alive at the heartbeat interval,
subscribers that record when a message arrives, a publisher whose PUBACK plays the part of
the hub's stored-ack (Mosquitto acknowledges QoS 1 without a durable write).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.fleet import Recorder

MISC_TICK = 0.1
TOPIC = "bench/alarm"


class MqttFleet:
    def __init__(
        self,
        host: str,
        port: int,
        client_ids: list[str],
        keepalive: float,
        *,
        subscribe: bool,
        connect_batch: int = 100,
    ) -> None:
        self.host = host
        self.port = port
        self.keepalive = max(1, round(keepalive))
        self.subscribe = subscribe
        self.connect_batch = connect_batch
        self.rec = Recorder()
        self.client_ids = client_ids
        self.clients: dict[str, mqtt.Client] = {}
        self._mids: dict[int, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for i, cid in enumerate(self.client_ids):
            self.clients[cid] = self._connect(cid)
            if i % self.connect_batch == self.connect_batch - 1:
                await asyncio.sleep(0.01)  # let CONNACKs in; loopback connect() itself is quick
        self._tasks.append(asyncio.create_task(self._misc()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        assert self._loop is not None
        for client in self.clients.values():
            sock = client.socket()
            if sock is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock)
                    self._loop.remove_writer(sock)
                    sock.close()

    def _connect(self, cid: str) -> mqtt.Client:
        loop = self._loop
        assert loop is not None
        rec = self.rec
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=cid,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )

        # By descriptor number: paho may report a socket closed when it has closed it
        # already (fileno -1), which uvloop, unlike asyncio's own loop, refuses.
        fd = -1

        def opened(c: mqtt.Client, _u: Any, sock: Any) -> None:
            nonlocal fd
            fd = sock.fileno()
            loop.add_reader(fd, c.loop_read)

        def closed(c: mqtt.Client, _u: Any, sock: Any) -> None:
            if fd >= 0:
                loop.remove_reader(fd)
                loop.remove_writer(fd)

        def want_write(c: mqtt.Client, _u: Any, sock: Any) -> None:
            loop.add_writer(fd, c.loop_write)

        def written(c: mqtt.Client, _u: Any, sock: Any) -> None:
            loop.remove_writer(fd)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                rec.errors[f"connack {reason}"] += 1
            elif self.subscribe:
                c.subscribe(TOPIC, qos=1)
            else:
                rec.welcomed()

        def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
            rec.welcomed()

        def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            at = time.monotonic_ns()
            rec.notified(json.loads(message.payload)["alarm_id"], at)

        def on_publish(_c: mqtt.Client, _u: Any, mid: int, _r: Any, _p: Any) -> None:
            at = time.monotonic_ns()
            alarm_id = self._mids.pop(mid, None)
            if alarm_id is not None:
                rec.stored[alarm_id] = at

        def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            rec.connected -= 1
            rec.closes[str(reason)] += 1

        client.on_socket_open = opened
        client.on_socket_close = closed
        client.on_socket_register_write = want_write
        client.on_socket_unregister_write = written
        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.on_publish = on_publish
        client.on_disconnect = on_disconnect
        client.connect(self.host, self.port, keepalive=self.keepalive)
        return client

    async def _misc(self) -> None:
        """Keepalive (PINGREQ) for every client once per second, spread over ten ticks."""
        clients = list(self.clients.values())
        slots = max(1, round(1 / MISC_TICK))
        tick = 0
        while True:
            await asyncio.sleep(MISC_TICK)
            for client in clients[tick % slots :: slots]:
                client.loop_misc()
            tick += 1

    # --- publishing ---------------------------------------------------------

    def publish(self, client_id: str, payload_template: dict[str, Any]) -> str:
        alarm_id = str(uuid.uuid4())
        payload = json.dumps({**payload_template, "alarm_id": alarm_id}, separators=(",", ":"))
        self.rec.sent[alarm_id] = time.monotonic_ns()
        info = self.clients[client_id].publish(TOPIC, payload, qos=1)
        self._mids[info.mid] = alarm_id
        return alarm_id
