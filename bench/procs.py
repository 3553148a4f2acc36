"""The processes a benchmark run starts: the hub itself and load-generator workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.selfsigned import TlsFiles

STDOUT_LIMIT = 1 << 27
AGENTS_PER_WORKER = 5000


class HubProcess:
    """``python -m dispatch serve`` on 127.0.0.1, configured only through SILENT_ALARM_*."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        heartbeat: float,
        cpus: frozenset[int] | None = None,
        *,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.heartbeat = heartbeat
        self.cpus = cpus  # None: wherever the kernel schedules it
        self.env = env or {}  # more SILENT_ALARM_* settings (a database URL, a disk reserve)
        # The fault campaign fills the data dir's disk: its logs must be written elsewhere.
        self.log_dir = log_dir or data_dir
        self.tls = tls  # serves HTTPS and WSS itself with these (SILENT_ALARM_TLS_*)
        self.secret = secrets.token_urlsafe(48)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ws/agent"

    def start(self) -> None:
        env = {
            **os.environ,
            "SILENT_ALARM_DATA_DIR": str(self.data_dir),
            "SILENT_ALARM_SESSION_SECRET": self.secret,
            "SILENT_ALARM_HEARTBEAT_INTERVAL": str(self.heartbeat),
            "SILENT_ALARM_PORT": str(self.port),
            "SILENT_ALARM_HOST": "127.0.0.1",
            # The fleet's 10,000 agents all come from 127.0.0.1: one address standing
            # for a whole site, so the limits per address (docs/security.md) are set
            # to what the hub as a whole allows (its handshake slots and its queue).
            "SILENT_ALARM_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
            "SILENT_ALARM_MAX_HANDSHAKES_PER_ADDRESS": "1000000",
            # One load-generator loop hosts 5,000 agents; its own lag in a storm can hold
            # a hello back for seconds, which real PCs (each its own) never do.
            "SILENT_ALARM_HANDSHAKE_TIMEOUT": "10",
            **(self.tls.hub_env() if self.tls else {}),
            **self.env,
        }
        self.starts += 1
        log = (self.log_dir / f"hub-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dispatch", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=None if self.cpus is None else self._pin,
        )
        log.close()

    def _pin(self) -> None:
        assert self.cpus is not None
        os.sched_setaffinity(0, self.cpus)

    async def wait_ready(self, within: float = 60) -> float:
        """Polls /healthz until it answers 200; returns the monotonic time it did."""
        deadline = time.monotonic() + within
        tls = self.tls.client_context() if self.tls else None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"hub exited with {self.process.returncode}; see {self.data_dir}"
                )
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=tls)
                writer.write(
                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                status = await reader.readline()
                writer.close()
                if b" 200 " in status:
                    return time.monotonic()
            await asyncio.sleep(0.05)
        raise TimeoutError("hub did not become ready")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class Worker:
    """One load-generator process (``python -m bench.worker``)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def spawn(cls, config: dict[str, Any]) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=STDOUT_LIMIT,
        )
        worker = cls(process)
        await worker._send(json.dumps(config))
        started = await worker._read(within=600)
        assert started.get("event") == "started", started
        return worker

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def _read(self, within: float = 60) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not line:
            raise RuntimeError(f"worker {self.pid} ended unexpectedly")
        result: dict[str, Any] = json.loads(line)
        return result

    async def ask(self, command: str) -> dict[str, Any]:
        await self._send(command)
        return await self._read()

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        with contextlib.suppress(Exception):
            await self._send("stop")
            await asyncio.wait_for(self.process.wait(), 20)
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def worker_count(idle: int, requested: int | None) -> int:
    if idle == 0:
        return 0
    return requested or math.ceil(idle / AGENTS_PER_WORKER)


async def spawn_workers(
    idle: list[str], requested: int | None, config: Callable[[list[str]], dict[str, Any]]
) -> list[Worker]:
    """The idle clients dealt out over worker processes, ``config(share)`` for each."""
    n = worker_count(len(idle), requested)
    shares = [idle[i::n] for i in range(n)]
    return list(await asyncio.gather(*(Worker.spawn(config(share)) for share in shares)))
