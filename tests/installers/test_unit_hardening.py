"""The hub's systemd unit, rated by ``systemd-analyze security`` offline (no running systemd)."""

from __future__ import annotations

import re
import subprocess

from tests.support.debs import REPO

UNIT = REPO / "installers" / "linux" / "files" / "silent-alarm-dispatch.service"
EXPOSURE_AT_MOST = 1.1
"""Reached with the standard options (docs/operations.md "Hardening"); it was 7.0."""


def test_unit_exposure_stays_low() -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match[1]) <= EXPOSURE_AT_MOST, done.stdout


def test_unit_file_is_valid() -> None:
    # The directives are real ones this systemd knows (a typo would be ignored with a warning).
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    unknown = [line for line in done.stderr.splitlines() if "Unknown" in line or "nvalid" in line]
    assert unknown == [], done.stderr
