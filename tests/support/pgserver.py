"""A PostgreSQL server of one test's own (initdb, pg_ctl, a temporary folder) to stop and start.

The shared server on 127.0.0.1:5432 serves every other test and is never stopped;
a test in which the database goes away makes its own. PostgreSQL refuses to run
as root, so as root the cluster belongs to the ``postgres`` user of Debian's
package (scripts/system-packages installs it). Without the binaries the test is
skipped on a developer's machine and fails under CI, as in tests/support/postgres.py.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.hub import free_port

SERVER_USER = "postgres"
"""Who runs the server when the tests run as root."""


def server_binaries() -> Path:
    """The folder with initdb, pg_ctl and pg_basebackup: Debian's newest
    /usr/lib/postgresql/N/bin, else the folder of initdb on PATH (a lone pg_ctl on PATH,
    e.g. a wrapper in /usr/local/bin, is not a server's folder)."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda bindir: int(bindir.parent.name) if bindir.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which("initdb")
    if on_path is not None and (Path(on_path).parent / "pg_ctl").exists():
        return Path(on_path).parent
    message = "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Cluster:
    """One PostgreSQL server on 127.0.0.1:``port``, trust auth, superuser ``postgres``."""

    bin_dir: Path
    root: Path  # the temporary folder: data/, the socket and the server log
    port: int
    run_as: dict[str, Any]  # subprocess's user/group when running as root, else nothing

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        """The hub's SILENT_ALARM_DATABASE_URL for the cluster's ``postgres`` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        """The same database for asyncpg."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Returns once the server accepts connections (pg_ctl -w)."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.log_path), "-o", options)

    def stop(self) -> None:
        """A fast shutdown, as by the service manager: sessions are ended, nothing is lost."""
        self._pg_ctl("stop", "-w", "-t", "30", "-m", "fast")

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args)

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            **self.run_as,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({result.returncode}):\n{result.stderr}")


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A new cluster, started; stopped and deleted afterwards."""
    bin_dir = server_binaries()
    root = Path(tempfile.mkdtemp(prefix="silent-alarm-pg-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        owner = pwd.getpwnam(SERVER_USER)
        os.chown(root, owner.pw_uid, owner.pw_gid)
        run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    cluster = Cluster(bin_dir, root, free_port(), run_as)
    try:
        cluster._run(
            str(bin_dir / "initdb"),
            "-D",
            str(cluster.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",  # a test's cluster: nothing in it must survive a power cut
        )
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                cluster._pg_ctl("stop", "-w", "-t", "30", "-m", "immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)
