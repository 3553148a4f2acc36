"""A home folder whose NSS database trusts the test CA: Chromium on Linux trusts it as a
managed office PC trusts the office's CA (``certutil`` from Debian's libnss3-tools)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def home_trusting(ca: Path, home: Path) -> Path:
    """``home`` with ``.pki/nssdb`` holding ``ca`` as a trusted issuer of server certificates;
    start Chromium with ``HOME`` set to it."""
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True, exist_ok=True)
    where = f"sql:{database}"
    certutil = ["certutil", "-d", where]
    subprocess.run([*certutil, "-N", "--empty-password"], check=True, capture_output=True)
    # "C,,": a CA trusted to issue server certificates (not mail or code signing)
    subprocess.run(
        [*certutil, "-A", "-n", "Stiller Alarm Test-CA", "-t", "C,,", "-i", str(ca)],
        check=True,
        capture_output=True,
    )
    return home
