"""``--channels N``: each alarm also goes to N e-mail, N webhook and N Web Push recipients.

Issue 20. Two local sinks take what the hub sends: a minimal SMTP responder (plain, no
STARTTLS: the bench measures the hub, not TLS) and an HTTP server answering 201 that
stands for the SMS gateway and for the browsers' push service (RFC 8030) alike; it
counts the pushes apart and does not decrypt them (the hub still encrypts each one).
The recipients are written into the bench's database for the raiser's site and level:
the push recipients are N guards with one subscribed browser each, whose keys are real
P-256 keys made here. The hub gets the settings that point its channels at the sinks,
and a VAPID key made for the run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dispatch.channels import vapid


@dataclass
class Sinks:
    """Messages received so far, by channel."""

    mails: int = 0
    posts: int = 0  # webhook (SMS gateway) requests
    pushes: int = 0  # Web Push requests to the stand-in push service
    lock: threading.Lock = field(default_factory=threading.Lock)
    smtp_server: asyncio.Server | None = None
    http_server: ThreadingHTTPServer | None = None

    @property
    def received(self) -> int:
        with self.lock:
            return self.mails + self.posts + self.pushes

    @property
    def http_origin(self) -> str:
        assert self.http_server is not None
        return f"http://127.0.0.1:{self.http_server.server_address[1]}"

    def hub_env(self, vapid_key: Path) -> dict[str, str]:
        assert self.smtp_server is not None
        assert self.http_server is not None
        smtp_port = self.smtp_server.sockets[0].getsockname()[1]
        http_port = self.http_server.server_address[1]
        webhooks = {"sms": {"url": f"http://127.0.0.1:{http_port}/", "body": '{"to": "$to"}'}}
        return {
            "SILENT_ALARM_SMTP_HOST": "127.0.0.1",
            "SILENT_ALARM_SMTP_PORT": str(smtp_port),
            "SILENT_ALARM_SMTP_STARTTLS": "false",
            "SILENT_ALARM_SMTP_FROM": "bench@hub.example",
            "SILENT_ALARM_WEBHOOKS": json.dumps(webhooks),
            "SILENT_ALARM_VAPID_PRIVATE_KEY_FILE": str(vapid_key),
            "SILENT_ALARM_VAPID_SUBJECT": "mailto:bench@hub.example",
            "SILENT_ALARM_WEBPUSH_TEST_ORIGIN": self.http_origin,
        }

    def stop(self) -> None:
        if self.smtp_server is not None:
            self.smtp_server.close()
        if self.http_server is not None:
            self.http_server.shutdown()
            self.http_server.server_close()


class _HttpSink(ThreadingHTTPServer):
    # The hub posts CHANNEL_CONCURRENCY requests at once; with the default backlog of 5 the
    # kernel dropped the surplus connections and the hub retried them (ReadError) after
    # 1 s, 2 s, …, which the run counted as the queue falling behind.
    request_queue_size = 128


async def start_sinks() -> Sinks:
    sinks = Sinks()

    async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 bench ESMTP\r\n")
        in_data = False
        while line := await reader.readline():
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    with sinks.lock:
                        sinks.mails += 1
                    writer.write(b"250 OK\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-bench\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                in_data = True
                writer.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 OK\r\n")
        writer.close()

    class Http(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with sinks.lock:
                if self.path.startswith("/push/"):
                    sinks.pushes += 1
                else:
                    sinks.posts += 1
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    sinks.smtp_server = await asyncio.start_server(smtp, "127.0.0.1", 0)
    sinks.http_server = _HttpSink(("127.0.0.1", 0), Http)
    sinks.http_server.daemon_threads = True
    threading.Thread(target=sinks.http_server.serve_forever, daemon=True).start()
    return sinks


def make_vapid_key(folder: Path) -> Path:
    key = folder / "bench-vapid.pem"
    vapid.generate(key)
    return key


def _browser_keys() -> tuple[str, str]:
    """What a browser's PushSubscription carries: its P-256 public key and auth secret."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = point.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    encode = base64.urlsafe_b64encode
    return encode(raw).rstrip(b"=").decode(), encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def add_recipients(db_file: Path, level: int, count: int, push_origin: str) -> None:
    """``count`` e-mail, ``count`` webhook and ``count`` push recipients, told at once, of the
    raiser's site (the first one seeded); each push recipient a guard of that site with one
    subscribed browser at ``push_origin``."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(db_file) as db:
        (site,) = db.execute("SELECT min(id) FROM sites").fetchone()
        rows = [
            (site, level, channel, address.format(i), now)
            for i in range(count)
            for channel, address in (
                ("email", "wache{}@bench.example"),
                ("webhook", "sms:+49{}"),
                ("webpush", "bench-wache-{}"),
            )
        ]
        for i in range(count):
            operator = db.execute(
                "INSERT INTO operators (username, display_name, role, password_hash, created_at,"
                " failed_logins, disabled, session_epoch, source)"
                " VALUES (?, ?, 'guard', '!', ?, 0, 0, 0, 'local')",
                (f"bench-wache-{i}", f"Wache {i}", now),
            ).lastrowid
            db.execute(
                "INSERT INTO operator_sites (operator_id, site_id) VALUES (?, ?)", (operator, site)
            )
            p256dh, auth = _browser_keys()
            db.execute(
                "INSERT INTO push_subscriptions (operator_id, endpoint, p256dh, auth,"
                " session_epoch, created_at) VALUES (?, ?, ?, ?, 0, ?)",
                (operator, f"{push_origin}/push/{i}", p256dh, auth, now),
            )
        db.executemany(
            "INSERT INTO channel_recipients (site_id, level, after_s, channel, address, label,"
            " audience, language, created_at) VALUES (?, ?, 0, ?, ?, '', 'security', 'de', ?)",
            rows,
        )
    db.close()
