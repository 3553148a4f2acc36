"""Which sites an operator may see and change: every read and write of site-owned data takes one.

An operator limited to sites sees only their rows; a row of another site is
answered as if it did not exist (``NotFound``, the API's 404), so ids of other
sites reveal nothing. An operator without sites covers every site; the CLI and
the demo act for the server's owner and pass ``EVERY_SITE``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from dispatch.directory.identities import OperatorView
from dispatch.directory.refusals import NotFound
from dispatch.store.models import (
    Alarm,
    AlarmPolicy,
    Building,
    Drill,
    EnrolmentCode,
    Entrance,
    Floor,
    Room,
    Site,
    Workstation,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SiteScope:
    """The sites covered; ``None``: every site."""

    sites: frozenset[int] | None

    @classmethod
    def of(cls, operator: OperatorView) -> SiteScope:
        return cls(frozenset(operator.sites) if operator.sites else None)

    @property
    def unlimited(self) -> bool:
        return self.sites is None

    def covers(self, site_id: int | None) -> bool:
        """A row of a site out of scope, or of no site at all, is covered only by every site."""
        return self.sites is None or (site_id is not None and site_id in self.sites)

    def covers_all(self, site_ids: Iterable[int]) -> bool:
        """Whether an operator covering ``site_ids`` (none: every site) is within this scope."""
        wanted = set(site_ids)
        return self.sites is None or (bool(wanted) and wanted <= self.sites)

    def where(self, column: InstrumentedAttribute[int] | ColumnElement[int]) -> ColumnElement[bool]:
        """The SQL condition that keeps rows whose ``column`` names a covered site."""
        if self.sites is None:
            return true()
        return column.in_(sorted(self.sites))


EVERY_SITE = SiteScope(None)


async def site_of(session: AsyncSession, row: object) -> int | None:
    """The site a stored row belongs to (an alarm's: its room's, else its PC's)."""
    if isinstance(row, Site):
        return row.id
    if isinstance(row, Building | Room | Workstation | EnrolmentCode | Drill | AlarmPolicy):
        return row.site_id
    if isinstance(row, Floor):
        return await _site_of_building(session, row.building_id)
    if isinstance(row, Entrance):
        return await session.scalar(
            select(Building.site_id)
            .join(Floor, Floor.building_id == Building.id)
            .where(Floor.id == row.floor_id)
        )
    if isinstance(row, Alarm):
        if row.room_id is not None:
            return await session.scalar(select(Room.site_id).where(Room.id == row.room_id))
        return await session.scalar(
            select(Workstation.site_id).where(Workstation.id == row.workstation_id)
        )
    raise TypeError(f"{type(row).__name__} belongs to no site")


async def _site_of_building(session: AsyncSession, building_id: int) -> int | None:
    return await session.scalar(select(Building.site_id).where(Building.id == building_id))


async def in_scope(
    session: AsyncSession, model: type[T], key: Any, what: str, scope: SiteScope
) -> T:
    """The row with this key, or NotFound("no {what} {key}"): also when its site is out of
    scope, in the very words of a missing row."""
    row = await session.get(model, key)
    if row is None or not scope.covers(await site_of(session, row)):
        raise NotFound(f"no {what} {key}")
    return row
