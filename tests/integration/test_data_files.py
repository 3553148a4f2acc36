"""The hub's data files are not readable by other users of the server, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dispatch.store.migrate import create_private
from shared.protocol import AlarmStored
from tests.integration.conftest import Connect
from tests.support.hub import RunningHub
from tests.support.wsclient import AgentClient


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_wal_and_shm_are_private_under_a_lax_umask(
    agent: Connect, demo_hub: RunningHub
) -> None:
    umask = os.umask(0)
    os.umask(umask)
    assert umask & 0o044 == 0, "the hub (started from here) must meet a lax umask"
    raiser: AgentClient = await agent("pc-1-01")
    await raiser.raise_alarm()
    await raiser.expect(AlarmStored)  # committed: the WAL has frames
    database = demo_hub.data_dir / "dispatch.sqlite3"
    files = [database, database.with_name("dispatch.sqlite3-wal")]
    files += [database.with_name("dispatch.sqlite3-shm")]
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}


def test_an_existing_database_loses_its_bits_for_others(tmp_path: Path) -> None:
    database = tmp_path / "dispatch.sqlite3"
    database.write_bytes(b"")
    database.chmod(0o644)
    create_private(database)
    assert mode(database) == 0o640
