"""Each connected agent's peer directory (issue 16): whom to alarm directly when no hub answers.

For a workstation's own room: the workstations the hub would send its level-1 or
level-2 alarm to (neighbours and security, by the site's saved scopes), each with
the address the hub sees its WebSocket come from, plus the site's peer key.
Level 3 uses the same list: the direct path is a fallback for the nearest
helpers, not a site-wide warning. Recipients are computed once per routing
snapshot; a round only maps them to the addresses of who is connected now.
"""

from __future__ import annotations

from collections.abc import Mapping

from dispatch.routing.snapshot import RoutingSnapshot
from dispatch.store.peer_key import site_key
from shared.domain import AlarmLevel, WorkstationRole
from shared.protocol import PeerAddress, PeerDirectory

MAX_PEERS = 256
"""A directory names at most this many peers (the message's bound); security PCs first."""

FALLBACK_LEVELS = (AlarmLevel.SUPPORT, AlarmLevel.THREAT)


class PeerDirectories:
    """Directories for one routing snapshot; ``directory`` is cheap once a PC's list is known."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._snapshot: RoutingSnapshot | None = None
        self._recipients: dict[str, tuple[str, ...]] = {}

    def directory(
        self,
        snapshot: RoutingSnapshot,
        workstation_id: str,
        addresses: Mapping[str, tuple[str, int]],
    ) -> PeerDirectory | None:
        """The directory for ``workstation_id``; None if the snapshot does not place it."""
        placement = snapshot.placement(workstation_id)
        if placement is None or placement.site_id is None:
            return None
        peers = [
            PeerAddress(workstation_id=peer, address=address, port=port)
            for peer in self._recipients_of(snapshot, workstation_id)
            for address, port in [addresses.get(peer, ("", 0))]
            if address
        ][:MAX_PEERS]
        epoch = snapshot.revoked.get(placement.site_id, 0)
        return PeerDirectory(
            site_id=placement.site_id,
            key_epoch=epoch,
            site_key=site_key(self._secret, placement.site_id, epoch).hex(),
            peers=peers,
        )

    def _recipients_of(self, snapshot: RoutingSnapshot, workstation_id: str) -> tuple[str, ...]:
        if snapshot is not self._snapshot:
            self._snapshot, self._recipients = snapshot, {}
        found = self._recipients.get(workstation_id)
        if found is None:
            placement = snapshot.placement(workstation_id)
            security: set[str] = set()
            staff: set[str] = set()
            if placement is not None:
                for level in FALLBACK_LEVELS:
                    scopes = snapshot.policy(placement.site_id, level).scopes
                    for delivery in snapshot.route(level, placement, scopes):
                        target = snapshot.placement(delivery.workstation_id)
                        is_security = target is not None and target.role is WorkstationRole.SECURITY
                        (security if is_security else staff).add(delivery.workstation_id)
            found = (*sorted(security), *sorted(staff - security))
            self._recipients[workstation_id] = found
        return found
