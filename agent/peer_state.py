"""The peer directory and this PC's room, kept on disk (0600) for an outage after a restart.

The hub hands them out while reachable (``peer_directory``, the welcome's room);
an agent restarted while every hub is down still alarms its neighbours directly.
The file holds the site key: readable by the agent's user only, never logged.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer

from shared.protocol import PeerDirectory, RoomRef

log = logging.getLogger(__name__)

STATE_FILE = "peer-directory-v1.json"


class PeerState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: PeerDirectory
    room: RoomRef | None = None

    @field_serializer("directory", when_used="json")
    def _with_key(self, directory: PeerDirectory) -> dict[str, object]:
        # PeerDirectory reveals its key in its JSON form only; the file needs it.
        data: dict[str, object] = directory.model_dump(mode="json")
        return data


def save(data_dir: Path, state: PeerState) -> None:
    """Write atomically, readable by this user only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STATE_FILE
    temporary = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(state.model_dump_json())
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def load(data_dir: Path) -> PeerState | None:
    """The saved state; None if there is none or it cannot be read (logged)."""
    path = data_dir / STATE_FILE
    try:
        return PeerState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as error:
        log.warning("peer directory file unusable (%s); waiting for a hub", type(error).__name__)
        return None
