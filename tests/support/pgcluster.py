"""A throw-away PostgreSQL primary with a synchronous streaming standby, for failover tests.

(One server of a test's own to stop and start: tests/support/pgserver.py.)

Two clusters of the machine's own PostgreSQL binaries on free loopback ports, trust
auth on 127.0.0.1 only, their sockets in their own temporary folder: the shared
server on 5432 is never touched. As root, every server command runs as the
``postgres`` user (PostgreSQL refuses to run as root). Each command is bounded, and
``pg_cluster`` stops both servers and removes the folder even when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.hub import free_port
from tests.support.pgserver import SERVER_USER, server_binaries

COMMAND_TIMEOUT_S = 60.0
"""initdb, a base backup or a start on a busy 2-core machine: seconds, never a minute."""


@dataclass(frozen=True)
class Node:
    """One PostgreSQL server of the cluster."""

    name: str
    data_dir: Path
    port: int


class PgCluster:
    """A primary and its standby: streaming replication, every commit confirmed by the
    standby before it returns (``synchronous_standby_names``), as Patroni's
    ``synchronous_mode`` runs it: an alarm acknowledged as stored is on both servers."""

    def __init__(self, root: Path, bindir: Path) -> None:
        self.root = root
        self.bindir = bindir
        self.primary = Node("primary", root / "primary", free_port())
        self.standby = Node("standby", root / "standby", free_port())
        self._as_server_user = os.geteuid() == 0

    # --- commands ---------------------------------------------------------------

    def _run(self, program: str, *args: str) -> str:
        command = [str(self.bindir / program), *args]
        if self._as_server_user:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    def sql(self, node: Node, statement: str, database: str = "postgres") -> str:
        """One statement through psql on the node's own socket; its rows, unaligned."""
        return self._run(
            "psql",
            "-X",
            "-h",
            str(self.root),
            "-p",
            str(node.port),
            "-U",
            SERVER_USER,
            "-d",
            database,
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            statement,
        ).strip()

    def _configure(self, node: Node) -> None:
        # Appended last, so they win over what a base backup copied from the primary.
        settings = {
            "port": str(node.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "on",
            "logging_collector": "off",
        }
        with (node.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("".join(f"{key} = {value}\n" for key, value in settings.items()))

    def _start(self, node: Node) -> None:
        log = self.root / f"{node.name}.log"
        self._run("pg_ctl", "start", "-w", "-t", "30", "-D", str(node.data_dir), "-l", str(log))

    # --- life cycle -------------------------------------------------------------

    def start(self) -> None:
        """initdb the primary, start it, clone the standby (``pg_basebackup -R``), start
        it, then make the primary wait for it on every commit; returns once it does."""
        self._run(
            "initdb",
            "-D",
            str(self.primary.data_dir),
            "-U",
            SERVER_USER,
            "-A",
            "trust",  # pg_hba: 127.0.0.1 and the socket folder, nothing else listens
            "--no-sync",
        )
        self._configure(self.primary)
        self._start(self.primary)
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            SERVER_USER,
            "-D",
            str(self.standby.data_dir),
            "-R",  # standby.signal and primary_conninfo: it follows the primary
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        self._configure(self.standby)
        self._start(self.standby)
        # Only now, on the primary alone: the promoted standby must not wait for a
        # standby of its own (Patroni clears the setting on promotion likewise).
        self.sql(self.primary, "ALTER SYSTEM SET synchronous_standby_names = '*'")
        self.sql(self.primary, "SELECT pg_reload_conf()")
        self._wait_for_sync_standby()

    def _wait_for_sync_standby(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.sql(self.primary, "SELECT sync_state FROM pg_stat_replication") != "sync":
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not become synchronous within {timeout} s")
            time.sleep(0.05)

    def create_database(self, name: str) -> None:
        self.sql(self.primary, f'CREATE DATABASE "{name}"')

    def sqlalchemy_url(self, database: str) -> str:
        """The libpq multi-host form the hub takes: both servers, the writable one wins."""
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
        return (
            f"postgresql+asyncpg://{SERVER_USER}@{hosts}/{database}?target_session_attrs=read-write"
        )

    def kill_primary(self) -> None:
        """The primary's crash: every backend ends at once, nothing is flushed or handed on."""
        self._run(
            "pg_ctl", "stop", "-m", "immediate", "-w", "-t", "30", "-D", str(self.primary.data_dir)
        )

    def promote_standby(self) -> None:
        """What Patroni does on the leader's lost lock; returns once it takes writes."""
        self._run("pg_ctl", "promote", "-w", "-t", "30", "-D", str(self.standby.data_dir))

    def stop(self) -> None:
        for node in (self.standby, self.primary):
            if (node.data_dir / "postmaster.pid").exists():
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self._run(
                        "pg_ctl",
                        "stop",
                        "-m",
                        "immediate",
                        "-w",
                        "-t",
                        "30",
                        "-D",
                        str(node.data_dir),
                    )

    def log(self) -> str:
        """Both servers' logs, for a failure's message."""
        parts = []
        for node in (self.primary, self.standby):
            path = self.root / f"{node.name}.log"
            if path.exists():
                parts.append(f"--- {node.name} ---\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """A started primary + synchronous standby; both stopped and removed afterwards.

    Without PostgreSQL's server binaries the test is skipped on a developer's machine
    and fails under CI, as the other PostgreSQL tests do.
    """
    bindir = server_binaries()  # skipped without them here, failed under CI
    # Not pytest's tmp_path: as root its folders are closed to the postgres user.
    root = Path(tempfile.mkdtemp(prefix="silent-alarm-pg-"))
    if os.geteuid() == 0:
        server = pwd.getpwnam(SERVER_USER)
        os.chown(root, server.pw_uid, server.pw_gid)
    cluster = PgCluster(root, bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
