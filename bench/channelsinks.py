"""``--channels N``: each alarm also goes to N e-mail and N webhook recipients (issue 20).

Two local sinks take what the hub sends: a minimal SMTP responder (plain, no STARTTLS:
the bench measures the hub, not TLS) and an HTTP server answering 200. The recipients
are written into the bench's database for the raiser's site and level; the hub gets
the settings that point its channels at the sinks.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Sinks:
    """Messages received so far, by channel."""

    mails: int = 0
    posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    smtp_server: asyncio.Server | None = None
    http_server: ThreadingHTTPServer | None = None

    @property
    def received(self) -> int:
        with self.lock:
            return self.mails + self.posts

    def hub_env(self) -> dict[str, str]:
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
        }

    def stop(self) -> None:
        if self.smtp_server is not None:
            self.smtp_server.close()
        if self.http_server is not None:
            self.http_server.shutdown()
            self.http_server.server_close()


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
                sinks.posts += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    sinks.smtp_server = await asyncio.start_server(smtp, "127.0.0.1", 0)
    sinks.http_server = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    sinks.http_server.daemon_threads = True
    threading.Thread(target=sinks.http_server.serve_forever, daemon=True).start()
    return sinks


def add_recipients(db_file: Path, level: int, count: int) -> None:
    """``count`` e-mail and ``count`` webhook recipients, told at once, of the raiser's site
    (the first one seeded)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(db_file) as db:
        (site,) = db.execute("SELECT min(id) FROM sites").fetchone()
        rows = [
            (site, level, channel, address.format(i), now)
            for i in range(count)
            for channel, address in (("email", "wache{}@bench.example"), ("webhook", "sms:+49{}"))
        ]
        db.executemany(
            "INSERT INTO channel_recipients (site_id, level, after_s, channel, address, label,"
            " audience, language, created_at) VALUES (?, ?, 0, ?, ?, '', 'security', 'de', ?)",
            rows,
        )
    db.close()
