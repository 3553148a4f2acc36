"""Secrets: argon2 operator passwords and SHA-256-hashed per-device tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION

_hasher = PasswordHasher()


def _unmatchable_hash(hasher: PasswordHasher) -> str:
    """An argon2 hash in ``hasher``'s own parameters with a random salt and digest.

    Verifying a password against it costs what verifying against a stored hash costs,
    and it matches no known password. It is written out, not computed: hashing took
    ~0.2 s of CPU (64 MiB) at every import, in the hub and in every CLI command.
    """

    def b64(raw: bytes) -> str:  # argon2's encoding: standard alphabet, no padding
        return base64.b64encode(raw).decode("ascii").rstrip("=")

    return (
        f"$argon2{hasher.type.name.lower()}$v={ARGON2_VERSION}"
        f"$m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
        f"${b64(secrets.token_bytes(hasher.salt_len))}${b64(secrets.token_bytes(hasher.hash_len))}"
    )


# Verifying against this when the username is unknown keeps the response time
# the same, so a login form does not reveal which usernames exist.
_DUMMY_HASH = _unmatchable_hash(_hasher)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_device_token() -> str:
    """A 256-bit per-device secret; only its hash is stored."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token_hash: str, token: str) -> bool:
    return hmac.compare_digest(token_hash, hash_token(token))
