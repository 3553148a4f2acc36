"""A real HTTP server on a loopback port that records webhook requests and answers as scripted.

``fail_next(n)`` answers the next n requests 503; ``hold()`` keeps requests waiting
(no answer) until ``release()``: a gateway that has the request but has not answered.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic() when it arrived


@dataclass
class WebhookReceiver:
    server: ThreadingHTTPServer
    requests: list[Request] = field(default_factory=list)
    failures: int = 0
    held: threading.Event = field(default_factory=threading.Event)  # set: answer at once
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail_next(self, count: int) -> None:
        self.failures = count

    def hold(self) -> None:
        self.held.clear()

    def release(self) -> None:
        self.held.set()

    def wait(self, count: int, timeout: float = 10.0) -> list[Request]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(
                    f"{len(self.requests)} requests after {timeout} s, not {count}"
                )
            return list(self.requests)

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    # A hub sends up to CHANNEL_CONCURRENCY requests at once; the default backlog of 5
    # made the kernel drop the surplus connections (the hub saw ReadError and retried).
    request_queue_size = 128


def start_webhook_receiver() -> WebhookReceiver:
    receiver: WebhookReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.changed:
                receiver.requests.append(
                    Request(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.monotonic(),
                    )
                )
                receiver.changed.notify_all()
                failing = receiver.failures > 0
                receiver.failures -= int(failing)
            receiver.held.wait(60)  # a held request: the client's timeout ends it first
            self.send_response(503 if failing else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Request-Id", f"gw-{len(receiver.requests)}")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: pytest shows the test's own output

    server = _Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = WebhookReceiver(server)
    receiver.release()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
