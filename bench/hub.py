"""Benchmark of the dispatch hub against GOALS.md, with Mosquitto measured in the same run.

    .venv/bin/python -m bench.hub --scenario fanout50 [--agents 10000] [--alarms 100]

Scenarios: fanout50, all300, all10k, storm, sqlite, twohubs. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    Summary,
    cpu_seconds,
    load_average,
    raise_nofile_limit,
    rss_kib,
    token_for,
)
from bench.fleet import Recorder, wait_until
from bench.mqttfleet import MqttFleet
from bench.procs import HubProcess, Worker
from bench.topology import Topology, seed
from bench.wsfleet import WsFleet
from dispatch.migrate import upgrade
from dispatch.settings import Settings
from shared.domain import AlarmLevel, Instruction
from shared.protocol import AlarmNotify, RoomRef, encode

AGENTS_PER_WORKER = 5000
MOSQUITTO = ("127.0.0.1", 1883)
RESULTS: dict[str, Any] = {}


def say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ms(ns: int) -> float:
    return ns / 1e6


# --- gathering what every process recorded -----------------------------------


@dataclass
class Merged:
    sent: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    closes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, report: dict[str, Any]) -> None:
        self.sent.update(report["sent"])
        self.stored.update(report["stored"])
        for alarm_id, (n, _first, last) in report["notify"].items():
            self.count[alarm_id] = self.count.get(alarm_id, 0) + n
            self.last[alarm_id] = max(self.last.get(alarm_id, 0), last)
        self.duplicates += report["duplicates"]
        for k, v in report["closes"].items():
            self.closes[k] = self.closes.get(k, 0) + v
        for k, v in report["errors"].items():
            self.errors[k] = self.errors.get(k, 0) + v

    def latencies(self, expected: int, alarms: list[str]) -> dict[str, Any]:
        stored = [ms(self.stored[a] - self.sent[a]) for a in alarms if a in self.stored]
        complete = [a for a in alarms if self.count.get(a, 0) >= expected]
        last = [ms(self.last[a] - self.sent[a]) for a in complete]
        return {
            "alarms": len(alarms),
            "stored_ack_ms": Summary.of(stored).as_dict(),
            "stored_missing": len(alarms) - len(stored),
            "last_recipient_ms": Summary.of(last).as_dict(),
            "incomplete_fanouts": len(alarms) - len(complete),
            "duplicates": self.duplicates,
            "closes": self.closes,
            "errors": self.errors,
        }


async def merged(rec: Recorder, workers: list[Worker]) -> Merged:
    m = Merged()
    m.add(rec.report())
    for w in workers:
        m.add(await w.ask("report"))
    return m


async def total_connected(rec: Recorder, workers: list[Worker]) -> tuple[int, int]:
    """(connected now, latest welcome time in ns) across this process and the workers."""
    connected, last = rec.connected, rec.last_welcome_ns
    for w in workers:
        s = await w.ask("status")
        connected += s["connected"]
        last = max(last, s["last_welcome_ns"])
    return connected, last


def chunks(items: list[Any], n: int) -> list[list[Any]]:
    return [items[i::n] for i in range(n)] if n else []


def worker_count(idle: int, requested: int | None) -> int:
    if idle == 0:
        return 0
    return requested or math.ceil(idle / AGENTS_PER_WORKER)


# --- phases -------------------------------------------------------------------


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_key = uuid.uuid4().hex
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"bench-{args.scenario}-", dir="/tmp"))
        self.url = f"sqlite+aiosqlite:///{self.data_dir / 'dispatch.sqlite3'}"
        self.hub = HubProcess(self.data_dir, free_port(), args.heartbeat, pin(args))
        self.topo = Topology(AlarmLevel.THREAT)
        self.fleet: WsFleet | None = None
        self.workers: list[Worker] = []
        self.profilers: list[subprocess.Popen[bytes]] = []

    def tokens(self, ids: list[str]) -> list[tuple[str, str]]:
        return [(w, token_for(self.run_key, w)) for w in ids]

    async def prepare(self) -> None:
        t = time.monotonic()
        await asyncio.to_thread(upgrade, self.url)  # alembic runs its own event loop
        self.topo = await seed(
            self.url, self.args.scenario, self.args.agents, self.run_key, self.args.layout
        )
        say(
            f"seeded {self.topo.total} workstations in {time.monotonic() - t:.1f} s "
            f"({self.data_dir})"
        )

    async def start_hub_and_agents(self) -> dict[str, Any]:
        """Hub up, main agents in, RSS, then the idle agents from worker processes, RSS again."""
        args, topo = self.args, self.topo
        self.hub.start()
        await self.hub.wait_ready()
        self.fleet = WsFleet(
            self.hub.ws_url,
            self.tokens(topo.raisers + topo.measured),
            args.heartbeat,
            agent_pings=not args.no_agent_pings,
            receipts=not args.no_receipts,
            first_connect_concurrency=args.connect_concurrency,
            alarm_waiting=frozenset(topo.raisers),
        )
        await self.fleet.start()
        own = len(topo.raisers) + len(topo.measured)
        if not await wait_until(
            lambda: self.fleet is not None and self.fleet.rec.connected >= own, 120
        ):
            raise RuntimeError(f"only {self.fleet.rec.connected} of {own} main agents connected")
        await asyncio.sleep(2)
        rss_before = rss_kib(self.hub.pid)
        n_workers = worker_count(len(topo.idle), args.procs)
        t0 = time.monotonic()
        self.profile("connect", 8)
        self.workers = list(
            await asyncio.gather(
                *(
                    Worker.spawn(
                        {
                            "kind": "ws",
                            "url": self.hub.ws_url,
                            "agents": self.tokens(part),
                            "heartbeat": args.heartbeat,
                            "agent_pings": not args.no_agent_pings,
                            "receipts": not args.no_receipts,
                            "connect_concurrency": args.connect_concurrency,
                            "max_seconds": args.max_seconds,
                        }
                    )
                    for part in chunks(topo.idle, n_workers)
                )
            )
        )
        connected = await self.wait_all_connected(topo.total, within=max(120, topo.total / 20))
        connect_s = time.monotonic() - t0
        say(
            f"{connected} of {topo.total} agents connected ({len(topo.idle)} idle in "
            f"{n_workers} worker processes, {connect_s:.1f} s)"
        )
        # Settle: one full heartbeat round both ways, then read the resident set.
        await asyncio.sleep(args.heartbeat + 1)
        rss_after = rss_kib(self.hub.pid)
        per_conn = (rss_after - rss_before) / len(topo.idle) if topo.idle else math.nan
        say(
            f"hub RSS {rss_before} KiB with {own} agents -> {rss_after} KiB with "
            f"{topo.total}: {per_conn:.1f} KiB per idle connection"
        )
        return {
            "agents": topo.total,
            "connected": connected,
            "worker_processes": n_workers,
            "connect_seconds": round(connect_s, 2),
            "hub_rss_before_kib": rss_before,
            "hub_rss_after_kib": rss_after,
            "kib_per_idle_connection": round(per_conn, 1),
        }

    async def wait_all_connected(self, n: int, within: float) -> int:
        assert self.fleet is not None
        deadline = time.monotonic() + within
        connected = 0
        while time.monotonic() < deadline:
            connected, _ = await total_connected(self.fleet.rec, self.workers)
            if connected >= n:
                break
            await asyncio.sleep(0.5)
        return connected

    def profile(self, name: str, seconds: float) -> None:
        if not self.args.profile:
            return
        out = Path(self.args.profile)
        out.mkdir(parents=True, exist_ok=True)
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.profilers.append(
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(self.hub.pid),
                    "--duration",
                    str(max(1, round(seconds))),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--output",
                    str(out / f"{self.args.scenario}-{name}.txt"),
                    "--nonblocking",
                    "--threads",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    async def idle_cpu(self) -> dict[str, Any]:
        seconds = self.args.idle_seconds
        self.profile("idle", seconds)
        pids = [w.pid for w in self.workers]
        hub0, gen0 = cpu_seconds(self.hub.pid), [cpu_seconds(p) for p in pids]
        me0 = cpu_seconds(os.getpid())
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - t0
        hub_pct = 100 * (cpu_seconds(self.hub.pid) - hub0) / elapsed
        gen_pct = (
            100
            * (sum(cpu_seconds(p) for p in pids) - sum(gen0) + cpu_seconds(os.getpid()) - me0)
            / elapsed
        )
        say(
            f"idle hub CPU over {elapsed:.0f} s: {hub_pct:.1f} % of one core "
            f"(load generators: {gen_pct:.1f} %)"
        )
        return {"hub_cpu_percent": round(hub_pct, 2), "loadgen_cpu_percent": round(gen_pct, 1)}

    def resolve(self, alarm_ids: list[str]) -> None:
        """What guards do after a while; keeps the number of open alarms realistic."""
        with sqlite3.connect(self.data_dir / "dispatch.sqlite3", timeout=10) as db:
            db.execute("PRAGMA synchronous=OFF")
            db.executemany(
                "UPDATE alarms SET state='resolved', resolved_by='bench' WHERE id=?",
                [(a,) for a in alarm_ids],
            )
        db.close()

    async def raise_sequence(self, k: int, spacing: float) -> list[str]:
        assert self.fleet is not None
        raiser = self.topo.raisers[0]
        alarms: list[str] = []
        resolvers: list[asyncio.Task[None]] = []
        self.profile("alarms", k * spacing + 2)
        next_at = time.monotonic()
        for _ in range(k):
            next_at += spacing * random.uniform(0.8, 1.2)  # noqa: S311 - no phase lock to pings
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            alarm = await self.fleet.raise_alarm(raiser, self.topo.level)
            if alarm is None:
                continue
            alarms.append(alarm)
            if not self.args.no_resolve:
                resolvers.append(asyncio.create_task(self._resolve_later(alarm)))
        await self.drain(alarms)
        await asyncio.gather(*resolvers)
        return alarms

    async def _resolve_later(self, alarm_id: str) -> None:
        await asyncio.sleep(self.args.resolve_after)
        await asyncio.to_thread(self.resolve, [alarm_id])

    async def drain(self, alarms: list[str], within: float = 15) -> None:
        """Waits until every alarm is stored and fully fanned out (bounded)."""
        expected = self.topo.recipients_per_alarm[self.topo.raisers[0]]
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            m = await merged(self.fleet.rec, self.workers) if self.fleet else Merged()
            if all(a in m.stored and m.count.get(a, 0) >= expected for a in alarms):
                return
            await asyncio.sleep(0.5)

    async def teardown(self) -> None:
        for p in self.profilers:
            with suppress(subprocess.TimeoutExpired):
                p.wait(30)
        await asyncio.gather(*(w.stop() for w in self.workers))
        self.workers = []
        if self.fleet is not None:
            await self.fleet.stop()
            self.fleet = None
        self.hub.stop()

    def cleanup(self) -> None:
        if not self.args.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# --- Mosquitto, the same shape ------------------------------------------------


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
    n_workers = worker_count(len(topo.idle), args.procs)
    workers = list(
        await asyncio.gather(
            *(
                Worker.spawn(
                    {
                        "kind": "mqtt",
                        "host": host,
                        "port": port,
                        "client_ids": [f"idle-{tag}-{w}" for w in part],
                        "heartbeat": args.heartbeat,
                        "subscribe": subscribe_idle,
                        "max_seconds": args.max_seconds,
                    }
                )
                for part in chunks(topo.idle, n_workers)
            )
        )
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


# --- scenarios ------------------------------------------------------------------


def print_latency(label: str, result: dict[str, Any]) -> None:
    stored, last = result["stored_ack_ms"], result["last_recipient_ms"]
    say(
        f"{label}: stored-ack  p50 {stored['p50']:.2f}  p90 {stored['p90']:.2f}  "
        f"p99 {stored['p99']:.2f}  max {stored['max']:.2f} ms (n={stored['n']})"
    )
    say(
        f"{label}: last recip. p50 {last['p50']:.2f}  p90 {last['p90']:.2f}  "
        f"p99 {last['p99']:.2f}  max {last['max']:.2f} ms (n={last['n']}, "
        f"incomplete {result['incomplete_fanouts']}, duplicates {result['duplicates']}, "
        f"closes {result['closes']}, errors {result['errors']})"
    )


async def fanout(run: Run) -> dict[str, Any]:
    args = run.args
    await run.prepare()
    out: dict[str, Any] = {}
    try:
        out["connect"] = await run.start_hub_and_agents()
        out["idle"] = await run.idle_cpu()
        expected = run.topo.recipients_per_alarm[run.topo.raisers[0]]
        say(f"raising {args.alarms} alarms, {args.spacing * 1000:.0f} ms apart, to {expected} each")
        alarms = await run.raise_sequence(args.alarms, args.spacing)
        assert run.fleet is not None
        out["hub"] = (await merged(run.fleet.rec, run.workers)).latencies(expected, alarms)
        print_latency("hub      ", out["hub"])
    finally:
        await run.teardown()
    if not args.no_mosquitto:
        say("Mosquitto, same shape (QoS 1)")
        out["mosquitto"] = await mosquitto_phase(args, run.topo, args.alarms, args.spacing)
        if "error" not in out["mosquitto"]:
            print_latency("mosquitto", out["mosquitto"])
            hub99 = out["hub"]["last_recipient_ms"]["p99"]
            mq99 = out["mosquitto"]["last_recipient_ms"]["p99"]
            out["ratio_p99"] = round(hub99 / mq99, 2)
            hub50 = out["hub"]["last_recipient_ms"]["p50"]
            mq50 = out["mosquitto"]["last_recipient_ms"]["p50"]
            out["ratio_p50"] = round(hub50 / mq50, 2)
            ratios = f"p50 {hub50 / mq50:.2f}x  p99 {hub99 / mq99:.2f}x"
            say(f"ratio hub/Mosquitto, last recipient: {ratios}")
    return out


async def storm(run: Run) -> dict[str, Any]:
    """SIGKILL the hub with every agent connected, restart it, time the way back."""
    args = run.args
    await run.prepare()
    out: dict[str, Any] = {}
    try:
        out["connect"] = await run.start_hub_and_agents()
        assert run.fleet is not None
        fleet = run.fleet
        total = run.topo.total
        generators = [os.getpid(), *(w.pid for w in run.workers)]
        generators_before = sum(cpu_seconds(pid) for pid in generators)
        killed = time.monotonic_ns()
        run.hub.kill()
        say(f"hub killed with {total} agents connected; restarting")
        run.hub.start()
        ready = await run.hub.wait_ready()
        ready_ns = int(ready * 1e9)
        say(f"hub ready again {ms(ready_ns - killed) / 1000:.2f} s after the kill")
        run.profile("storm", 30)
        alarms: list[str] = []
        curve: list[tuple[float, int]] = []
        all_back_ns = 0
        deadline = time.monotonic() + args.storm_timeout
        next_alarm = time.monotonic()
        while time.monotonic() < deadline:
            if time.monotonic() >= next_alarm:
                next_alarm += args.storm_alarm_every
                alarm = await fleet.raise_alarm(run.topo.raisers[0], run.topo.level)
                if alarm is not None:
                    alarms.append(alarm)
            connected, last = await total_connected(fleet.rec, run.workers)
            curve.append((round(ms(time.monotonic_ns() - killed) / 1000, 2), connected))
            if connected >= total and not all_back_ns:
                all_back_ns = last
                break
            await asyncio.sleep(0.2)
        # Who had the CPU until all were back: the restarted hub or the simulated agents.
        cpu = {
            "hub_cpu_s": round(cpu_seconds(run.hub.pid), 1),
            "loadgen_cpu_s": round(sum(cpu_seconds(p) for p in generators) - generators_before, 1),
        }
        await run.drain(alarms, within=5)
        m = await merged(fleet.rec, run.workers)
        out["storm"] = {
            "hub_ready_after_kill_s": round(ms(ready_ns - killed) / 1000, 2),
            "all_back_after_kill_s": round(ms(all_back_ns - killed) / 1000, 2)
            if all_back_ns
            else None,
            "all_back_after_ready_s": round(ms(all_back_ns - ready_ns) / 1000, 2)
            if all_back_ns
            else None,
            "connected_at_end": curve[-1][1] if curve else 0,
            **cpu,
            "curve": curve[:: max(1, len(curve) // 40)],
            "alarms_during_storm": m.latencies(run.topo.recipients_per_alarm["raiser"], alarms),
        }
        say(
            f"all {total} back {out['storm']['all_back_after_kill_s']} s after the kill "
            f"({out['storm']['all_back_after_ready_s']} s after the hub was ready); "
            f"connect errors {m.errors}"
        )
        say(
            f"CPU from the kill to all back: restarted hub {cpu['hub_cpu_s']} s, "
            f"load generators {cpu['loadgen_cpu_s']} s"
            + (" (hub pinned to CPU 0, generators on the rest)" if args.pin else "")
        )
        print_latency("storm    ", out["storm"]["alarms_during_storm"])
    finally:
        await run.teardown()
    return out


async def sqlite_writes(run: Run) -> dict[str, Any]:
    """Many raisers at once: 300 alarms spread over 1 s, then 300 at once; then the writer alone."""
    args = run.args
    await run.prepare()
    out: dict[str, Any] = {}
    try:
        out["connect"] = await run.start_hub_and_agents()
        assert run.fleet is not None
        fleet = run.fleet
        raisers = run.topo.raisers

        async def burst(name: str, window: float) -> dict[str, Any]:
            """Every raiser raises one alarm, evenly over ``window`` s (0: all at once)."""
            t0 = time.monotonic()
            ids: list[str] = []
            if window:
                for i, r in enumerate(raisers):
                    await asyncio.sleep(max(0.0, t0 + i * window / len(raisers) - time.monotonic()))
                    alarm = await fleet.raise_alarm(r, AlarmLevel.THREAT)
                    if alarm is not None:
                        ids.append(alarm)
            else:
                sent = await asyncio.gather(
                    *(fleet.raise_alarm(r, AlarmLevel.THREAT) for r in raisers)
                )
                ids = [a for a in sent if a is not None]
            rec = fleet.rec
            expected = run.topo.recipients_per_alarm[raisers[0]]
            await wait_until(
                lambda: all(
                    a in rec.stored and rec.notify_count.get(a, 0) >= expected for a in ids
                ),
                20,
                0.1,
            )
            first = min(rec.sent[a] for a in ids)
            stored = [rec.stored[a] for a in ids if a in rec.stored]
            fanned = [rec.notify_last[a] for a in ids if rec.notify_count.get(a, 0) >= expected]
            acks = Summary.of([ms(rec.stored[a] - rec.sent[a]) for a in ids if a in rec.stored])
            last_stored = ms(max(stored) - first) / 1000 if stored else math.nan
            last_fanned = ms(max(fanned) - first) / 1000 if len(fanned) == len(ids) else math.nan
            result = {
                "alarms": len(ids),
                "window_s": window,
                "stored": len(stored),
                "fanned_out": len(fanned),
                "stored_ack_ms": acks.as_dict(),
                "last_stored_after_first_send_s": round(last_stored, 3),
                "all_fanned_out_after_first_send_s": round(last_fanned, 3),
                "alarms_per_s": round(len(stored) / last_stored, 1) if stored else 0,
            }
            done.update(ids)
            say(
                f"{name}: {len(stored)}/{len(ids)} stored, last ack after {last_stored:.3f} s, "
                f"all fanned out after {last_fanned:.3f} s ({result['alarms_per_s']} alarms/s "
                f"through the hub); stored-ack {acks.line()}"
            )
            return result

        done: set[str] = set()
        out["spread_1s"] = await burst("300 alarms within 1 s", 1.0)
        await asyncio.sleep(3)
        await asyncio.to_thread(run.resolve, list(done))
        await asyncio.sleep(3)
        out["all_at_once"] = await burst("300 alarms at once", 0.0)
        out["hub_closes"] = dict(fleet.rec.closes)
        out["duplicates"] = fleet.rec.duplicates
    finally:
        await run.teardown()
    with sqlite3.connect(run.data_dir / "dispatch.sqlite3") as db:
        stored_rows = db.execute("SELECT count(*) FROM alarms").fetchone()[0]
    db.close()
    out["durable_rows"] = stored_rows
    say(f"alarm rows in the database after the hub stopped: {stored_rows}")
    out["writer_alone"] = await writer_alone(run, args.writer_alarms)
    return out


async def writer_alone(run: Run, n: int) -> dict[str, Any]:
    """AlarmStore.store() in this process, no hub: the single writer's own commit latency."""
    from dispatch.alarms import AlarmStore
    from dispatch.authentication import Authenticator
    from dispatch.database import Database
    from shared.domain import Trigger
    from shared.protocol import RaiseAlarm, utc_now

    # As the hub's (dispatch/app.py): WAL checkpoints off the commit path, events keyed.
    db = Database(run.url, checkpoint_in_background=True, audit_key=os.urandom(32))
    try:
        authenticator, store = Authenticator(db), AlarmStore(db)
        views = []
        for r in run.topo.raisers[:50]:
            view = await authenticator.authenticate_workstation(r, token_for(run.run_key, r))
            assert view is not None
            views.append(view)
        durations = []
        t0 = time.monotonic()
        for i in range(n):
            message = RaiseAlarm(
                alarm_id=uuid.uuid4(),
                level=AlarmLevel.THREAT,
                trigger=Trigger.HOTKEY,
                raised_at=utc_now(),
            )
            start = time.perf_counter_ns()
            await store.store(message, views[i % len(views)], None)
            durations.append(ms(time.perf_counter_ns() - start))
        elapsed = time.monotonic() - t0
    finally:
        await db.dispose()
    s = Summary.of(durations)
    say(f"AlarmStore.store() alone, sequential: {s.line()}; {n / elapsed:.0f} alarms/s")
    return {"store_ms": s.as_dict(), "alarms_per_s": round(n / elapsed, 1)}


# --- the hub's CPU per handshake and per refusal --------------------------------------

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
    Then the hub starts again with ``MAX_HANDSHAKES=1``, one agent holds that slot, and
    as many upgrade requests are refused with 503.
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
    os.environ["SILENT_ALARM_MAX_HANDSHAKES"] = "1"  # for the hub's second start only
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
        refusing.stop()
    out["refused_503"] = sum(b" 503 " in a for a in answers)
    out["hub_cpu_ms_per_refusal"] = round(1000 * cpu / len(agents), 3)
    say(f"{out['refused_503']} refused with 503, hub CPU {out['hub_cpu_ms_per_refusal']} ms each")
    return out


# --- two hub instances on one PostgreSQL database ------------------------------------


async def _postgres(sql: str, admin_dsn: str) -> None:
    import asyncpg

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
    import asyncpg

    from bench.topology import _seed, _Seeder
    from dispatch.database import Database

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
            run.topo = await _seed(_Seeder(db, run.run_key), "fanout50", 51, "")
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


SCENARIOS = {
    "fanout50": (fanout, 10_000, 100, 0.3),
    "all300": (fanout, 301, 100, 0.3),
    "all10k": (fanout, 10_000, 10, 2.0),
    "storm": (storm, 10_000, 0, 0.0),
    "sqlite": (sqlite_writes, 302, 0, 0.0),
    "twohubs": (two_instances, 51, 200, 0.3),
    "handshakes": (handshakes, 3_000, 0, 0.0),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.hub", description=__doc__.split("\n")[0])
    p.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    p.add_argument("--agents", type=int, help="connected agents in total (default per scenario)")
    p.add_argument("--alarms", type=int, help="alarms raised one after another")
    p.add_argument("--spacing", type=float, help="seconds between alarms (±20 %% jitter)")
    p.add_argument(
        "--layout",
        choices=["many-sites", "one-site"],
        default="many-sites",
        help="fanout50/storm: idle agents on sites of 300 or all on the raiser's site",
    )
    p.add_argument(
        "--procs",
        type=int,
        help=f"load-generator processes (default: one per {AGENTS_PER_WORKER} idle agents)",
    )
    p.add_argument(
        "--connect-concurrency",
        type=int,
        default=20,
        help="handshakes in flight per process during the first ramp-up (not during a storm)",
    )
    p.add_argument(
        "--heartbeat",
        type=float,
        default=Settings.model_fields["heartbeat_interval"].default,  # the production one
        help="hub and agent ping interval, s",
    )
    p.add_argument("--idle-seconds", type=float, default=20.0, help="idle CPU window, s")
    p.add_argument(
        "--resolve-after", type=float, default=2.0, help="s until the bench resolves an alarm"
    )
    p.add_argument("--no-resolve", action="store_true", help="leave every alarm open")
    p.add_argument(
        "--no-agent-pings", action="store_true", help="agents only answer the hub's pings"
    )
    p.add_argument(
        "--no-receipts",
        action="store_true",
        help="diagnosis only: agents do not confirm popups (the real agent does)",
    )
    p.add_argument("--no-mosquitto", action="store_true")
    p.add_argument(
        "--pin",
        action="store_true",
        help="the hub alone on CPU 0, this process and the load generators on the others",
    )
    p.add_argument("--storm-timeout", type=float, default=90.0)
    p.add_argument("--rounds", type=int, default=5, help="handshakes: how often all connect")
    p.add_argument("--storm-alarm-every", type=float, default=0.25)
    p.add_argument("--writer-alarms", type=int, default=1000)
    p.add_argument(
        "--max-seconds", type=float, default=1800, help="workers end themselves after this"
    )
    p.add_argument("--profile", metavar="DIR", help="py-spy the hub (ramp-up, idle, alarms, storm)")
    p.add_argument(
        "--blocks", type=int, default=4, help="twohubs: alternate the two phases this often"
    )
    p.add_argument(
        "--postgres",
        default=os.environ.get(
            "SILENT_ALARM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="twohubs: admin DSN; the run creates and drops its own database there",
    )
    p.add_argument("--json", metavar="FILE", help="write all figures as JSON")
    p.add_argument("--keep", action="store_true", help="keep the data dir (hub logs, database)")
    args = p.parse_args(argv)
    if args.pin and (args.scenario == "twohubs" or not args.no_mosquitto):
        # Mosquitto is a system service: pinning the hub alone would favour it.
        p.error("--pin needs --no-mosquitto and one hub")
    _, agents, alarms, spacing = SCENARIOS[args.scenario]
    args.agents = args.agents or agents
    args.alarms = args.alarms if args.alarms is not None else alarms
    args.spacing = args.spacing or spacing
    return args


def pin(args: argparse.Namespace) -> frozenset[int] | None:
    """With ``--pin``: CPU 0 for the hub, the rest for this process and its workers.

    On this 2-core machine 10,000 simulated agents cost their load generators as
    much CPU per connection as the hub; unpinned, both compete for the cores,
    pinned, the hub has one to itself as on a server of its own.
    """
    if not args.pin:
        return None
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2 or 0 not in cpus:
        raise SystemExit("bench: --pin needs CPU 0 and at least one more")
    os.sched_setaffinity(0, cpus - {0})  # workers started later inherit it
    return frozenset({0})


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    run = Run(args)
    say(
        f"scenario {args.scenario}: {args.agents} agents, heartbeat {args.heartbeat:g} s, "
        f"RLIMIT_NOFILE {raise_nofile_limit()}, load average {load_average()}"
    )
    try:
        result = await SCENARIOS[args.scenario][0](run)
    finally:
        run.cleanup()
    return {
        "scenario": args.scenario,
        "args": vars(args),
        "load_average_end": load_average(),
        **result,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = asyncio.run(amain(args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
