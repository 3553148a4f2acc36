"""HTTP Strict Transport Security on every answer while browsers reach the hub over HTTPS.

A guard's browser that once reached the console over HTTPS never again sends the
session cookie over plain HTTP to this host, even when someone on the LAN offers it
an http:// link.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000"
"""One year, no includeSubDomains: the hub's name may share a domain with other servers."""


class StrictTransportSecurity:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, with_header)
