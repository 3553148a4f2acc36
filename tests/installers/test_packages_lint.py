"""lintian on the packages: no error, no warning unless overridden with its reason.

The hub package is the real one (its venv included); the agent's has the venv stand-in
(its PySide6 venv takes minutes to build, docs/testing.md), so its own files, control
fields and maintainer scripts are checked, not the Qt libraries the wheels bring.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.debs import REPO, Debs

OVERRIDES = REPO / "installers" / "linux" / "debian"


def lintian(deb: Path) -> subprocess.CompletedProcess[str]:
    # --info: also the informational tags, so that an override lintian no longer needs
    # (unused-override) or one that no longer matches (mismatched-override) shows.
    return subprocess.run(
        ["lintian", "--info", "--fail-on", "error,warning", "--no-tag-display-limit", str(deb)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def assert_clean(done: subprocess.CompletedProcess[str], *, venv_built: bool = True) -> None:
    shown = done.stdout + done.stderr
    assert done.returncode == 0, shown
    # Without its venv a package cannot use the overrides for the venv's files.
    stale = ("unused-override", "mismatched-override") if venv_built else ("mismatched-override",)
    problems = [
        line
        for line in shown.splitlines()
        if line.startswith(("E: ", "W: ")) or any(tag in line for tag in stale)
    ]
    assert problems == [], shown


# The first test to use it builds the hub package with its venv: about a minute on an
# idle machine, several under a loaded one.
@pytest.mark.timeout(900)
def test_hub_package_is_lintian_clean(hub_deb: Path) -> None:
    assert_clean(lintian(hub_deb))


def test_agent_package_is_lintian_clean(layout_debs: Debs) -> None:
    assert_clean(lintian(layout_debs["silent-alarm-agent"]), venv_built=False)


@pytest.mark.parametrize("name", ["silent-alarm-agent", "silent-alarm-dispatch"])
def test_every_override_says_why(name: str) -> None:
    lines = (OVERRIDES / f"{name}.lintian-overrides").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert line.startswith(f"{name}: "), line
            assert number > 0, line
            assert lines[number - 1].startswith("# "), f"no reason for: {line}"
