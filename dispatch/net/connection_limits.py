"""How many TCP connections one address may hold, and how many the process can hold at all.

Every connection costs the hub a file descriptor. One address on the LAN
opening 20,100 idle connections exhausted them: /healthz and an agent with an
alarm waiting could no longer connect. So:

- each address may hold at most ``per_address`` connections (HTTP, WebSocket,
  idle or not); a terminal server or a NAT gateway shares one address among
  many agents, so the default is generous (docs/security.md);
- all connections together stay below the descriptor limit less a reserve for
  the hub's own files (database, WAL, logs, plan images), so the hub refuses a
  connection cleanly before ``accept`` would fail for everyone;
- the soft RLIMIT_NOFILE is raised to the hard limit at start
  (``raise_open_file_limit``): a distribution's default soft limit of 1,024
  would be exhausted by the agents of one large office alone.

The HTTP protocol (``dispatch.net.connection.HubHttpProtocol``) asks ``admit``
when a connection is made and answers a refusal with a prebuilt 503.
"""

from __future__ import annotations

import ipaddress
import resource
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from dispatch.runtime.counted_log import CountedWarning

log = structlog.get_logger(__name__)

RESERVED_DESCRIPTORS = 256
"""Descriptors no connection may take: the database and its WAL, logs, uploads, and
the short-lived sockets refused above the limits (each is accepted, then closed)."""


def raise_open_file_limit() -> int:
    """Raises the soft limit of open files to the hard limit; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY:
        target = hard
    else:
        target = max(soft, hard)
    if target != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:
            log.warning("open_file_limit_not_raised", soft=soft, hard=hard, error=str(error))
            return soft
        log.info("open_file_limit_raised", soft=soft, now=target)
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return limit if limit != resource.RLIM_INFINITY else 1 << 20


def connection_budget(open_file_limit: int) -> int:
    """The most connections the process takes at once under this descriptor limit."""
    return max(1, open_file_limit - min(RESERVED_DESCRIPTORS, open_file_limit // 4))


class Addresses:
    """A set of addresses and networks, as in SILENT_ALARM_TRUSTED_PROXIES ("*": all).

    A reverse proxy connects on behalf of many clients from one address: the limits
    per address do not apply to it (it must limit its own clients; docs/security.md).
    """

    def __init__(self, entries: Iterable[str] = ()) -> None:
        entries = [entry.strip() for entry in entries]
        self._all = "*" in entries
        try:
            self._networks = [ipaddress.ip_network(e, strict=False) for e in entries if e != "*"]
        except ValueError as error:
            raise ValueError(f"SILENT_ALARM_TRUSTED_PROXIES: {error}") from None
        self._seen: dict[str, bool] = {}

    def __contains__(self, address: object) -> bool:
        if self._all:
            return True
        if not self._networks or not isinstance(address, str):
            return False
        known = self._seen.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                known = False
            else:
                known = any(ip in network for network in self._networks)
            if len(self._seen) < 10_000:  # bounded: addresses are the attacker's to choose
                self._seen[address] = known
        return known


@dataclass
class ConnectionLedger:
    """Open connections per address; refuses one over the address's or the process's cap."""

    per_address: int
    total: int
    exempt: Addresses = field(default_factory=Addresses)  # trusted reverse proxies
    open: int = 0
    by_address: Counter[str] = field(default_factory=Counter)
    refusals: CountedWarning = field(
        default_factory=lambda: CountedWarning(log, "connections_refused")
    )
    idle_closes: CountedWarning = field(
        default_factory=lambda: CountedWarning(log, "idle_connections_closed")
    )

    def admit(self, address: str) -> bool:
        """True: counted, call ``release`` when it ends. False: refuse the connection."""
        over_cap = self.by_address[address] >= self.per_address and address not in self.exempt
        if over_cap or self.open >= self.total:
            self.refusals.add(
                address=address,
                per_address=self.per_address,
                open=self.open,
                total=self.total,
            )
            return False
        self.adopt(address)
        return True

    def adopt(self, address: str) -> None:
        """Counts a connection that is already open (handed from HTTP to WebSocket)."""
        self.by_address[address] += 1
        self.open += 1

    def release(self, address: str) -> None:
        self.open -= 1
        left = self.by_address[address] - 1
        if left > 0:
            self.by_address[address] = left
        else:
            del self.by_address[address]

    def closed_idle(self, address: str) -> None:
        """A connection closed for sending no complete request head in time."""
        self.idle_closes.add(address=address)
