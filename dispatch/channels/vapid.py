"""The hub's VAPID key pair (RFC 8292): made once into a 0600 file, read from the settings' path.

Push services check that every push for a subscription is signed with the key
its browser subscribed with (the ``applicationServerKey`` the console page
reads from ``GET /api/v1/webpush/key``). The private key stays in the file the
settings name; it is never stored in the database, logged or audited.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02
from py_vapid.utils import b64urlencode

# RFC 8292 allows at most 24 h; 12 h leaves room for a push service's clock running ahead.
JWT_LIFETIME_S = 12 * 3600


class VapidKeyError(ValueError):
    """A key file that cannot be used; the message names the file, never its content."""


def generate(path: Path) -> str:
    """Writes a new private key to ``path`` (created 0600, never over an existing file)
    and returns the public key as the browsers take it (base64url, uncompressed point)."""
    vapid = Vapid02()
    vapid.generate_keys()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise VapidKeyError(f"{path} exists already: keep it, or move it away first") from None
    except OSError as error:
        raise VapidKeyError(f"cannot create {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "wb") as file:
        file.write(vapid.private_pem())
    return public_key(vapid)


def load(path: Path) -> Vapid02:
    """The key pair in ``path``; ``VapidKeyError`` in one line if it is missing or not a key."""
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise VapidKeyError(
            f"cannot read SILENT_ALARM_VAPID_PRIVATE_KEY_FILE {path}: {error.strerror}"
        ) from None
    try:
        vapid = Vapid02.from_pem(pem)
        public_key(vapid)  # a key of another curve fails here, not at the first push
    except Exception:
        # Whatever the parser says could quote the file: name the file only.
        raise VapidKeyError(
            f"{path} holds no VAPID private key (make one with "
            "`silent-alarm-dispatch webpush keys`)"
        ) from None
    return vapid


def public_key(vapid: Vapid02) -> str:
    """The public key as ``PushManager.subscribe`` takes it: base64url of the 65-byte point."""
    raw = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    if len(raw) != 65:
        raise ValueError("a VAPID key is a P-256 key")
    encoded: str = b64urlencode(raw)
    return encoded


def authorization(vapid: Vapid02, audience: str, subject: str, now: float | None = None) -> str:
    """The ``Authorization: vapid t=…, k=…`` header for one push service's origin."""
    expires = int(time.time() if now is None else now) + JWT_LIFETIME_S
    headers = vapid.sign({"aud": audience, "sub": subject, "exp": expires})
    value: str = headers["Authorization"]
    return value
