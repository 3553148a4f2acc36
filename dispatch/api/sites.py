"""Sites (address, police hand-off data, neighbour radius), their buildings and floors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.api.deps import DB, Admin, Reader, actor, conflict, get_or_404, unprocessable
from dispatch.api.floorplans import discard_plan_file
from dispatch.api.schemas import (
    Address,
    Input,
    Name,
    Output,
    Patch,
    Phone,
    ShortName,
    diff,
)
from dispatch.audit import AuditTrail
from dispatch.models import (
    AlarmPolicy,
    Building,
    Drill,
    EnrolmentCode,
    Entrance,
    Floor,
    OperatorSite,
    Room,
    Site,
    Workstation,
)

router = APIRouter(tags=["topology"])

Radius = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
PoliceNotes = Annotated[str, Field(max_length=4000)]


class SiteIn(Input):
    name: Name
    address: Address = ""
    police_notes: PoliceNotes = ""
    phone: Phone = ""
    neighbour_radius_m: Radius = Field(
        0.0,
        description="Rooms on the same floor within this distance are neighbours; 0: links only.",
    )


class SitePatch(Patch):
    not_null = frozenset({"name", "address", "police_notes", "phone", "neighbour_radius_m"})
    name: Name | None = None
    address: Address | None = None
    police_notes: PoliceNotes | None = None
    phone: Phone | None = None
    neighbour_radius_m: Radius | None = None


class SiteOut(Output):
    id: int
    name: str
    address: str
    police_notes: str
    phone: str
    neighbour_radius_m: float


class BuildingIn(Input):
    site_id: int
    name: ShortName
    address: Address = ""


class BuildingPatch(Patch):
    not_null = frozenset({"name", "address"})
    name: ShortName | None = None
    address: Address | None = None


class BuildingOut(Output):
    id: int
    site_id: int
    name: str
    address: str


Extent = Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)]


class FloorIn(Input):
    building_id: int
    name: ShortName
    level: int = Field(0, ge=-20, le=200, description="Sort order; 0 = ground floor.")
    width_m: Extent | None = None
    height_m: Extent | None = None


class FloorPatch(Patch):
    not_null = frozenset({"name", "level"})
    name: ShortName | None = None
    level: int | None = Field(None, ge=-20, le=200)
    width_m: Extent | None = None
    height_m: Extent | None = None


class FloorOut(Output):
    id: int
    building_id: int
    name: str
    level: int
    width_m: float | None
    height_m: float | None


# --- sites -------------------------------------------------------------------


@router.get("/sites", response_model=list[SiteOut], summary="List sites")
async def list_sites(_: Reader, db: DB) -> list[Site]:
    async with db.read() as session:
        return list(await session.scalars(select(Site).order_by(Site.id)))


@router.post("/sites", response_model=SiteOut, status_code=201, summary="Create a site")
async def create_site(body: SiteIn, operator: Admin, db: DB) -> Site:
    async with db.write() as session:
        site = Site(**body.model_dump())
        session.add(site)
        await session.flush()
        (await AuditTrail.open(session)).append(
            actor(operator), "site_created", site_id=site.id, name=site.name
        )
        return site


@router.get("/sites/{site_id}", response_model=SiteOut, summary="One site")
async def get_site(site_id: int, _: Reader, db: DB) -> Site:
    async with db.read() as session:
        return await get_or_404(session, Site, site_id, "site")


@router.patch("/sites/{site_id}", response_model=SiteOut, summary="Change a site")
async def update_site(site_id: int, body: SitePatch, operator: Admin, db: DB) -> Site:
    async with db.write() as session:
        site = await get_or_404(session, Site, site_id, "site")
        changed = diff(site, body.changes())
        if changed:
            (await AuditTrail.open(session)).append(
                actor(operator), "site_changed", site_id=site.id, changes=changed
            )
        return site


@router.delete("/sites/{site_id}", status_code=204, summary="Delete an empty site")
async def delete_site(site_id: int, operator: Admin, db: DB) -> Response:
    async with db.write() as session:
        site = await get_or_404(session, Site, site_id, "site")
        for model, column, what in (
            (Building, Building.site_id, "buildings"),
            (Room, Room.site_id, "rooms"),
            (Workstation, Workstation.site_id, "workstations"),
            (EnrolmentCode, EnrolmentCode.site_id, "enrolment codes"),
            (Drill, Drill.site_id, "drills (their reports are history)"),
        ):
            if await session.scalar(select(model).where(column == site_id).limit(1)):
                raise conflict(f"site {site_id} still has {what}; remove them first")
        # What only configures the site goes with it: operators' coverage and its policies.
        for owned in (OperatorSite, AlarmPolicy):
            for row in await session.scalars(select(owned).where(owned.site_id == site_id)):
                await session.delete(row)
        await session.delete(site)
        (await AuditTrail.open(session)).append(
            actor(operator), "site_deleted", site_id=site_id, name=site.name
        )
    return Response(status_code=204)


# --- buildings ---------------------------------------------------------------


@router.get("/buildings", response_model=list[BuildingOut], summary="List buildings")
async def list_buildings(
    _: Reader, db: DB, site_id: Annotated[int | None, Query()] = None
) -> list[Building]:
    query = select(Building).order_by(Building.site_id, Building.name)
    if site_id is not None:
        query = query.where(Building.site_id == site_id)
    async with db.read() as session:
        return list(await session.scalars(query))


async def _unique_building(session: AsyncSession, site_id: int, name: str, own: int | None) -> None:
    found = await session.scalar(
        select(Building.id).where(Building.site_id == site_id, Building.name == name)
    )
    if found is not None and found != own:
        raise conflict(f"building {name!r} exists already at site {site_id}")


@router.post("/buildings", response_model=BuildingOut, status_code=201, summary="Create a building")
async def create_building(body: BuildingIn, operator: Admin, db: DB) -> Building:
    async with db.write() as session:
        if await session.get(Site, body.site_id) is None:
            raise unprocessable(f"no site {body.site_id}")
        await _unique_building(session, body.site_id, body.name, None)
        building = Building(**body.model_dump())
        session.add(building)
        await session.flush()
        (await AuditTrail.open(session)).append(
            actor(operator), "building_created", building_id=building.id, name=building.name
        )
        return building


@router.patch("/buildings/{building_id}", response_model=BuildingOut, summary="Change a building")
async def update_building(
    building_id: int, body: BuildingPatch, operator: Admin, db: DB
) -> Building:
    async with db.write() as session:
        building = await get_or_404(session, Building, building_id, "building")
        values = body.changes()
        if "name" in values:
            await _unique_building(session, building.site_id, values["name"], building.id)
        changed = diff(building, values)
        if changed:
            (await AuditTrail.open(session)).append(
                actor(operator), "building_changed", building_id=building.id, changes=changed
            )
        return building


@router.delete("/buildings/{building_id}", status_code=204, summary="Delete an empty building")
async def delete_building(building_id: int, operator: Admin, db: DB) -> Response:
    async with db.write() as session:
        building = await get_or_404(session, Building, building_id, "building")
        if await session.scalar(select(Floor.id).where(Floor.building_id == building_id).limit(1)):
            raise conflict(f"building {building_id} still has floors; remove them first")
        await session.delete(building)
        (await AuditTrail.open(session)).append(
            actor(operator), "building_deleted", building_id=building_id, name=building.name
        )
    return Response(status_code=204)


# --- floors ------------------------------------------------------------------


@router.get("/floors", response_model=list[FloorOut], summary="List floors")
async def list_floors(
    _: Reader, db: DB, building_id: Annotated[int | None, Query()] = None
) -> list[Floor]:
    query = select(Floor).order_by(Floor.building_id, Floor.level, Floor.name)
    if building_id is not None:
        query = query.where(Floor.building_id == building_id)
    async with db.read() as session:
        return list(await session.scalars(query))


async def _unique_floor(
    session: AsyncSession, building_id: int, name: str, own: int | None
) -> None:
    found = await session.scalar(
        select(Floor.id).where(Floor.building_id == building_id, Floor.name == name)
    )
    if found is not None and found != own:
        raise conflict(f"floor {name!r} exists already in building {building_id}")


@router.post("/floors", response_model=FloorOut, status_code=201, summary="Create a floor")
async def create_floor(body: FloorIn, operator: Admin, db: DB) -> Floor:
    async with db.write() as session:
        if await session.get(Building, body.building_id) is None:
            raise unprocessable(f"no building {body.building_id}")
        await _unique_floor(session, body.building_id, body.name, None)
        floor = Floor(**body.model_dump(), plan_file=None)
        session.add(floor)
        await session.flush()
        (await AuditTrail.open(session)).append(
            actor(operator), "floor_created", floor_id=floor.id, name=floor.name
        )
        return floor


@router.patch("/floors/{floor_id}", response_model=FloorOut, summary="Change a floor")
async def update_floor(floor_id: int, body: FloorPatch, operator: Admin, db: DB) -> Floor:
    async with db.write() as session:
        floor = await get_or_404(session, Floor, floor_id, "floor")
        values = body.changes()
        if "name" in values:
            await _unique_floor(session, floor.building_id, values["name"], floor.id)
        changed = diff(floor, values)
        if changed:
            (await AuditTrail.open(session)).append(
                actor(operator), "floor_changed", floor_id=floor.id, changes=changed
            )
        return floor


@router.delete("/floors/{floor_id}", status_code=204, summary="Delete an empty floor")
async def delete_floor(floor_id: int, request: Request, operator: Admin, db: DB) -> Response:
    """An empty floor goes with its plan and its marked entrances (they belong to the plan)."""
    async with db.write() as session:
        floor = await get_or_404(session, Floor, floor_id, "floor")
        if await session.scalar(select(Room.id).where(Room.floor_id == floor_id).limit(1)):
            raise conflict(f"floor {floor_id} still has rooms; remove them first")
        plan_file = floor.plan_file
        entrances = await session.execute(delete(Entrance).where(Entrance.floor_id == floor_id))
        await session.delete(floor)
        (await AuditTrail.open(session)).append(
            actor(operator),
            "floor_deleted",
            floor_id=floor_id,
            name=floor.name,
            entrances=getattr(entrances, "rowcount", 0),
        )
    await discard_plan_file(request, plan_file)
    return Response(status_code=204)
