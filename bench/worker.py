"""A load-generator process: holds a share of the idle agents.

Started by ``bench.hub`` with its configuration as one JSON line on stdin; then answers
``status``, ``report`` and ``stop`` lines with one JSON line each on stdout. It ends by
itself on ``stop``, when stdin closes (the bench died) or after ``max_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import sys
from typing import Any

import uvloop

from bench.fleet import Fleet
from bench.kernel import cpu_seconds, raise_nofile_limit
from bench.wsfleet import WsFleet

STDIN_LIMIT = 1 << 26


async def _stdin() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=STDIN_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def build(config: dict[str, Any]) -> Fleet:
    cafile = config.get("cafile")  # bench.hub --tls: the run's own CA
    return WsFleet(
        config["url"],
        [(w, t) for w, t in config["agents"]],
        config["heartbeat"],
        agent_pings=config["agent_pings"],
        receipts=config["receipts"],
        first_connect_concurrency=config["connect_concurrency"],
        tls=ssl.create_default_context(cafile=cafile) if cafile else None,
    )


async def main() -> None:
    raise_nofile_limit()
    reader = await _stdin()
    config = json.loads(await reader.readline())
    fleet = build(config)
    await fleet.start()
    _say({"event": "started"})
    try:
        async with asyncio.timeout(config.get("max_seconds", 1800)):
            while line := await reader.readline():
                cmd = line.decode().strip()
                if cmd == "status":
                    _say(fleet.rec.status())
                elif cmd == "report":
                    _say({**fleet.rec.report(), "cpu_s": cpu_seconds(os.getpid())})
                elif cmd == "stop":
                    break
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await fleet.stop()
        _say({"event": "stopped"})


if __name__ == "__main__":
    # uvloop, as the hub runs on: on this machine whatever CPU thousands of simulated
    # agents need is CPU the hub does not get (measured: bench/README.md).
    uvloop.run(main())
