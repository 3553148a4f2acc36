"""The three systems bench.compare measures, each its own process pinned to the server's CPU.

Mosquitto (the yardstick, configured fairly), the naive hub (``bench.naivehub``) and the
hub (``python -m dispatch serve`` on a copy of a database seeded once per comparison).
Each round starts every system afresh, so none inherits the previous round's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.procs import HubProcess
from bench.rawfleet import Endpoint, Member
from bench.run import free_port, resolve_in_sqlite
from bench.topology import Topology, token_for

HOST = "127.0.0.1"

MOSQUITTO_CONF = """\
# Written by bench.compare: the fair yardstick of GOALS.md.
listener {port} {host}
allow_anonymous true
# Without it every small reply waits for Nagle and the peer's delayed ACK (36-43 ms p99).
set_tcp_nodelay true
persistence false
max_connections -1
max_queued_messages 10000
log_dest stderr
log_type error
log_type warning
connection_messages false
"""


def mosquitto_binary() -> str:
    """The broker's binary (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise SystemExit("bench.compare: mosquitto not found (Debian package: mosquitto)")
    return found


def pinned_to(cpus: frozenset[int]) -> Callable[[], None]:
    """A preexec_fn doing what ``taskset -c`` does, before the server's first instruction."""

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def spawn(argv: list[str], log: Path, cpus: frozenset[int]) -> subprocess.Popen[bytes]:
    """A server process on ``cpus``, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=pinned_to(cpus),
        )


async def wait_listening(port: int, process: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError):
            _reader, writer = await asyncio.open_connection(HOST, port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {within:g} s")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class System:
    """What a comparison needs of a system; ``workdir`` is this round's own directory."""

    name = ""
    label = ""  # what its stored-ack is

    def __init__(self, root: Path, topo: Topology, run_key: str, cpus: frozenset[int]) -> None:
        self.root = root
        self.topo = topo
        self.run_key = run_key
        self.cpus = cpus
        self.workdir = root
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._argv: list[str] = []
        self._log = root

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("ws", HOST, self.port)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def members(self) -> list[Member]:
        t = self.topo
        return [
            Member(w, token_for(self.run_key, w), raiser=w in t.raisers, recipient=w in t.measured)
            for w in t.raisers + t.measured + t.idle
        ]

    async def start(self, round_no: int, heartbeat: float) -> None:
        self.workdir = self.root / f"{self.name}-{round_no}"
        self.port = free_port()
        await self._start(heartbeat)

    async def _start(self, heartbeat: float) -> None:
        raise NotImplementedError

    def raised(self, alarm_id: str) -> None:
        """Called after each alarm is sent."""

    async def settle(self) -> None:
        """Waits for what ``raised`` started."""

    async def kill_and_restart(self) -> float:
        """SIGKILL, then the same server on the same port and data; when it listens again."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = spawn(self._argv, self._log, self.cpus)
        await wait_listening(self.port, self.process, 60)
        return time.monotonic()

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        self._argv, self._log = argv, log
        return spawn(argv, log, self.cpus)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


class Mosquitto(System):
    name, label = "mosquitto", "PUBACK"

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("mqtt", HOST, self.port)

    async def _start(self, heartbeat: float) -> None:
        self.workdir.mkdir(parents=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, host=HOST), "utf-8")
        binary = mosquitto_binary()
        self.process = self._spawn([binary, "-c", str(conf)], self.workdir / "mosquitto.log")
        await wait_listening(self.port, self.process, 30)


class NaiveHub(System):
    name, label = "naive", "alarm_stored"

    def routes(self) -> dict[str, object]:
        t = self.topo
        everyone = t.raisers + t.measured + t.idle
        return {
            "tokens": {w: token_for(self.run_key, w) for w in everyone},
            "rooms": {w: f"R{i + 1:05d}" for i, w in enumerate(t.raisers)},
            "recipients": {w: t.measured for w in t.raisers},
        }

    async def _start(self, heartbeat: float) -> None:
        self.workdir.mkdir(parents=True)
        routes = self.workdir / "routes.json"
        routes.write_text(json.dumps(self.routes()), "utf-8")
        routes.chmod(0o600)  # it holds this run's tokens
        argv = [sys.executable, "-m", "bench.naivehub", "--port", str(self.port)]
        argv += ["--db", str(self.workdir / "naive.sqlite3"), "--routes", str(routes)]
        argv += ["--heartbeat", str(heartbeat)]
        self.process = self._spawn(argv, self.workdir / "naive.log")
        await wait_listening(self.port, self.process, 60)


class Hub(System):
    """The real hub on a fresh copy of the seeded template; alarms resolved as guards would."""

    name, label = "hub", "alarm_stored"

    def __init__(
        self,
        root: Path,
        topo: Topology,
        run_key: str,
        cpus: frozenset[int],
        template: Path,
        resolve_after: float,
    ) -> None:
        super().__init__(root, topo, run_key, cpus)
        self.template = template
        self.resolve_after = resolve_after
        self.hub: HubProcess | None = None
        self._resolvers: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int:
        assert self.hub is not None
        return self.hub.pid

    async def _start(self, heartbeat: float) -> None:
        shutil.copytree(self.template, self.workdir)
        self.hub = HubProcess(self.workdir, self.port, heartbeat, self.cpus)
        self.hub.start()
        await self.hub.wait_ready()

    async def kill_and_restart(self) -> float:
        """SIGKILL, the same hub on its database again; when /healthz answers."""
        assert self.hub is not None
        self.hub.kill()
        self.hub.start()
        return await self.hub.wait_ready()

    def raised(self, alarm_id: str) -> None:
        self._resolvers.append(asyncio.create_task(self._resolve_later(alarm_id)))

    async def _resolve_later(self, alarm_id: str) -> None:
        await asyncio.sleep(self.resolve_after)
        await asyncio.to_thread(resolve_in_sqlite, self.workdir / "dispatch.sqlite3", [alarm_id])

    async def settle(self) -> None:
        await asyncio.gather(*self._resolvers)
        self._resolvers = []

    def stop(self) -> None:
        for task in self._resolvers:
            task.cancel()
        self._resolvers = []
        if self.hub is not None:
            self.hub.stop()
            self.hub = None
