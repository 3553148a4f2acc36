"""Which push endpoints the hub posts to: a known push service over https, never the LAN.

A subscription's endpoint comes from a browser, so from anyone with an operator
login: unchecked, it would make the hub POST wherever that person likes (SSRF),
into the office network included. The hub therefore posts only to the host
names of the push services in ``SILENT_ALARM_WEBPUSH_PUSH_HOSTS``, over https on
port 443, and a test may allow one ``http://127.0.0.1:PORT`` origin besides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from dispatch.settings import Settings

MAX_ENDPOINT = 2048
# RFC 3986's characters only: no backslash, space or control character that two URL
# parsers (the check's and the HTTP client's) could read as different hosts.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


class EndpointRefused(ValueError):
    """An endpoint the hub will not post to; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class EndpointPolicy:
    hosts: tuple[str, ...]  # exact names; ".example.com" also allows its subdomains
    test_origin: str | None = None  # http://127.0.0.1:PORT, tests only

    @classmethod
    def of(cls, settings: Settings) -> EndpointPolicy:
        return cls(
            tuple(host.lower() for host in settings.webpush_push_hosts),
            settings.webpush_test_origin,
        )

    def check(self, endpoint: str) -> str:
        """The endpoint, if the hub may post to it; else ``EndpointRefused`` saying why."""
        if len(endpoint) > MAX_ENDPOINT:
            raise EndpointRefused(f"endpoint longer than {MAX_ENDPOINT} characters")
        if not _URL_CHARACTERS.fullmatch(endpoint):
            raise EndpointRefused("endpoint is not a plain URL")
        try:
            parts = urlsplit(endpoint)
            port = parts.port
        except ValueError:
            raise EndpointRefused("endpoint is not a URL") from None
        if "@" in parts.netloc:
            raise EndpointRefused("endpoint must not carry a user name or password")
        origin = f"{parts.scheme}://{parts.netloc}"
        if self.test_origin is not None and origin == self.test_origin:
            return endpoint
        if parts.scheme != "https":
            raise EndpointRefused("push endpoints must be https:// URLs")
        host = (parts.hostname or "").lower()
        if not self.allows_host(host):
            raise EndpointRefused(
                f"{host or 'no host'} is not a push service this hub posts to "
                "(SILENT_ALARM_WEBPUSH_PUSH_HOSTS)"
            )
        if port not in (None, 443):
            raise EndpointRefused("push endpoints use port 443")
        return endpoint

    def allows_host(self, host: str) -> bool:
        for allowed in self.hosts:
            if allowed.startswith("."):
                if host.endswith(allowed) and len(host) > len(allowed):
                    return True
            elif host == allowed:
                return True
        return False


def endpoint_host(endpoint: str) -> str:
    """What a log line or the audit trail may say about an endpoint: its host, no path
    (the path is the browser's capability to receive pushes)."""
    try:
        return urlsplit(endpoint).hostname or "?"
    except ValueError:
        return "?"
