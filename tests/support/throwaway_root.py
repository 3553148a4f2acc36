"""A throw-away copy of this machine's root for dpkg: an overlayfs over / that a chroot enters.

Every write (dpkg's database, the installed files, the system user in /etc/passwd) lands in
an upper layer on a tmpfs of its own, so the real system never changes; unmounting drops it.
Needs root (mounts, chroot), as dpkg does.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# A clean environment, as dpkg run by an admin (or systemd) would have.
ENVIRONMENT = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}


@dataclass(frozen=True)
class Root:
    """The merged tree, seen from outside at ``path`` and as ``/`` by run()."""

    path: Path

    def inside(self, absolute: str) -> Path:
        """The outside path of a path inside the root."""
        return self.path / absolute.lstrip("/")

    def run(
        self,
        *argv: str,
        check: bool = True,
        stdin: str = "",
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` run inside the root, as root; output captured as text."""
        done = subprocess.run(
            ["chroot", str(self.path), *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env=ENVIRONMENT,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def start(self, *argv: str, log: Path) -> subprocess.Popen[bytes]:
        """``argv`` started inside the root, its output into ``log`` (outside)."""
        with log.open("ab") as output:
            return subprocess.Popen(
                ["chroot", str(self.path), *argv],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=ENVIRONMENT,
            )


def _mount(*argv: str) -> None:
    subprocess.run(["mount", *argv], check=True, capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def throwaway_root(scratch: Path) -> Iterator[Root]:
    """The overlay over / in ``scratch``, with /proc, /dev, /run and /tmp; unmounted after."""
    scratch.mkdir(parents=True, exist_ok=True)
    layers = scratch / "layers"
    merged = scratch / "root"
    layers.mkdir()
    merged.mkdir()
    mounted: list[Path] = []
    try:
        # The upper layer must not lie inside the lower one (/): overlayfs refuses
        # overlapping layers, so it gets a tmpfs of its own.
        _mount("-t", "tmpfs", "-o", "mode=0755,size=2g", "layers", str(layers))
        mounted.append(layers)
        (layers / "upper").mkdir()
        (layers / "work").mkdir()
        _mount(
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir=/,upperdir={layers / 'upper'},workdir={layers / 'work'}",
            str(merged),
        )
        mounted.append(merged)
        # Other file systems are not part of the overlay: bring what dpkg and the hub use.
        _mount("-t", "proc", "proc", str(merged / "proc"))
        mounted.append(merged / "proc")
        _mount("--bind", "/dev", str(merged / "dev"))
        mounted.append(merged / "dev")
        for tmpfs in ("run", "tmp"):
            _mount(
                "-t",
                "tmpfs",
                "-o",
                "mode=1777" if tmpfs == "tmp" else "mode=0755",
                tmpfs,
                str(merged / tmpfs),
            )
            mounted.append(merged / tmpfs)
        yield Root(merged)
    finally:
        for point in reversed(mounted):
            # Lazy: a process the test started inside may still hold a file open.
            subprocess.run(["umount", "--lazy", str(point)], capture_output=True, timeout=30)
