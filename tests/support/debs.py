"""Builds the Debian packages with installers/linux/build-deb and reads them with dpkg-deb."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_DEB = REPO / "installers" / "linux" / "build-deb"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
UPGRADE_SUFFIX = "+upgrade1"
"""The second version the upgrade tests install over the first (0.1.0+upgrade1 > 0.1.0)."""

Debs = dict[str, Path]
"""Package name → its .deb."""


def build_deb(out: Path, *args: str, timeout: float) -> Debs:
    """installers/linux/build-deb into ``out``, gzip-compressed (xz takes minutes)."""
    done = subprocess.run(
        [str(BUILD_DEB), *args, "--compress", "gzip", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    built = [Path(line) for line in done.stdout.split()]
    return {path.name.split("_")[0]: path for path in built}


def contents(deb: Path) -> dict[str, str]:
    """Path → permission string, from dpkg-deb --contents."""
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    entries = {}
    for line in listing.splitlines():
        fields = line.split()
        entries[fields[-1].removeprefix(".").rstrip("/") or "/"] = fields[0]
    return entries


def field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def control_file(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--info", str(deb), name], capture_output=True, text=True, check=True
    ).stdout


def member(deb: Path, path: str) -> bytes:
    """One file's bytes from the package's data archive."""
    data = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        extracted = archive.extractfile("." + path)
        assert extracted is not None, path
        return extracted.read()
