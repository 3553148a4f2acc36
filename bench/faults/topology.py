"""The campaign's site: desks in a ring of rooms and two guards, and who must get each alarm.

Every desk raises and every desk is a recipient, as in an office: desk i's room is
linked to the rooms of desks i-1 and i+1, so a level-2 alarm goes to those two
neighbours and to both security PCs. The checker expects exactly these recipients,
from this plan, not from anything the hub reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.topology import Seeder
from shared.domain import WorkstationRole

GUARDS = ("guard-1", "guard-2")


@dataclass(frozen=True)
class Plan:
    desks: list[str]

    @property
    def everyone(self) -> list[str]:
        return [*self.desks, *GUARDS]

    def recipients(self, raiser: str) -> frozenset[str]:
        i = self.desks.index(raiser)
        n = len(self.desks)
        neighbours = {self.desks[(i - 1) % n], self.desks[(i + 1) % n]} - {raiser}
        return frozenset(neighbours | set(GUARDS))


async def seed_ring(seeder: Seeder, desks: int) -> Plan:
    """One site: ``desks`` single-desk rooms in a ring, and a guard room with two PCs."""
    if desks < 3:
        raise ValueError("the ring needs at least 3 desks")
    site = await seeder.site("Standort 1")
    plan = Plan([f"desk-{i:04d}" for i in range(desks)])
    rooms = [await seeder.room(site) for _ in plan.desks]
    for i, room in enumerate(rooms):
        await seeder.link(room, rooms[(i + 1) % len(rooms)])
    for ws_id, room in zip(plan.desks, rooms, strict=True):
        await seeder.ws(ws_id, site, room, WorkstationRole.STAFF)
    guard_room = await seeder.room(site)
    for guard in GUARDS:
        await seeder.ws(guard, site, guard_room, WorkstationRole.SECURITY)
    return plan
