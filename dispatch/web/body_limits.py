"""Request bodies bounded by route before they are read: larger ones are answered 413.

Starlette reads a body whole before a route runs, and FastAPI before it checks
the session: an anonymous 200 MB POST took the hub to 2.2 GB and delayed an
agent's alarm_stored from 7 ms to 6.4 s. This pure ASGI wrapper sits outside
the whole application (the error middleware included), so nothing reads a
body past its route's limit:

- a declared Content-Length over the limit is answered 413 at once, before
  the application runs; uvicorn has buffered at most its 64 KiB high-water
  mark of the body and stops reading the socket;
- a chunked body (or one longer than it declared) is counted as the
  application receives it and cut at the limit: the client gets the 413, the
  application a disconnect, and the connection is closed.

The floor-plan and CSV uploads keep their own, larger limits (their routes
check the file size again, with their own messages).

A body that stops arriving in the middle (a slow-body attack holding the
connection and the request's task) is answered 408 once the application has
waited ``idle_timeout`` seconds for its next piece.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.directory import room_mapping
from dispatch.runtime.counted_log import CountedWarning
from dispatch.web.api import floorplans
from dispatch.web.api.router import API_PREFIX

log = structlog.get_logger(__name__)

KIB = 1024
MULTIPART_MARGIN = 64 * KIB
"""An upload's form fields, boundaries and part headers besides the file itself."""

DEFAULT_MAX_BODY = 256 * KIB
"""Every route not listed below: the largest JSON an admin sends (a policy, a floor's
rooms) is a few kilobytes; a quarter megabyte parses in about a millisecond."""

ANONYMOUS_MAX_BODY = 16 * KIB
"""Routes anyone on the LAN may call without a session: an enrolment, a login form and a
push notification's "Quittieren"."""


@dataclass(frozen=True)
class RouteLimit:
    method: str
    path: re.Pattern[str]
    max_bytes: int


ROUTE_LIMITS: tuple[RouteLimit, ...] = (
    RouteLimit(
        "PUT",
        re.compile(rf"{API_PREFIX}/floors/[^/]+/plan"),
        floorplans.MAX_PLAN_BYTES + MULTIPART_MARGIN,
    ),
    RouteLimit(
        "POST",
        re.compile(rf"{API_PREFIX}/workstations/import"),
        room_mapping.MAX_BYTES + MULTIPART_MARGIN,
    ),
    RouteLimit("POST", re.compile(rf"{API_PREFIX}/enrol"), ANONYMOUS_MAX_BODY),
    RouteLimit("POST", re.compile(r"/login"), ANONYMOUS_MAX_BODY),
    # "Quittieren" from a push notification: the token is the credential, no session.
    RouteLimit(
        "POST",
        re.compile(rf"{API_PREFIX}/webpush/alarms/[^/]+/acknowledge"),
        ANONYMOUS_MAX_BODY,
    ),
)


def limit_for(method: str, path: str, limits: Sequence[RouteLimit] = ROUTE_LIMITS) -> int:
    """The most bytes a request to this route may carry."""
    for limit in limits:
        if limit.method == method and limit.path.fullmatch(path):
            return limit.max_bytes
    return DEFAULT_MAX_BODY


def too_large_response(max_bytes: int) -> tuple[Message, Message]:
    """The 413 answer: start and body. It names the limit, never anything received."""
    return _closing_response(413, f"request body larger than {max_bytes} bytes")


def _closing_response(status: int, detail: str) -> tuple[Message, Message]:
    body = json.dumps({"detail": detail}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # the rest of the body is not read
        ],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


class BoundedBodies:
    """ASGI wrapper: every HTTP request body within its route's limit, or 413."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Sequence[RouteLimit] = ROUTE_LIMITS,
        idle_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.idle_timeout = idle_timeout  # None: a body may pause as long as it likes
        self.refusals = CountedWarning(log, "request_bodies_refused")
        self.stalls = CountedWarning(log, "request_bodies_stalled")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = limit_for(scope["method"], scope["path"], self.limits)
        declared = _content_length(scope)
        if declared is not None and declared > max_bytes:
            await self._refuse(scope, send, max_bytes)
            return
        await _BodyCounter(self, scope, receive, send, max_bytes).run()

    async def _refuse(self, scope: Scope, send: Send, max_bytes: int) -> None:
        self.refusals.add(path=scope["path"], limit=max_bytes)
        for message in too_large_response(max_bytes):
            await send(message)


class _BodyCounter:
    """One request whose body is counted as the application reads it."""

    def __init__(
        self, owner: BoundedBodies, scope: Scope, receive: Receive, send: Send, max_bytes: int
    ) -> None:
        self.owner, self.scope, self._receive, self._send = owner, scope, receive, send
        self.max_bytes = max_bytes
        self.received = 0
        self.cut = False  # the limit was passed: the 413 (or a close) is the answer
        self.started = False  # the application began its own answer
        self.body_done = not _has_body(scope)  # after it, receive waits for a disconnect

    async def run(self) -> None:
        try:
            await self.owner.app(self.scope, self.receive, self.send)
        except Exception:
            # The application saw a disconnect where the body was cut and may raise
            # about it; the client already has its answer.
            if not self.cut:
                raise

    async def receive(self) -> Message:
        if self.cut:
            return {"type": "http.disconnect"}
        idle_timeout = None if self.body_done else self.owner.idle_timeout
        try:
            async with asyncio.timeout(idle_timeout):
                message = await self._receive()
        except TimeoutError:
            return await self._stalled()
        if message["type"] == "http.request":
            self.body_done = not message.get("more_body", False)
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                self.cut = True
                if not self.started:
                    await self.owner._refuse(self.scope, self._send, self.max_bytes)
                return {"type": "http.disconnect"}
        return message

    async def _stalled(self) -> Message:
        """The body stopped arriving: 408, and the application sees a disconnect."""
        self.cut = True
        if not self.started:
            self.owner.stalls.add(path=self.scope["path"], limit=self.owner.idle_timeout or 0)
            for message in _closing_response(408, "request body stopped arriving"):
                await self._send(message)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.cut:
            return  # the application's answer to a disconnect: the client has the 413
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # httptools refuses a malformed Content-Length before the application runs.
            return int(value) if value.isdigit() else None
    return None
