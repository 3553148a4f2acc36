"""The campaign's command line: which faults, how many rounds, how big; the table; the exit code."""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
from collections.abc import Sequence

import pytest

from bench.faults.check import Verdict
from bench.faults.kinds import FAULTS
from bench.faults.rounds import Settings, run_round
from bench.faults.table import header, line, pooled
from bench.report import say

HEARTBEAT = 5.0
"""The hub's production heartbeat interval (dispatch/settings.py): a frozen hub is noticed
by the agents after two of them."""


def _faults(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FAULTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(FAULTS)}")
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.faults",
        description="Faults injected into a real hub during alarm bursts; prints per fault "
        "raised / acknowledged / lost / duplicated and the recovery to the last recipient.",
    )
    p.add_argument("--faults", type=_faults, default=list(FAULTS), help=",".join(FAULTS))
    p.add_argument("--rounds", type=int, default=1, help="rounds per fault (default 1)")
    p.add_argument("--seed", type=int, default=1, help="the random moments and raisers")
    p.add_argument("--agents", type=int, default=50, help="desks, each raiser and recipient")
    p.add_argument("--alarms", type=int, default=100, help="alarms per burst")
    p.add_argument("--burst-seconds", type=float, default=6.0)
    p.add_argument("--stop-seconds", type=float, default=20.0, help="SIGSTOP to SIGCONT")
    p.add_argument("--down-seconds", type=float, default=8.0, help="pg-restart, disk, unreachable")
    p.add_argument("--drain-seconds", type=float, default=60.0, help="wait for stragglers")
    return p


async def campaign(args: argparse.Namespace) -> list[Verdict]:
    settings = Settings(
        desks=args.agents,
        alarms=args.alarms,
        burst_seconds=args.burst_seconds,
        stop_seconds=args.stop_seconds,
        down_seconds=args.down_seconds,
        drain_seconds=args.drain_seconds,
        heartbeat=HEARTBEAT,
    )
    rng = random.Random(args.seed)  # noqa: S311 - repeatable moments, not secrets
    say(header())
    verdicts: list[Verdict] = []
    for name in args.faults:
        mine: list[Verdict] = []
        for round_no in range(1, args.rounds + 1):
            verdict = await run_round(FAULTS[name], round_no, settings, rng)
            say(line(verdict))
            mine.append(verdict)
        if len(mine) > 1:
            say(line(pooled(mine), "all"))
        verdicts.extend(mine)
    return verdicts


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.agents < 3 or args.alarms < 1 or args.rounds < 1:
        parser().error("--agents needs at least 3, --alarms and --rounds at least 1")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one socket per agent
    try:
        verdicts = asyncio.run(campaign(args))
    except (Exception, pytest.skip.Exception) as error:  # a missing pg_ctl skips in the tests
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"bench.faults: a round could not run: {reason}", file=sys.stderr)
        return 2
    failed = [v for v in verdicts if v.failed]
    if failed:  # exit code 1: the campaign ran and found a loss or a duplicate
        say(f"FAILED: {len(failed)} of {len(verdicts)} rounds lost or duplicated alarms")
        return 1
    say(f"passed: {len(verdicts)} rounds, nothing lost, nothing duplicated")
    return 0
