"""Sites (address, police hand-off data, neighbour radius), their buildings and floors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from sqlalchemy import select

from dispatch.directory import site_setup
from dispatch.store.models import Building, Floor, Site
from dispatch.web.api.deps import DB, Admin, Reader, ScopeDep, actor, get_or_404, refusals
from dispatch.web.api.floorplans import discard_plan_file
from dispatch.web.api.schemas import Address, Input, Name, Output, Patch, Phone, ShortName

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
async def list_sites(_: Reader, db: DB, scope: ScopeDep) -> list[Site]:
    async with db.read() as session:
        return list(
            await session.scalars(select(Site).where(scope.where(Site.id)).order_by(Site.id))
        )


@router.post("/sites", response_model=SiteOut, status_code=201, summary="Create a site")
async def create_site(body: SiteIn, operator: Admin, db: DB, scope: ScopeDep) -> Site:
    """Only an admin covering every site creates sites (403 for one limited to sites)."""
    with refusals():
        return await site_setup.create_site(db, actor(operator), **body.model_dump(), scope=scope)


@router.get("/sites/{site_id}", response_model=SiteOut, summary="One site")
async def get_site(site_id: int, _: Reader, db: DB, scope: ScopeDep) -> Site:
    async with db.read() as session:
        return await get_or_404(session, Site, site_id, "site", scope)


@router.patch("/sites/{site_id}", response_model=SiteOut, summary="Change a site")
async def update_site(
    site_id: int, body: SitePatch, operator: Admin, db: DB, scope: ScopeDep
) -> Site:
    with refusals():
        return await site_setup.update_site(
            db, actor(operator), site_id, body.changes(), scope=scope
        )


@router.delete("/sites/{site_id}", status_code=204, summary="Delete an empty site")
async def delete_site(site_id: int, operator: Admin, db: DB, scope: ScopeDep) -> Response:
    with refusals():
        await site_setup.delete_site(db, actor(operator), site_id, scope=scope)
    return Response(status_code=204)


# --- buildings ---------------------------------------------------------------


@router.get("/buildings", response_model=list[BuildingOut], summary="List buildings")
async def list_buildings(
    _: Reader, db: DB, scope: ScopeDep, site_id: Annotated[int | None, Query()] = None
) -> list[Building]:
    query = (
        select(Building)
        .where(scope.where(Building.site_id))
        .order_by(Building.site_id, Building.name)
    )
    if site_id is not None:
        query = query.where(Building.site_id == site_id)
    async with db.read() as session:
        return list(await session.scalars(query))


@router.post("/buildings", response_model=BuildingOut, status_code=201, summary="Create a building")
async def create_building(body: BuildingIn, operator: Admin, db: DB, scope: ScopeDep) -> Building:
    with refusals():
        return await site_setup.create_building(
            db, actor(operator), **body.model_dump(), scope=scope
        )


@router.patch("/buildings/{building_id}", response_model=BuildingOut, summary="Change a building")
async def update_building(
    building_id: int, body: BuildingPatch, operator: Admin, db: DB, scope: ScopeDep
) -> Building:
    with refusals():
        return await site_setup.update_building(
            db, actor(operator), building_id, body.changes(), scope=scope
        )


@router.delete("/buildings/{building_id}", status_code=204, summary="Delete an empty building")
async def delete_building(building_id: int, operator: Admin, db: DB, scope: ScopeDep) -> Response:
    with refusals():
        await site_setup.delete_building(db, actor(operator), building_id, scope=scope)
    return Response(status_code=204)


# --- floors ------------------------------------------------------------------


@router.get("/floors", response_model=list[FloorOut], summary="List floors")
async def list_floors(
    _: Reader, db: DB, scope: ScopeDep, building_id: Annotated[int | None, Query()] = None
) -> list[Floor]:
    query = (
        select(Floor)
        .join(Building, Building.id == Floor.building_id)
        .where(scope.where(Building.site_id))
        .order_by(Floor.building_id, Floor.level, Floor.name)
    )
    if building_id is not None:
        query = query.where(Floor.building_id == building_id)
    async with db.read() as session:
        return list(await session.scalars(query))


@router.post("/floors", response_model=FloorOut, status_code=201, summary="Create a floor")
async def create_floor(body: FloorIn, operator: Admin, db: DB, scope: ScopeDep) -> Floor:
    with refusals():
        return await site_setup.create_floor(db, actor(operator), **body.model_dump(), scope=scope)


@router.patch("/floors/{floor_id}", response_model=FloorOut, summary="Change a floor")
async def update_floor(
    floor_id: int, body: FloorPatch, operator: Admin, db: DB, scope: ScopeDep
) -> Floor:
    with refusals():
        return await site_setup.update_floor(
            db, actor(operator), floor_id, body.changes(), scope=scope
        )


@router.delete("/floors/{floor_id}", status_code=204, summary="Delete an empty floor")
async def delete_floor(
    floor_id: int, request: Request, operator: Admin, db: DB, scope: ScopeDep
) -> Response:
    """An empty floor goes with its plan and its marked entrances (they belong to the plan)."""
    with refusals():
        plan_file = await site_setup.delete_floor(db, actor(operator), floor_id, scope=scope)
    await discard_plan_file(request, plan_file)
    return Response(status_code=204)
