"""The audit trail's HMAC key: a file outside the database, made once, readable by the hub only.

Whoever can write the database but not read this file (a DBA, a restored or
copied database, SQL through another tool) cannot make a changed, appended or
re-hashed event pass ``audit verify``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_BYTES = 32
AUDIT_KEY = "dispatch.store.audit.key"
"""Where a session keeps the key (``Session.info``): ``Database`` puts it in every session."""


class AuditKeyError(ValueError):
    """The key file exists but cannot be used; the message names the file and the fix."""


def load_or_create(path: Path) -> bytes:
    """The key in ``path``; a new random one (file 0600) if there is none yet."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(key.hex() + "\n")
        file.flush()
        os.fsync(file.fileno())
    return key


def load(path: Path) -> bytes:
    """The key in ``path``; never creates one (for verifying)."""
    try:
        return _read(path)
    except FileNotFoundError:
        raise AuditKeyError(f"audit key file {path} does not exist") from None


def _read(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except PermissionError:
        raise AuditKeyError(f"audit key file {path} is not readable by this user") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise AuditKeyError(f"audit key file {path} does not hold a hex key") from None
    if len(key) < KEY_BYTES:
        raise AuditKeyError(f"audit key in {path} is shorter than {KEY_BYTES} bytes")
    return key
