"""Acknowledge tokens: "Quittieren" on a push notification, for one alarm, one operator, a while.

The token travels inside the encrypted push (RFC 8291: the push service cannot
read it) to the operator's browser, whose service worker sends it back to
``POST /api/v1/webpush/alarms/{id}/acknowledge``. It is signed with a key
derived from the session secret (itsdangerous, its own salt), so every hub
instance of an installation checks it, and it names the alarm, the operator,
the operator's session epoch and an expiry: another alarm's token, an expired
one, or one issued before a logout, a new password, a role change or disabling
is refused (docs/security.md "Web Push").
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "silent-alarm webpush acknowledge"


class TokenRefused(ValueError):
    """A token that does not acknowledge this alarm; the message says why (never the token)."""


@dataclass(frozen=True, slots=True)
class AckClaim:
    alarm_id: uuid.UUID
    operator_id: int
    session_epoch: int
    expires_at: int  # Unix time


class AckTokens:
    def __init__(
        self, secret: str, lifetime_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._serializer = URLSafeSerializer(
            secret, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._lifetime_s = lifetime_s
        self._clock = clock

    def issue(self, alarm_id: uuid.UUID, operator_id: int, session_epoch: int) -> str:
        expires = int(self._clock()) + self._lifetime_s
        token: str = self._serializer.dumps([str(alarm_id), operator_id, session_epoch, expires])
        return token

    def check(self, token: str, alarm_id: uuid.UUID) -> AckClaim:
        """The claim of a genuine, unexpired token for ``alarm_id``; ``TokenRefused`` else."""
        try:
            fields = self._serializer.loads(token)
        except BadSignature:
            raise TokenRefused("acknowledge token is not genuine") from None
        match fields:
            case [str() as alarm, int() as operator, int() as epoch, int() as expires]:
                pass
            case _:
                raise TokenRefused("acknowledge token is not genuine")
        if alarm != str(alarm_id):
            raise TokenRefused("acknowledge token is for another alarm")
        if expires < self._clock():
            raise TokenRefused("acknowledge token has expired: acknowledge on the console")
        return AckClaim(alarm_id, operator, epoch, expires)
