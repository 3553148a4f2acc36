"""The agents' per-site peer keys (issue 16), derived from one hub-held secret file.

A site's key is HMAC-SHA256(secret, "site:<id>:epoch:<n>"): nothing new in the
database, and every hub instance with the same file (like ``audit.key``) hands
out the same key. The epoch is the number of revoked workstations of the site
(the routing snapshot counts them), so revoking a PC rotates its site's key at
the next directory round. The secret and the keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from dispatch.store import audit_key

PEER_KEY_FILE = "peer.key"
"""In the hub's data dir unless ``SILENT_ALARM_PEER_KEY_FILE`` says otherwise; made on first
start (0600, 256 random bits)."""


def load_or_create(path: Path) -> bytes:
    """The secret in ``path``; a new one if there is none yet (same format as audit.key).
    A file that exists but cannot be used stops the hub with one line naming it."""
    try:
        return audit_key.load_or_create(path)
    except audit_key.AuditKeyError as error:
        raise audit_key.AuditKeyError(str(error).replace("audit key", "peer key", 1)) from None


def site_key(secret: bytes, site_id: int, epoch: int) -> bytes:
    """The 256-bit key the agents of ``site_id`` authenticate their direct alarms with."""
    label = f"silent-alarm peer key v1 site:{site_id}:epoch:{epoch}".encode()
    return hmac.new(secret, label, hashlib.sha256).digest()
