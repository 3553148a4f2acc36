"""Runs the real hub as a subprocess on a loopback port, with the demo site seeded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import tomllib
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from dispatch import demo
from tests.support.commands import dispatch_cli
from tests.support.postgres import create_database, drop_database, sqlalchemy_url
from tests.support.tls import TlsFiles

T = TypeVar("T")

TEST_RESERVE_BYTES = 1024 * 1024
"""The test hubs' disk reserve (SILENT_ALARM_DISK_RESERVE_BYTES), unless a test sets one."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningHub:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    tls: TlsFiles | None = None  # the hub serves HTTPS and WSS with these

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def agent_ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ws/agent"

    @property
    def console_ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ws/console"

    def verify(self) -> ssl.SSLContext | bool:
        """What an HTTP client needs to trust this hub."""
        return ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls else True

    @property
    def login(self) -> demo.DemoLogin:
        return demo.read_login(self.data_dir)

    def agent_config_path(self, workstation_id: str) -> Path:
        return self.data_dir / demo.AGENTS_DIR / f"{workstation_id}.toml"

    def agent_config(self, workstation_id: str) -> dict[str, Any]:
        return tomllib.loads(self.agent_config_path(workstation_id).read_text(encoding="utf-8"))

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """``silent-alarm-dispatch`` on this hub's data dir, as an admin on the server."""
        return dispatch_cli(*args, stdin=stdin, env={"SILENT_ALARM_DATA_DIR": str(self.data_dir)})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or power cut."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def query(hub: RunningHub, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Reads the hub's own SQLite store, as an auditor would (WAL lets a reader in beside
    the running hub)."""
    with contextlib.closing(sqlite3.connect(hub.data_dir / "dispatch.sqlite3", timeout=5)) as db:
        return db.execute(sql, params).fetchall()


def start_demo_hub(
    data_dir: Path,
    port: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30,
    tls: TlsFiles | None = None,
    template: Path | None = None,
) -> RunningHub:
    """Starts ``python -m dispatch demo`` and returns once /healthz answers.

    A free port can be taken by another process between probing and binding;
    without a fixed port the start is tried again on a fresh one.

    With ``template`` (from make_demo_template) a missing or empty ``data_dir`` starts
    as a copy of it: the hub finds its demo site made and skips the migrations' and the
    seeding's work; a data dir with files in it (a restart) is used as it is.
    """
    if template is not None:
        if "SILENT_ALARM_DATABASE_URL" in (env or {}):
            raise ValueError("a demo template is a SQLite data dir: no DATABASE_URL with it")
        if not data_dir.exists() or not any(data_dir.iterdir()):
            copy_demo_template(template, data_dir)
    attempts = 1 if port else 3
    for attempt in range(attempts):
        try:
            return _start_once(data_dir, port or free_port(), env, timeout, tls)
        except PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    pass


def _start_once(
    data_dir: Path, port: int, env: dict[str, str] | None, timeout: float, tls: TlsFiles | None
) -> RunningHub:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"hub-{port}.log"
    child_env = {**os.environ, **(env or {})}
    # A full run starts hundreds of hubs: 1 MiB of disk reserve each, not the default 32.
    child_env.setdefault("SILENT_ALARM_DISK_RESERVE_BYTES", str(TEST_RESERVE_BYTES))
    if tls is not None:
        child_env["SILENT_ALARM_TLS_CERTFILE"] = str(tls.certificate)
        child_env["SILENT_ALARM_TLS_KEYFILE"] = str(tls.key)
    child_env.pop("SILENT_ALARM_SESSION_SECRET", None)
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dispatch",
                "demo",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=child_env,
        )
    hub = RunningHub(process, port, data_dir, log_path, tls)
    deadline = time.monotonic() + timeout
    # One client for every probe: httpx.get() builds a client and loads the CA bundle each
    # time (~30 ms of CPU), which the hub's own start-up needs on a 2-core machine.
    with httpx.Client(timeout=1, verify=hub.verify()) as probe:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = hub.log()[-3000:]
                error = PortTaken if "address already in use" in output else RuntimeError
                raise error(f"hub exited with {process.returncode}:\n{output}")
            with contextlib.suppress(httpx.HTTPError):
                if probe.get(f"{hub.url}/healthz").status_code == 200:
                    return hub
            time.sleep(0.05)
    hub.kill()
    raise RuntimeError(f"hub did not answer within {timeout} s:\n{hub.log()[-3000:]}")


# --- a demo site made once, copied for each hub ------------------------------------------

_RUNTIME_FILES = ("hub-*.log", "*.reserve", "*.serving", "audit-anchors.jsonl")
"""What a running hub adds to its data dir beside the demo site: its log, the disk reserve,
the sole-server lock and the audit anchors (a fresh demo has none until its first)."""


def make_demo_template(data_dir: Path, timeout: float = 30) -> Path:
    """A demo hub's data dir as its first start leaves it, for start_demo_hub(template=…).

    The real ``python -m dispatch demo`` migrates and seeds it (the hub writes nothing
    else to its store), then stops; the files of its run are removed, so a copy is
    what a first start has before it serves.
    """
    hub = start_demo_hub(data_dir, timeout=timeout)
    hub.stop()
    with contextlib.closing(sqlite3.connect(data_dir / "dispatch.sqlite3")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the whole store in the one file
    for pattern in _RUNTIME_FILES:
        for path in data_dir.glob(pattern):
            path.unlink()
    return data_dir


def copy_demo_template(template: Path, data_dir: Path) -> None:
    """``template`` into ``data_dir`` (modes kept: the secrets stay 0600), its agent
    configs naming folders under ``data_dir``, as the demo writes them for its own."""
    shutil.copytree(template, data_dir, dirs_exist_ok=True)
    old, new = json.dumps(str(template))[1:-1], json.dumps(str(data_dir))[1:-1]
    for config in (data_dir / demo.AGENTS_DIR).glob("*.toml"):
        config.write_text(config.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


# --- several hub instances on one PostgreSQL database (dispatch/net/bus.py) ----------------


@contextlib.contextmanager
def postgres_database(prefix: str = "silent_alarm_hubs") -> Iterator[str]:
    """A fresh PostgreSQL database as a SQLAlchemy URL, dropped afterwards (even if in use).

    Without a reachable server the test is skipped on a developer's machine and fails
    under CI, as in tests/storage.
    """
    name = _run_apart(create_database(prefix))
    try:
        yield sqlalchemy_url(name)
    finally:
        _run_apart(drop_database(name))


def _run_apart(work: Coroutine[Any, Any, T]) -> T:
    """Runs ``work`` on an event loop of its own thread: Playwright's sync API keeps a loop
    running in the test's thread, where asyncio.run() refuses to start another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def start_two_hubs(
    data_dir: Path, database_url: str, env: dict[str, str] | None = None
) -> tuple[RunningHub, RunningHub]:
    """Two demo hub processes on one PostgreSQL database, as behind a load balancer.

    A starts first and seeds the demo site; B finds the site there and shares A's data
    dir, so both sign sessions with the same key and the agent configs hold the tokens.
    """
    shared = {**(env or {}), "SILENT_ALARM_DATABASE_URL": database_url}
    a = start_demo_hub(data_dir, env=shared)
    try:
        b = start_demo_hub(data_dir, env=shared)
    except BaseException:
        a.stop()
        raise
    return a, b
