"""The fair comparison: Mosquitto, the naive hub and the hub, interleaved, with one raw client.

    .venv/bin/python -m bench.compare --shape fanout50 --rounds 5 --json /tmp/compare.json

Every round runs the three systems in turn (Mosquitto, naive, hub), each freshly started
on the server CPU (default 0) while this process, the only load generator, runs on the
other (default 1), and prints each system's figures and the round's ratios; at the end
every round again and the median of each ratio. With ``--storm`` each system is then
SIGKILLed with every client connected and restarted on the same data: the time until
every client is back and the refusals on the way (the restart storm of issue 17).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import uvloop

from bench.fleet import wait_until
from bench.kernel import cpu_seconds, load_average, raise_nofile_limit, rss_kib
from bench.rawfleet import RawFleet
from bench.report import say
from bench.systems import Hub, Mosquitto, NaiveHub, System, mosquitto_binary
from bench.tally import Merged
from bench.topology import Topology, seed
from dispatch.settings import Settings
from dispatch.store.migrate import upgrade

SHAPES: dict[str, tuple[int, int, float]] = {  # agents, alarms, spacing (s)
    "fanout50": (10_000, 100, 0.3),
    "all300": (301, 100, 0.3),
}
RATIOS = (  # (name, numerator, denominator, figure, percentile)
    ("hub/mosquitto last p50", "hub", "mosquitto", "last_recipient_ms", "p50"),
    ("hub/mosquitto last p99", "hub", "mosquitto", "last_recipient_ms", "p99"),
    ("hub/naive last p50", "hub", "naive", "last_recipient_ms", "p50"),
    ("hub/naive last p99", "hub", "naive", "last_recipient_ms", "p99"),
    ("hub/naive stored p50", "hub", "naive", "stored_ack_ms", "p50"),
    ("hub/naive stored p99", "hub", "naive", "stored_ack_ms", "p99"),
    ("hub/naive storm back", "hub", "naive", "storm", "back_after_ready_s"),
    ("hub/mosquitto storm back", "hub", "mosquitto", "storm", "back_after_ready_s"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    p.add_argument("--shape", required=True, choices=sorted(SHAPES))
    p.add_argument("--rounds", type=int, default=5, help="Mosquitto, naive, hub: this often")
    p.add_argument("--agents", type=int, help="clients per system in total (default per shape)")
    p.add_argument("--alarms", type=int, help="alarms per system and round")
    p.add_argument("--spacing", type=float, help="seconds between alarms (±20 %% jitter)")
    p.add_argument(
        "--heartbeat",
        type=float,
        default=Settings.model_fields["heartbeat_interval"].default,
        help="the hub's and the naive hub's ping interval and the MQTT keepalive, s",
    )
    p.add_argument("--connect-concurrency", type=int, default=20, help="handshakes in flight")
    p.add_argument("--resolve-after", type=float, default=2.0, help="hub: s until resolved")
    p.add_argument(
        "--storm", action="store_true", help="then SIGKILL and restart each system, time all back"
    )
    p.add_argument("--storm-timeout", type=float, default=120.0, help="s for all to be back")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    p.add_argument("--json", metavar="FILE", help="write every round's figures as JSON")
    p.add_argument("--keep", action="store_true", help="keep the data dirs (logs, databases)")
    args = p.parse_args(argv)
    agents, alarms, spacing = SHAPES[args.shape]
    args.agents = args.agents or agents
    args.alarms = args.alarms or alarms
    args.spacing = args.spacing or spacing
    if args.agents < 52 and args.shape == "fanout50":
        p.error("fanout50 needs at least 52 agents (a raiser, 50 neighbours, one idle)")
    if args.server_cpu == args.load_cpu:
        p.error("--server-cpu and --load-cpu must differ")
    return args


async def measure(system: System, round_no: int, args: argparse.Namespace) -> dict[str, Any]:
    """One system once: started, every client in, one keepalive round, the alarms, stopped."""
    topo = system.topo
    members = system.members()
    await system.start(round_no, args.heartbeat)
    fleet = RawFleet(
        system.endpoint, members, args.heartbeat, connect_concurrency=args.connect_concurrency
    )
    try:
        rss_empty = rss_kib(system.pid)
        t0 = time.monotonic()
        await fleet.start()
        within = max(60.0, len(members) / 20)
        if not await wait_until(lambda: fleet.rec.connected >= len(members), within, 0.2):
            return {"error": f"{fleet.rec.connected} of {len(members)} connected in {within:g} s"}
        connect_s = time.monotonic() - t0
        # One keepalive round both ways before the alarms; the server's CPU meanwhile.
        cpu0, t1 = cpu_seconds(system.pid), time.monotonic()
        await asyncio.sleep(args.heartbeat + 1)
        idle_pct = 100 * (cpu_seconds(system.pid) - cpu0) / (time.monotonic() - t1)
        rss_full = rss_kib(system.pid)
        alarms = await raise_spaced(fleet, system, topo, args)
        expected = topo.recipients_per_alarm[topo.raisers[0]]
        await wait_until(lambda: drained(fleet, alarms, expected), 15, 0.1)
        await system.settle()
        m = Merged()
        m.add(fleet.rec.report())
        storm = await restart_storm(fleet, system, args) if args.storm else None
        return {
            **m.latencies(expected, alarms),
            **({"storm": storm} if storm is not None else {}),
            "connected": fleet.rec.connected,
            "connect_seconds": round(connect_s, 2),
            "idle_cpu_percent": round(idle_pct, 2),
            "rss_empty_kib": rss_empty,
            "rss_full_kib": rss_full,
            "kib_per_connection": round((rss_full - rss_empty) / len(members), 1),
        }
    finally:
        await fleet.stop()
        system.stop()


async def raise_spaced(
    fleet: RawFleet, system: System, topo: Topology, args: argparse.Namespace
) -> list[str]:
    alarms: list[str] = []
    next_at = time.monotonic()
    for _ in range(args.alarms):
        next_at += args.spacing * random.uniform(0.8, 1.2)  # noqa: S311 - no phase lock to pings
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        alarm = fleet.raise_alarm(topo.raisers[0], topo.level)
        if alarm is not None:
            alarms.append(alarm)
            system.raised(alarm)
    return alarms


async def restart_storm(
    fleet: RawFleet, system: System, args: argparse.Namespace
) -> dict[str, Any]:
    """SIGKILL with every client connected, restart, until every client was let in again."""
    members = [m.client_id for m in fleet.members]
    refused_before = sum(fleet.refused.values())
    refused_each = dict(fleet.refused)
    killed = time.monotonic()
    ready = await system.kill_and_restart()
    cpu0 = cpu_seconds(system.pid)

    def all_back() -> bool:
        return all(fleet.welcomed_at.get(m, 0.0) > killed for m in members)

    back = await wait_until(all_back, args.storm_timeout, 0.05)
    done = time.monotonic()
    again = [m for m in members if fleet.refused[m] - refused_each.get(m, 0) > 1]
    return {
        "all_back": back,
        "back_after_ready_s": round(done - ready, 2),
        "back_after_kill_s": round(done - killed, 2),
        "ready_after_kill_s": round(ready - killed, 2),
        "back_by_deadline": sum(fleet.welcomed_at.get(m, 0.0) > killed for m in members),
        "refused_503": sum(fleet.refused.values()) - refused_before,
        "refused_more_than_once": len(again),
        "server_cpu_s": round(cpu_seconds(system.pid) - cpu0, 2),
    }


def drained(fleet: RawFleet, alarms: list[str], expected: int) -> bool:
    rec = fleet.rec
    return all(a in rec.stored and rec.notify_count.get(a, 0) >= expected for a in alarms)


def line(round_no: int, name: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"round {round_no} {name:<9}: {r['error']}"
    last, stored = r["last_recipient_ms"], r["stored_ack_ms"]
    return (
        f"round {round_no} {name:<9}: last recipient p50 {last['p50']:7.2f} "
        f"p99 {last['p99']:7.2f} ms · stored-ack ({r['ack']}) p50 {stored['p50']:7.2f} "
        f"p99 {stored['p99']:7.2f} ms · n={last['n']}/{r['alarms']}, incomplete "
        f"{r['incomplete_fanouts']}, duplicates {r['duplicates']}, closes {r['closes']}, "
        f"errors {r['errors']} · {r['connected']} in {r['connect_seconds']:.1f} s, idle CPU "
        f"{r['idle_cpu_percent']:.1f} %, {r['kib_per_connection']:.1f} KiB per connection"
        + storm_text(r.get("storm"))
    )


def storm_text(storm: dict[str, Any] | None) -> str:
    if storm is None:
        return ""
    back = "all back" if storm["all_back"] else f"only {storm['back_by_deadline']} back"
    return (
        f" · storm: ready {storm['ready_after_kill_s']:.1f} s after the kill, {back} "
        f"{storm['back_after_ready_s']:.1f} s after ready, {storm['refused_503']} refused "
        f"(503), {storm['refused_more_than_once']} refused more than once, server CPU "
        f"{storm['server_cpu_s']:.1f} s"
    )


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, num, den, figure, pct in RATIOS:
        a, b = results.get(num, {}), results.get(den, {})
        if figure in a and figure in b and b[figure][pct] > 0:
            out[name] = round(a[figure][pct] / b[figure][pct], 2)
    return out


def ratio_line(values: dict[str, float]) -> str:
    return " · ".join(f"{k} {v:.2f}×" for k, v in values.items()) or "no ratios (a system failed)"


async def prepare(root: Path, args: argparse.Namespace, run_key: str) -> tuple[Path, Topology]:
    """The hub's migrated, seeded database, once; each hub round gets a copy."""
    template = root / "template"
    template.mkdir()
    url = f"sqlite+aiosqlite:///{template / 'dispatch.sqlite3'}"
    t = time.monotonic()
    await asyncio.to_thread(upgrade, url)
    topo = await seed(url, args.shape, args.agents, run_key, "many-sites")
    say(f"seeded {topo.total} workstations in {time.monotonic() - t:.1f} s ({root})")
    return template, topo


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    cpus = os.sched_getaffinity(0)
    if not {args.server_cpu, args.load_cpu} <= cpus:
        raise SystemExit(f"bench.compare: CPUs {args.server_cpu} and {args.load_cpu} needed")
    mosquitto_binary()  # before the seeding: one line and exit 1 if it is missing
    os.sched_setaffinity(0, {args.load_cpu})  # this process is the load generator
    server = frozenset({args.server_cpu})
    say(
        f"compare {args.shape}: {args.agents} clients, {args.alarms} alarms "
        f"{args.spacing * 1000:.0f} ms apart, {args.rounds} rounds, heartbeat "
        f"{args.heartbeat:g} s, servers on CPU {args.server_cpu}, load on CPU "
        f"{args.load_cpu}, RLIMIT_NOFILE {raise_nofile_limit()}, load average {load_average()}"
    )
    root = Path(tempfile.mkdtemp(prefix=f"bench-compare-{args.shape}-", dir="/tmp"))
    run_key = uuid.uuid4().hex
    rounds: list[dict[str, Any]] = []
    try:
        template, topo = await prepare(root, args, run_key)
        systems: list[System] = [
            Mosquitto(root, topo, run_key, server),
            NaiveHub(root, topo, run_key, server),
            Hub(root, topo, run_key, server, template, args.resolve_after),
        ]
        for n in range(1, args.rounds + 1):
            results: dict[str, dict[str, Any]] = {}
            for system in systems:
                results[system.name] = {"ack": system.label, **await measure(system, n, args)}
                say(line(n, system.name, results[system.name]))
            rounds.append({"round": n, "load_average": load_average(), "systems": results})
            rounds[-1]["ratios"] = ratios(results)
            say(f"round {n} ratios   : {ratio_line(rounds[-1]['ratios'])}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    say("every round:")
    for r in rounds:
        for name, figures in r["systems"].items():
            say(f"  {line(r['round'], name, figures)}")
        say(f"  round {r['round']} ratios   : {ratio_line(r['ratios'])}")
    medians = {
        name: round(statistics.median(vals), 2)
        for name, *_ in RATIOS
        if (vals := [r["ratios"][name] for r in rounds if name in r["ratios"]])
    }
    say(f"medians over {len(rounds)} rounds: {ratio_line(medians)}")
    return {"args": vars(args), "rounds": rounds, "median_ratios": medians}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = uvloop.run(amain(args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
