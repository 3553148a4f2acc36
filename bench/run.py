"""One benchmark run: its data dir, its hub, its agents and the phases scenarios are made of."""

from __future__ import annotations

import argparse
import asyncio
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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from bench.channelsinks import Sinks, add_recipients, make_vapid_key, start_sinks
from bench.fleet import wait_until
from bench.kernel import cpu_seconds, rss_kib
from bench.procs import HubProcess, Worker, spawn_workers
from bench.report import say
from bench.selfsigned import make_tls
from bench.tally import Merged, merged, total_connected
from bench.topology import Topology, seed, token_for
from bench.wsfleet import WsFleet
from dispatch.store.migrate import upgrade
from shared.domain import AlarmLevel


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resolve_in_sqlite(db_file: Path, alarm_ids: list[str]) -> None:
    """What guards do after a while; keeps the number of open alarms realistic.

    Open alarms are re-delivered by the hub every 2 s and each round reloads them all.
    """
    with sqlite3.connect(db_file, timeout=10) as db:
        db.execute("PRAGMA synchronous=OFF")
        db.executemany(
            "UPDATE alarms SET state='resolved', resolved_by='bench' WHERE id=?",
            [(a,) for a in alarm_ids],
        )
    db.close()


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


class Run:
    """A fresh data dir under /tmp, the hub on a free port, and the agents of ``args``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_key = uuid.uuid4().hex
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"bench-{args.scenario}-", dir="/tmp"))
        self.url = f"sqlite+aiosqlite:///{self.data_dir / 'dispatch.sqlite3'}"
        # --tls: the hub serves WSS with a certificate of the run's own CA, which every
        # simulated agent (this process's and the workers') trusts.
        self.tls = make_tls(self.data_dir / "tls") if getattr(args, "tls", False) else None
        self.hub = HubProcess(self.data_dir, free_port(), args.heartbeat, pin(args), tls=self.tls)
        self.topo = Topology(AlarmLevel.THREAT)
        self.fleet: WsFleet | None = None
        self.workers: list[Worker] = []
        self.profilers: list[subprocess.Popen[bytes]] = []
        self.sinks: Sinks | None = None  # --channels: where the e-mails and webhooks go

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
        channels = getattr(self.args, "channels", 0)
        if channels:
            self.sinks = await start_sinks()
            add_recipients(
                self.data_dir / "dispatch.sqlite3",
                int(self.topo.level),
                channels,
                self.sinks.http_origin,
            )
            self.hub.env.update(self.sinks.hub_env(make_vapid_key(self.data_dir)))
            say(
                f"each alarm also to {channels} e-mail, {channels} webhook and {channels} "
                "Web Push recipients"
            )

    @asynccontextmanager
    async def agents_up(self) -> AsyncIterator[tuple[WsFleet, dict[str, Any]]]:
        """Seeded, the hub and every agent connected: the fleet, and the figures so far.

        The figures start with ``connect`` (start_hub_and_agents); the scenario adds its
        own. After the block (also when it fails) the agents, workers and hub are stopped.
        """
        await self.prepare()
        try:
            figures = {"connect": await self.start_hub_and_agents()}
            assert self.fleet is not None
            yield self.fleet, figures
        finally:
            await self.teardown()

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
            tls=self.tls.client_context() if self.tls else None,
        )
        await self.fleet.start()
        own = len(topo.raisers) + len(topo.measured)
        if not await wait_until(
            lambda: self.fleet is not None and self.fleet.rec.connected >= own, 120
        ):
            raise RuntimeError(f"only {self.fleet.rec.connected} of {own} main agents connected")
        await asyncio.sleep(2)
        rss_before = rss_kib(self.hub.pid)
        t0 = time.monotonic()
        self.profile("connect", 8)
        self.workers = await spawn_workers(
            topo.idle,
            args.procs,
            lambda share: {
                "kind": "ws",
                "url": self.hub.ws_url,
                "agents": self.tokens(share),
                "heartbeat": args.heartbeat,
                "agent_pings": not args.no_agent_pings,
                "receipts": not args.no_receipts,
                "connect_concurrency": args.connect_concurrency,
                "max_seconds": args.max_seconds,
                "cafile": str(self.tls.ca) if self.tls else None,
            },
        )
        n_workers = len(self.workers)
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
        transport = (self.fleet.tls_in_use() or "TLS") if self.tls else "no TLS"
        say(
            f"hub RSS {rss_before} KiB with {own} agents -> {rss_after} KiB with "
            f"{topo.total}: {per_conn:.1f} KiB per idle connection ({transport})"
        )
        return {
            "tls": self.tls is not None,
            "transport": transport,
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

    def profile(self, name: str, seconds: float, pid: int | None = None) -> None:
        """py-spy records ``pid`` (the hub's by default) for ``seconds`` with ``--profile``."""
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
                    str(self.hub.pid if pid is None else pid),
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
        resolve_in_sqlite(self.data_dir / "dispatch.sqlite3", alarm_ids)

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
        if self.sinks is not None:
            self.sinks.stop()
            self.sinks = None

    def cleanup(self) -> None:
        if not self.args.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
