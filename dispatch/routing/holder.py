"""The routing snapshot in memory: replaced only by a newer one, and who is told when it is."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.routing.rules import Placement
from dispatch.routing.snapshot import RoutingSnapshot, current_version, refreshed
from dispatch.store.database import Database


class RoutingHolder:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._routing: RoutingSnapshot | None = None
        # Told (before, after) whenever a newer routing snapshot replaces the one in
        # memory: the hub pushes moved workstations their new room (Hub.placements_moved).
        self.on_new_snapshot: Callable[[RoutingSnapshot, RoutingSnapshot], None] | None = None

    async def refresh(self) -> None:
        """Reloads the routing snapshot if the topology moved since it was read.

        At start, so that the first alarm does not wait for it (ten thousand
        workstations take a noticeable part of a second); then every heartbeat round,
        so a PC moved while no alarm is raised still gets its new room pushed within
        seconds (``on_new_snapshot``).
        """
        async with self._db.read() as session:
            await self.snapshot(session, await current_version(session))

    async def snapshot(self, session: AsyncSession, version: int | None) -> RoutingSnapshot:
        """The routing topology at ``version``: the one in memory unless the store's moved.

        A read racing the writer's may finish last with an older snapshot: that one
        routes its own transaction but never replaces a newer one in memory.
        """
        snapshot = await refreshed(session, self._routing, version)
        previous = self._routing
        if snapshot is previous:
            return snapshot
        if previous is None or _not_older(snapshot, previous):
            self._routing = snapshot
            if previous is not None and self.on_new_snapshot is not None:
                self.on_new_snapshot(previous, snapshot)
        return snapshot

    def placements(self) -> Mapping[str, Placement]:
        """Every non-revoked workstation's place (none before the first read)."""
        return self._routing.placements if self._routing is not None else {}

    @property
    def current(self) -> RoutingSnapshot | None:
        """The snapshot in memory; None before the first read."""
        return self._routing

    def placement(self, workstation_id: str) -> Placement | None:
        """Where the workstation is, as the routing snapshot in memory says."""
        return None if self._routing is None else self._routing.placement(workstation_id)


def _not_older(snapshot: RoutingSnapshot, than: RoutingSnapshot) -> bool:
    if snapshot.version is None or than.version is None:
        return True  # no counter row: nothing to compare, the newest read wins
    return snapshot.version >= than.version
