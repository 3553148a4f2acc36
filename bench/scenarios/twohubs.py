"""twohubs: two hubs on one PostgreSQL database, recipients on the raiser's hub or the other."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type hints

from bench.fleet import wait_until
from bench.procs import HubProcess
from bench.report import print_latency, say
from bench.run import Run, free_port
from bench.tally import Merged
from bench.topology import Seeder, seed_with
from bench.wsfleet import WsFleet
from dispatch.store.database import Database
from dispatch.store.migrate import upgrade


async def _postgres(sql: str, admin_dsn: str) -> None:
    connection = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def two_instances(run: Run) -> dict[str, Any]:
    """Raiser on hub A, 50 recipients on hub A (same instance) and then on hub B (the bus).

    Both hubs share one PostgreSQL database and run the PostgreSQL bus in both phases,
    so the only difference between the phases is where the recipients are connected.
    """
    args = run.args
    name = f"silent_alarm_bench_{uuid.uuid4().hex[:10]}"
    await _postgres(f'CREATE DATABASE "{name}"', args.postgres)
    base = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    os.environ["SILENT_ALARM_DATABASE_URL"] = url  # the hubs inherit it; read by nothing else
    hubs = [HubProcess(run.data_dir / part, free_port(), args.heartbeat) for part in ("a", "b")]
    fleets: list[WsFleet] = []
    out: dict[str, Any] = {"database": "postgresql", "alarms_per_phase": args.alarms}
    try:
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        try:
            run.topo = await seed_with(Seeder(db, run.run_key), "fanout50", 51, "")
        finally:
            await db.dispose()
        for hub in hubs:
            hub.data_dir.mkdir()
            hub.start()
        await asyncio.gather(*(hub.wait_ready() for hub in hubs))
        a, b = hubs
        say(f"hub A on {a.port}, hub B on {b.port}, one PostgreSQL database ({name})")
        guard = await asyncpg.connect(f"{args.postgres.rsplit('/', 1)[0]}/{name}")

        guard_lock = asyncio.Lock()  # one statement at a time on an asyncpg connection

        async def resolve_later(alarm_id: str) -> None:
            # What a guard does after a while (as in the other scenarios): few open alarms.
            await asyncio.sleep(args.resolve_after)
            async with guard_lock:
                await guard.execute(
                    "UPDATE alarms SET state = 'resolved', resolved_by = 'bench' WHERE id = $1",
                    alarm_id,
                )

        raiser = run.topo.raisers[0]
        sender = WsFleet(a.ws_url, run.tokens([raiser]), args.heartbeat)
        fleets.append(sender)
        await sender.start()
        if not await wait_until(lambda: sender.rec.connected >= 1, 30):
            raise RuntimeError("the raiser did not connect to hub A")
        # Phases alternate in blocks, so a change in the machine's load (other
        # processes) hits both alike; each block connects the recipients afresh.
        merged = {"same_instance": Merged(), "two_instances": Merged()}
        raised: dict[str, list[str]] = {"same_instance": [], "two_instances": []}
        per_block = max(1, args.alarms // args.blocks)
        for block in range(args.blocks):
            for phase, hub in (("same_instance", a), ("two_instances", b)):
                receivers = WsFleet(hub.ws_url, run.tokens(run.topo.measured), args.heartbeat)
                fleets.append(receivers)
                await receivers.start()
                if not await wait_until(lambda r=receivers: r.rec.connected >= 50, 60):
                    raise RuntimeError(f"{phase}: recipients did not all connect")
                await asyncio.sleep(2)  # settle after the connects
                alarms: list[str] = []
                resolvers: list[asyncio.Task[None]] = []
                next_at = time.monotonic()
                for _ in range(per_block):
                    next_at += args.spacing * random.uniform(0.8, 1.2)  # noqa: S311
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                    alarm = await sender.raise_alarm(raiser, run.topo.level)
                    if alarm is not None:
                        alarms.append(alarm)
                        resolvers.append(asyncio.create_task(resolve_later(alarm)))
                await asyncio.gather(*resolvers)
                for _ in range(30):  # bounded drain: 15 s
                    if all(receivers.rec.notify_count.get(x, 0) >= 50 for x in alarms):
                        break
                    await asyncio.sleep(0.5)
                merged[phase].add(receivers.rec.report())
                raised[phase].extend(alarms)
                await receivers.stop()
                fleets.remove(receivers)
                say(f"block {block + 1}/{args.blocks} {phase}: {len(alarms)} alarms")
        for phase, m in merged.items():
            m.add(sender.rec.report())
            out[phase] = m.latencies(50, raised[phase])
            print_latency(f"{phase:13}", out[phase])
        same = out["same_instance"]["last_recipient_ms"]
        cross = out["two_instances"]["last_recipient_ms"]
        out["extra_ms"] = {
            "p50": round(cross["p50"] - same["p50"], 2),
            "p99": round(cross["p99"] - same["p99"], 2),
        }
        say(
            f"extra for recipients on the other instance: p50 {out['extra_ms']['p50']:.2f} ms, "
            f"p99 {out['extra_ms']['p99']:.2f} ms (target: p99 <= 2 ms)"
        )
        await guard.close()
    finally:
        for fleet in fleets:
            await fleet.stop()
        for hub in hubs:
            hub.stop()
        os.environ.pop("SILENT_ALARM_DATABASE_URL", None)
        await _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', args.postgres)
    return out
