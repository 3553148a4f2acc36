"""The disk reserve beside the SQLite file (dispatch/store/disk_reserve.py), on real files.

The full disk itself (a tmpfs filled to the last byte) is in tests/integration/test_full_disk.py;
here: the reserve is made, given up and made again, and never made where twice its size is
not free.
"""

from __future__ import annotations

import stat
from pathlib import Path

from dispatch.store.disk_reserve import DiskReserve, free_bytes


def test_the_reserve_is_made_private_released_once_and_made_again(tmp_path: Path) -> None:
    reserve = DiskReserve(tmp_path / "dispatch.sqlite3", 64 * 1024)
    assert not reserve.held
    assert reserve.make()
    assert reserve.held
    assert reserve.path == tmp_path / "dispatch.sqlite3.reserve"
    assert reserve.path.stat().st_size == 64 * 1024
    assert stat.S_IMODE(reserve.path.stat().st_mode) == 0o600
    assert reserve.release()
    assert not reserve.release()  # nothing left to free
    assert not reserve.held
    assert reserve.make()
    assert [p.name for p in tmp_path.iterdir()] == ["dispatch.sqlite3.reserve"]


def test_no_reserve_where_twice_its_size_is_not_free(tmp_path: Path) -> None:
    too_big = free_bytes(tmp_path)  # twice this is never free
    reserve = DiskReserve(tmp_path / "dispatch.sqlite3", too_big)
    assert not reserve.make()
    assert list(tmp_path.iterdir()) == []  # not even a partial file


def test_size_zero_is_no_reserve(tmp_path: Path) -> None:
    reserve = DiskReserve(tmp_path / "dispatch.sqlite3", 0)
    assert reserve.held
    assert reserve.make()
    assert not reserve.release()
    assert list(tmp_path.iterdir()) == []
