"""A real, small, full disk for the hub's SQLite file: a tmpfs mount and a filler that keeps
it full (issue 16). Mounting needs root, which the test machines and CI run as."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.support.waiting import wait_until


@contextlib.contextmanager
def small_disk(directory: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``directory``; unmounted afterwards, whatever is open."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0750", "tmpfs", str(directory)],
        check=True,
    )
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def free_bytes(directory: Path) -> int:
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


class DiskFiller:
    """Fills a volume to the last block and keeps it full: whatever the hub frees (its disk
    reserve, a truncated WAL) the filler takes within milliseconds, as a runaway log would
    take it within seconds. ``stop`` deletes the filler: the space is back."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "filler"
        self._stop = threading.Event()
        self._full = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="disk-filler", daemon=True)

    def __enter__(self) -> DiskFiller:
        self._thread.start()
        wait_until(self._full.is_set, timeout=10, what="the disk filled")
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop_filling(self) -> None:
        """The disk stays as full as it is; space freed from now on stays free."""
        self._stop.set()
        self._thread.join(5)

    def stop(self) -> None:
        self.stop_filling()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _fill(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        chunks = (b"\0" * 65536, b"\0" * 4096)
        try:
            while not self._stop.is_set():
                wrote = False
                for chunk in chunks:
                    try:
                        os.write(fd, chunk)
                        wrote = True
                        break
                    except OSError as error:
                        if error.errno != errno.ENOSPC:
                            raise
                if not wrote:
                    self._full.set()
                    self._stop.wait(0.001)  # full: look again for freed blocks soon
        finally:
            os.close(fd)
