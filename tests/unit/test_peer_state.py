"""The peer directory on disk (issue 16): kept for an outage after a restart, 0600, and an
unreadable file is a warning, never a crash."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agent.peer_state import STATE_FILE, PeerState, load, save
from shared.protocol import PeerAddress, PeerDirectory, RoomRef

KEY = "ab" * 32


def state() -> PeerState:
    directory = PeerDirectory(
        id="directory-1",  # fixed: each message gets a random id by default
        site_id=3,
        key_epoch=2,
        site_key=KEY,
        peers=[PeerAddress(workstation_id="pc-1-02", address="10.0.0.12", port=48330)],
    )
    return PeerState(directory=directory, room=RoomRef(number="1.01", name="B1", floor="1. OG"))


def test_saved_state_comes_back_with_its_key_and_is_private(tmp_path: Path) -> None:
    save(tmp_path, state())
    assert stat.S_IMODE((tmp_path / STATE_FILE).stat().st_mode) == 0o600
    loaded = load(tmp_path)
    assert loaded == state()
    assert loaded is not None
    assert loaded.directory.site_key.get_secret_value() == KEY
    assert KEY not in repr(loaded)  # only the file holds it, never a log line
    save(tmp_path, state())  # replaced atomically, again and again
    assert load(tmp_path) == state()


def test_no_file_is_no_state_and_a_broken_one_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert load(tmp_path) is None
    (tmp_path / STATE_FILE).write_text("{not json", encoding="utf-8")
    assert load(tmp_path) is None
    assert "peer directory file unusable" in caplog.text
