"""``--channels N``: each alarm also goes to N e-mail, N webhook and N Web Push recipients.

Issue 20. Two local sinks, in a process of their own, take what the hub sends: a
minimal SMTP responder (plain, no STARTTLS: the bench measures the hub, not TLS) and an
HTTP server answering 201 that stands for the SMS gateway and for the browsers' push
service (RFC 8030) alike; it counts the pushes apart and does not decrypt them (the hub
still encrypts each one). The recipients are written into the bench's database for the
raiser's site and level: the push recipients are N guards with one subscribed browser
each, whose keys are real P-256 keys made here. The hub gets the settings that point
its channels at the sinks, and a VAPID key made for the run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dispatch.channels import vapid


@dataclass
class Sinks:
    """The sinks' process, and the messages it received so far by channel.

    The sinks stand for servers on other machines (a mail server, an SMS gateway, a push
    service). They run in a process of their own at a lower priority: in the bench's own
    process their threads and handlers shared the GIL and the event loop with the measured
    recipients, so a busy sink delayed the popups' receipt times (fan-out p99 outliers of
    100-220 ms that were the bench's, not the hub's).
    """

    process: BaseProcess
    counts: Any  # a shared Array("q", 3): e-mails, webhook posts, pushes
    smtp_port: int
    http_port: int

    @property
    def mails(self) -> int:
        return int(self.counts[0])

    @property
    def posts(self) -> int:  # webhook (SMS gateway) requests
        return int(self.counts[1])

    @property
    def pushes(self) -> int:  # Web Push requests to the stand-in push service
        return int(self.counts[2])

    @property
    def received(self) -> int:
        with self.counts.get_lock():
            return int(sum(self.counts))

    @property
    def http_origin(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def hub_env(self, vapid_key: Path) -> dict[str, str]:
        webhooks = {"sms": {"url": f"{self.http_origin}/", "body": '{"to": "$to"}'}}
        return {
            "SILENT_ALARM_SMTP_HOST": "127.0.0.1",
            "SILENT_ALARM_SMTP_PORT": str(self.smtp_port),
            "SILENT_ALARM_SMTP_STARTTLS": "false",
            "SILENT_ALARM_SMTP_FROM": "bench@hub.example",
            "SILENT_ALARM_WEBHOOKS": json.dumps(webhooks),
            "SILENT_ALARM_VAPID_PRIVATE_KEY_FILE": str(vapid_key),
            "SILENT_ALARM_VAPID_SUBJECT": "mailto:bench@hub.example",
            "SILENT_ALARM_WEBPUSH_TEST_ORIGIN": self.http_origin,
        }

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


class _HttpSink(ThreadingHTTPServer):
    # The hub posts CHANNEL_CONCURRENCY requests at once; with the default backlog of 5 the
    # kernel dropped the surplus connections and the hub retried them (ReadError) after
    # 1 s, 2 s, …, which the run counted as the queue falling behind.
    request_queue_size = 128


MAILS, POSTS, PUSHES = 0, 1, 2
SINK_NICENESS = 10  # behind the bench's measured recipients on the load generator's core
STARTED_WITHIN_S = 30.0


async def start_sinks() -> Sinks:
    """Starts the sinks' process (inheriting the bench's CPU affinity) and waits for its ports."""
    context = multiprocessing.get_context("spawn")
    counts = context.Array("q", 3)
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs, counts), daemon=True)
    process.start()
    if not await asyncio.to_thread(ours.poll, STARTED_WITHIN_S):
        process.terminate()
        raise RuntimeError("the channel sinks did not start")
    smtp_port, http_port = ours.recv()
    return Sinks(process, counts, smtp_port, http_port)


def _serve(ready: Connection, counts: Any) -> None:
    os.nice(SINK_NICENESS)
    asyncio.run(_sinks(ready, counts))


def _count(counts: Any, which: int) -> None:
    with counts.get_lock():
        counts[which] += 1


async def _sinks(ready: Connection, counts: Any) -> None:
    async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 bench ESMTP\r\n")
        in_data = False
        while line := await reader.readline():
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    _count(counts, MAILS)
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
        # Keep-alive, as SMS gateways and push services answer: the hub may reuse connections.
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            _count(counts, PUSHES if self.path.startswith("/push/") else POSTS)
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    smtp_server = await asyncio.start_server(smtp, "127.0.0.1", 0)
    http_server = _HttpSink(("127.0.0.1", 0), Http)
    http_server.daemon_threads = True
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    ready.send((smtp_server.sockets[0].getsockname()[1], http_server.server_address[1]))
    await asyncio.Event().wait()  # until the bench terminates this process


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
