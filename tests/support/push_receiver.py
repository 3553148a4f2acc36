"""A local RFC 8030 push service on a loopback port, standing in for FCM, Mozilla's or Apple's.

It does what a real push service does with the hub's POST, and what the
browser then does with the message: it checks the VAPID JWT (RFC 8292: ES256
signature under the key in ``k``, ``aud`` its own origin, ``exp`` ahead and at
most 24 h away, a mailto:/https: ``sub``), then decrypts the aes128gcm body
(RFC 8291/8188, http_ece) with the subscription's private key, which the test
made itself as a browser would (``subscription()``). Every POST is recorded,
good or refused; a subscription can be told to answer 410 (or any status), as
a push service does for a browser that unsubscribed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAX_JWT_LIFETIME_S = 24 * 3600  # RFC 8292 section 2


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserSubscription:
    """What PushManager.subscribe gives a page: endpoint and keys, and the private half."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def as_json(self) -> dict[str, Any]:
        """PushSubscription.toJSON(), as console-push.js sends it."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
        }


@dataclass
class Received:
    """One POST to the receiver, and what it made of it."""

    path: str
    status: int
    headers: dict[str, str]
    problem: str = ""  # why it was refused ("" if accepted or answered as told)
    claims: dict[str, Any] = field(default_factory=dict)
    vapid_key: str = ""  # the k= of the Authorization header
    plaintext: bytes = b""
    peer: tuple[str, int] = ("", 0)  # the client's address and port: its TCP connection

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.plaintext)
        return data


class PushReceiver:
    def __init__(self) -> None:
        self._subscriptions: dict[str, BrowserSubscription] = {}
        self._answers: dict[str, int] = {}
        self._received: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as a real push service: the hub may post on one connection.
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                got = receiver._take(
                    self.path, dict(self.headers.items()), body, self.client_address
                )
                self.send_response(got.status)
                if got.status == 201:
                    self.send_header(
                        "Location", f"{receiver.origin}/message/{secrets.token_hex(8)}"
                    )
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads the records, not stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def subscription(self) -> BrowserSubscription:
        """A new browser: its own P-256 key pair and 16-byte auth secret, a fresh endpoint."""
        path = f"/push/{secrets.token_urlsafe(16)}"
        made = BrowserSubscription(
            self.origin + path, ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        )
        self._subscriptions[path] = made
        return made

    def answer(self, subscription: BrowserSubscription, status: int) -> None:
        """From now on this subscription's pushes are answered ``status`` (410: gone)."""
        self._answers[subscription.endpoint.removeprefix(self.origin)] = status

    def received(self) -> list[Received]:
        with self._changed:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first ``count`` POSTs, waiting for them at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self._received)} of {count} pushes arrived")
                self._changed.wait(left)
            return list(self._received)

    def wait_for_path(self, path: str, timeout: float = 10.0, *, nth: int = 0) -> Received:
        """The ``nth`` POST (from 0) to ``path`` (one subscription's endpoint), waiting at most
        ``timeout`` seconds: a user with several browsers is pushed to each, in no set order."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(hits := [got for got in self._received if got.path == path]) <= nth:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(hits)} pushes to {path} among {len(self._received)}, not {nth + 1}"
                    )
                self._changed.wait(left)
            return hits[nth]

    # --- one POST ------------------------------------------------------------------

    def _take(
        self, path: str, headers: dict[str, str], body: bytes, peer: tuple[str, int]
    ) -> Received:
        lower = {k.lower(): v for k, v in headers.items()}
        got = Received(path=path, status=201, headers=lower, peer=peer)
        try:
            subscription = self._subscriptions.get(path)
            if subscription is None:
                raise _Refused(404, "no such subscription")
            got.claims, got.vapid_key = self._check_vapid(lower.get("authorization", ""))
            if lower.get("content-encoding") != "aes128gcm":
                raise _Refused(415, f"content-encoding {lower.get('content-encoding')!r}")
            if "ttl" not in lower:
                raise _Refused(400, "no TTL header (RFC 8030 section 5.2)")
            got.plaintext = http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
            got.status = self._answers.get(path, 201)
        except _Refused as refused:
            got.status, got.problem = refused.status, refused.problem
        except Exception as error:
            got.status, got.problem = 400, f"cannot decrypt: {type(error).__name__} {error}"
        with self._changed:
            self._received.append(got)
            self._changed.notify_all()
        return got

    def _check_vapid(self, authorization: str) -> tuple[dict[str, Any], str]:
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise _Refused(401, f"Authorization is not vapid: {scheme!r}")
        params = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
        token, key = params.get("t", ""), params.get("k", "")
        try:
            head, claims_part, signature = token.split(".")
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
            raw = unb64url(signature)
            der = encode_dss_signature(
                int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            )
            public.verify(der, f"{head}.{claims_part}".encode(), ec.ECDSA(hashes.SHA256()))
            header = json.loads(unb64url(head))
            claims: dict[str, Any] = json.loads(unb64url(claims_part))
        except (ValueError, InvalidSignature) as error:
            raise _Refused(403, f"VAPID JWT not valid: {type(error).__name__}") from None
        if header.get("alg") != "ES256":
            raise _Refused(403, f"VAPID alg {header.get('alg')!r}")
        if claims.get("aud") != self.origin:
            raise _Refused(403, f"VAPID aud {claims.get('aud')!r} is not {self.origin}")
        now = time.time()
        expires = int(claims.get("exp", 0))
        if not now < expires <= now + MAX_JWT_LIFETIME_S:
            raise _Refused(403, f"VAPID exp {expires} outside (now, now + 24 h]")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            raise _Refused(403, "VAPID sub is not mailto: or https:")
        return claims, key


class _Refused(Exception):
    def __init__(self, status: int, problem: str) -> None:
        super().__init__(problem)
        self.status = status
        self.problem = problem
