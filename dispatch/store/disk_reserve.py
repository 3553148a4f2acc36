"""A preallocated file beside the SQLite database, given up when the disk is full.

When a write fails because the disk is full, deleting the reserve frees its
size at once: the WAL checkpoint (which may grow the database file by up to
the WAL's length before it empties the WAL) and the alarms waiting to be
stored can still be written. The reserve is made again only when twice its
size is free, so making it never fills the disk the hub just got back.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

RESERVE_SUFFIX = ".reserve"


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged process may still write on the volume of ``directory``."""
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


class DiskReserve:
    """``size`` bytes held in ``<database file>.reserve``; size 0: no reserve."""

    def __init__(self, database_file: Path, size: int) -> None:
        self.path = database_file.with_name(database_file.name + RESERVE_SUFFIX)
        self.size = size

    @property
    def held(self) -> bool:
        """The reserve is on disk (always true without one)."""
        if self.size <= 0:
            return True
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def make(self) -> bool:
        """Allocates the reserve if twice its size is free; returns whether it is held now.

        Written to a temporary name and renamed, so a half-made reserve never counts.
        """
        if self.held:
            return True
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            if free_bytes(self.path.parent) < 2 * self.size:
                return False
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)  # blocks really taken, not a sparse file
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(partial, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                partial.unlink()
            log.warning("disk_reserve_not_made", path=str(self.path), error=str(error))
            return False
        log.info("disk_reserve_made", path=str(self.path), bytes=self.size)
        return True

    def release(self) -> bool:
        """Deletes the reserve; returns whether there was one to free."""
        if self.size <= 0:
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        log.warning("disk_reserve_released", path=str(self.path), bytes=self.size)
        return True
