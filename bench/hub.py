"""Benchmark of the dispatch hub against GOALS.md (the yardsticks: ``bench.compare``).

    .venv/bin/python -m bench.hub --scenario fanout50 [--agents 10000] [--alarms 100]

Scenarios: fanout50, all300, all10k, idle, storm, sqlite, twohubs, handshakes (one
module each in bench/scenarios/). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.kernel import load_average, raise_nofile_limit
from bench.procs import AGENTS_PER_WORKER
from bench.report import say
from bench.run import Run
from bench.scenarios.fanout import fanout
from bench.scenarios.handshakes import handshakes
from bench.scenarios.idle import idle
from bench.scenarios.sqlite import sqlite_writes
from bench.scenarios.storm import storm
from bench.scenarios.twohubs import two_instances
from dispatch.settings import Settings

Scenario = Callable[[Run], Awaitable[dict[str, Any]]]

NO_TLS = frozenset({"twohubs", "handshakes"})
"""Scenarios that open hubs or sockets of their own, outside the run's --tls."""

SCENARIOS: dict[str, tuple[Scenario, int, int, float]] = {
    "fanout50": (fanout, 10_000, 100, 0.3),
    "all300": (fanout, 301, 100, 0.3),
    "all10k": (fanout, 10_000, 10, 2.0),
    "idle": (idle, 10_000, 0, 0.0),
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
    p.add_argument(
        "--channels",
        type=int,
        default=0,
        metavar="N",
        help="fanout50/all300: each alarm also to N e-mail, N webhook and N Web Push "
        "recipients (issue 20; local sinks, bench/channelsinks.py)",
    )
    p.add_argument(
        "--tls",
        action="store_true",
        help="the hub serves WSS with a certificate made for the run; every agent trusts its CA",
    )
    p.add_argument("--json", metavar="FILE", help="write all figures as JSON")
    p.add_argument("--keep", action="store_true", help="keep the data dir (hub logs, database)")
    args = p.parse_args(argv)
    if args.pin and args.scenario == "twohubs":
        p.error("--pin needs one hub")
    if args.tls and args.scenario in NO_TLS:
        p.error(f"--tls is not available for {args.scenario}")
    _, agents, alarms, spacing = SCENARIOS[args.scenario]
    args.agents = args.agents or agents
    args.alarms = args.alarms if args.alarms is not None else alarms
    args.spacing = args.spacing or spacing
    return args


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
