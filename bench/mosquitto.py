"""The yardstick: the same shape over MQTT to the system's Mosquitto, measured in the same run."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.fleet import wait_until
from bench.kernel import rss_kib
from bench.mqttfleet import MqttFleet
from bench.procs import spawn_workers
from bench.report import say
from bench.tally import Merged
from bench.topology import Topology
from shared.domain import AlarmLevel, Instruction
from shared.protocol import AlarmNotify, RoomRef, encode

MOSQUITTO = ("127.0.0.1", 1883)


def notify_payload(level: AlarmLevel) -> dict[str, Any]:
    """An AlarmNotify as the hub encodes it, so both brokers carry the same bytes."""
    instruction = Instruction.STAY_AWAY if level is AlarmLevel.DANGER else Instruction.COME_HELP
    room = None if level is AlarmLevel.DANGER else RoomRef(number="R00001", name="Büro", floor="1")
    notify = AlarmNotify(
        alarm_id=uuid.uuid4(),
        level=level,
        instruction=instruction,
        room=room,
        raiser="PC raiser",
        raised_at=datetime.now(UTC),
    )
    payload: dict[str, Any] = json.loads(encode(notify))
    return payload


def mosquitto_pid() -> int | None:
    found = subprocess.run(
        ["pgrep", "-x", "mosquitto"], capture_output=True, text=True, check=False
    )
    pids = found.stdout.split()
    return int(pids[0]) if pids else None


async def mosquitto_phase(
    args: argparse.Namespace, topo: Topology, k: int, spacing: float
) -> dict[str, Any]:
    pid = mosquitto_pid()
    if pid is None:
        say("Mosquitto is not running: mosquitto -d -c /etc/mosquitto/mosquitto.conf")
        return {"error": "mosquitto not running"}
    tag = uuid.uuid4().hex[:8]
    host, port = MOSQUITTO
    publisher = MqttFleet(host, port, [f"pub-{tag}"], args.heartbeat, subscribe=False)
    await publisher.start()
    subs = MqttFleet(
        host, port, [f"sub-{tag}-{w}" for w in topo.measured], args.heartbeat, subscribe=True
    )
    await subs.start()
    if not await wait_until(lambda: subs.rec.connected >= len(topo.measured), 60):
        raise RuntimeError("MQTT subscribers did not all subscribe")
    await asyncio.sleep(1)
    rss_before = rss_kib(pid)
    # all10k: everybody is a recipient, so the worker clients subscribe too.
    subscribe_idle = not topo.measured
    workers = await spawn_workers(
        topo.idle,
        args.procs,
        lambda share: {
            "kind": "mqtt",
            "host": host,
            "port": port,
            "client_ids": [f"idle-{tag}-{w}" for w in share],
            "heartbeat": args.heartbeat,
            "subscribe": subscribe_idle,
            "max_seconds": args.max_seconds,
        },
    )
    try:
        total = 1 + len(topo.measured) + len(topo.idle)
        deadline = time.monotonic() + 120
        connected = 0
        while time.monotonic() < deadline:
            connected = publisher.rec.connected + subs.rec.connected
            for w in workers:
                connected += (await w.ask("status"))["connected"]
            if connected >= total:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(args.heartbeat + 1)
        rss_after = rss_kib(pid)
        per_conn = (rss_after - rss_before) / max(1, len(topo.idle))
        say(
            f"Mosquitto: {connected} of {total} clients connected; RSS {rss_before} -> "
            f"{rss_after} KiB: {per_conn:.1f} KiB per idle connection"
        )
        template = notify_payload(topo.level)
        alarms: list[str] = []
        next_at = time.monotonic()
        for _ in range(k):
            next_at += spacing * random.uniform(0.8, 1.2)  # noqa: S311
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            alarms.append(publisher.publish(f"pub-{tag}", template))
        expected = topo.recipients_per_alarm[topo.raisers[0]]
        m = Merged()
        for _ in range(30):
            await asyncio.sleep(0.5)
            m = Merged()
            m.add(publisher.rec.report())
            m.add(subs.rec.report())
            for w in workers:
                m.add(await w.ask("report"))
            if all(m.count.get(a, 0) >= expected for a in alarms):
                break
        result = m.latencies(expected, alarms)
        result["connected"] = connected
        result["rss_before_kib"] = rss_before
        result["rss_after_kib"] = rss_after
        result["kib_per_idle_connection"] = round(per_conn, 1)
        return result
    finally:
        await asyncio.gather(*(w.stop() for w in workers))
        await subs.stop()
        await publisher.stop()
