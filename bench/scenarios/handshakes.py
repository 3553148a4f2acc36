"""handshakes: the hub's CPU per agent handshake, then per upgrade it refuses with 503."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Any

from bench.fleet import wait_until
from bench.kernel import cpu_seconds
from bench.report import say
from bench.run import Run
from bench.wsfleet import WsFleet

UPGRADE = (
    b"GET /ws/agent HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def _upgrade(port: int) -> bytes:
    """One agent upgrade request as the agent's library sends it; the status line back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(UPGRADE % base64.b64encode(os.urandom(16)))
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def handshakes(run: Run) -> dict[str, Any]:
    """What one agent's way in costs the hub: rounds of all agents connecting, then refusals.

    Hub CPU per handshake decides how long a restart storm takes; here it is measured
    without the storm's admission pacing: ``--agents`` connect from this process,
    ``--connect-concurrency`` at a time, ``--rounds`` times (disconnecting in between).
    Then the hub starts again with ``MAX_HANDSHAKES=1`` and no queue, one agent holds
    that slot, and as many upgrade requests are refused with 503.
    """
    args = run.args
    await run.prepare()
    agents = run.tokens(run.topo.raisers + run.topo.measured + run.topo.idle)
    rounds: list[dict[str, float]] = []
    try:
        run.hub.start()
        await run.hub.wait_ready()
        await asyncio.sleep(1)  # past the start-up work
        for _ in range(args.rounds):
            fleet = WsFleet(
                run.hub.ws_url,
                agents,
                args.heartbeat,
                agent_pings=False,
                first_connect_concurrency=args.connect_concurrency,
            )
            cpu, t0 = cpu_seconds(run.hub.pid), time.monotonic()
            await fleet.start()
            if not await wait_until(lambda f=fleet: f.rec.connected >= len(agents), 120, 0.01):
                raise RuntimeError(f"only {fleet.rec.connected} of {len(agents)} connected")
            seconds, cpu = time.monotonic() - t0, cpu_seconds(run.hub.pid) - cpu
            rounds.append({"seconds": seconds, "hub_cpu_ms": 1000 * cpu / len(agents)})
            say(
                f"{len(agents)} handshakes in {seconds:.2f} s ({len(agents) / seconds:.0f}/s), "
                f"hub CPU {rounds[-1]['hub_cpu_ms']:.3f} ms each"
            )
            await fleet.stop()
            await asyncio.sleep(1.5)  # the disconnects are the hub's work of this gap
    finally:
        run.hub.stop()
    per_handshake = sorted(r["hub_cpu_ms"] for r in rounds)
    out: dict[str, Any] = {
        "rounds": rounds,
        "hub_cpu_ms_per_handshake_median": round(per_handshake[len(per_handshake) // 2], 3),
    }
    say(f"hub CPU per handshake: median {out['hub_cpu_ms_per_handshake_median']} ms")
    # For the hub's second start only; without a queue, so every upgrade is refused at once.
    os.environ["SILENT_ALARM_MAX_HANDSHAKES"] = "1"
    os.environ["SILENT_ALARM_MAX_QUEUED_HANDSHAKES"] = "0"
    refusing = run.hub
    try:
        refusing.start()
        await refusing.wait_ready()
        holder = await asyncio.open_connection("127.0.0.1", refusing.port)
        holder[1].write(UPGRADE % base64.b64encode(os.urandom(16)))  # sends no hello: stays
        await holder[0].readline()
        await asyncio.sleep(1)
        gate = asyncio.Semaphore(args.connect_concurrency)

        async def refused() -> bytes:
            async with gate:
                return await _upgrade(refusing.port)

        cpu = cpu_seconds(refusing.pid)
        answers = await asyncio.gather(*(refused() for _ in agents))
        cpu = cpu_seconds(refusing.pid) - cpu
        holder[1].close()
    finally:
        del os.environ["SILENT_ALARM_MAX_HANDSHAKES"]
        del os.environ["SILENT_ALARM_MAX_QUEUED_HANDSHAKES"]
        refusing.stop()
    out["refused_503"] = sum(b" 503 " in a for a in answers)
    out["hub_cpu_ms_per_refusal"] = round(1000 * cpu / len(agents), 3)
    say(f"{out['refused_503']} refused with 503, hub CPU {out['hub_cpu_ms_per_refusal']} ms each")
    return out
