"""The packages the installer tests share, each built once per session by build-deb.

The layout builds (``--no-venv``) take a second; the hub's real build installs its virtual
environment from the package index and takes most of the installer tests' time. The
agent's real venv (PySide6, minutes to install and pack) is never built here: its package
is checked with the stand-in (docs/testing.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.debs import UPGRADE_SUFFIX, VERSION, Debs, build_deb


@pytest.fixture(scope="session")
def layout_debs(tmp_path_factory: pytest.TempPathFactory) -> Debs:
    """Both packages with a stand-in for the venv, at this version."""
    return build_deb(
        tmp_path_factory.mktemp("layout"),
        *("--package", "all", "--no-venv", "--man-python", sys.executable),
        timeout=60,
    )


@pytest.fixture(scope="session")
def layout_debs_upgrade(tmp_path_factory: pytest.TempPathFactory) -> Debs:
    """The same at the next version, to upgrade to."""
    return build_deb(
        tmp_path_factory.mktemp("layout-upgrade"),
        *("--package", "all", "--no-venv", "--man-python", sys.executable),
        *("--version-suffix", UPGRADE_SUFFIX),
        timeout=60,
    )


@pytest.fixture(scope="session")
def hub_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real hub package: its venv installed from the index with constraints.txt."""
    debs = build_deb(tmp_path_factory.mktemp("hub"), "--package", "dispatch", timeout=300)
    return debs["silent-alarm-dispatch"]


@pytest.fixture(scope="session")
def hub_deb_upgrade(hub_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real hub package at the next version: the same build with a higher Version, as a
    rebuild of one commit with --version-suffix gives (test_packages.py checks that option on
    the fast build); a second venv install would double the installer tests' time."""
    work = tmp_path_factory.mktemp("hub-upgrade")
    tree = work / "tree"
    subprocess.run(["dpkg-deb", "--raw-extract", str(hub_deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    text = control.read_text(encoding="utf-8")
    control.write_text(
        text.replace(f"Version: {VERSION}\n", f"Version: {VERSION}{UPGRADE_SUFFIX}\n"),
        encoding="utf-8",
    )
    deb = work / f"silent-alarm-dispatch_{VERSION}{UPGRADE_SUFFIX}_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Znone", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb
