"""Floor plans: the layout of a floor, its plan image (PNG or SVG) and its marked entrances.

The image is checked by its content, never by its name or declared type: PNG
by its signature, SVG by parsing it and finding an ``<svg>`` root. SVG can
carry script, so it is served with a Content-Security-Policy that forbids
everything but inline styles, and the console shows it only through ``<img>``
(which never runs script). Files live under ``DATA_DIR/plans/``; a new upload
gets a new file name, and the old file is removed only after the commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import structlog
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile, status
from pydantic import Field
from sqlalchemy import select

from dispatch.directory.site_setup import diff
from dispatch.store.audit import AuditTrail
from dispatch.store.models import Building, Entrance, Floor, Room
from dispatch.web.api.deps import DB, Admin, Reader, ScopeDep, actor, get_or_404, unprocessable
from dispatch.web.api.schemas import Input, Metres, Output, Patch

log = structlog.get_logger(__name__)

router = APIRouter(tags=["floor plans"])

MAX_PLAN_BYTES = 5 * 1024 * 1024
PLANS_DIR = "plans"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
MediaType = Literal["image/png", "image/svg+xml"]
MEDIA_TYPES: dict[str, MediaType] = {"png": "image/png", "svg": "image/svg+xml"}
# The plan is a picture: no script, no fetches, no frames; inline styles only (SVG uses them).
PLAN_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-cache",
    "Content-Disposition": "inline",
}

Label = Annotated[str, Field(min_length=1, max_length=120, pattern=r"\S")]
Extent = Annotated[float, Form(gt=0, le=100_000, allow_inf_nan=False)]


class RoomOnPlan(Output):
    id: int
    number: str
    name: str
    x_m: float | None
    y_m: float | None
    entrance: str


class EntranceOut(Output):
    id: int
    floor_id: int
    label: str
    x_m: float
    y_m: float


class EntranceOnPlan(Output):
    id: int
    label: str
    x_m: float
    y_m: float


class LayoutOut(Output):
    floor_id: int
    name: str
    building: str
    width_m: float | None
    height_m: float | None
    has_plan: bool
    plan_url: str | None = Field(description="The plan image (GET); null without a plan")
    rooms: list[RoomOnPlan]
    entrances: list[EntranceOnPlan]


class EntranceIn(Input):
    label: Label = Field(description='As marked on site, e.g. "Eingang B / Treppenhaus 2"')
    x_m: Metres
    y_m: Metres


class EntrancePatch(Patch):
    not_null = frozenset({"label", "x_m", "y_m"})
    label: Label | None = None
    x_m: Metres | None = None
    y_m: Metres | None = None


class PlanOut(Output):
    floor_id: int
    media_type: MediaType
    bytes: int
    width_m: float
    height_m: float
    plan_url: str


# --- the image ---------------------------------------------------------------


def _plans_dir(request: Request) -> Path:
    data_dir: Path = request.app.state.settings.data_dir
    return data_dir / PLANS_DIR


def _plan_url(floor: Floor) -> str | None:
    if not floor.plan_file:
        return None
    # The file name changes with every upload, so a browser never shows an old plan.
    return f"/api/v1/floors/{floor.id}/plan?v={Path(floor.plan_file).stem.rsplit('-', 1)[-1]}"


def _unsupported(message: str) -> HTTPException:
    return HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, message)


def sniff_plan(content: bytes) -> Literal["png", "svg"]:
    """``png`` or ``svg`` by content; raises 415 for anything else, 422 for unsafe SVG."""
    if content.startswith(PNG_SIGNATURE):
        return "png"
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _unsupported("only PNG or SVG floor plans are accepted") from None
    if not text.lstrip().startswith("<"):
        raise _unsupported("only PNG or SVG floor plans are accepted")
    try:
        # defusedxml refuses entity declarations and external references: no XML bombs.
        root = fromstring(text, forbid_dtd=False)
    except DefusedXmlException as error:
        raise unprocessable(f"SVG refused: {error}") from None
    except ParseError as error:
        raise _unsupported(f"only PNG or SVG floor plans are accepted (not XML: {error})") from None
    if root.tag not in (f"{{{SVG_NAMESPACE}}}svg", "svg"):
        raise _unsupported(f"only PNG or SVG floor plans are accepted (XML root is {root.tag!r})")
    return "svg"


def _write_file(folder: Path, name: str, content: bytes) -> None:
    """Written beside its final name and renamed: a reader never sees half a plan."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _remove(folder: Path, name: str | None) -> None:
    if name:
        (folder / Path(name).name).unlink(missing_ok=True)


async def discard_plan_file(request: Request, name: str | None) -> None:
    """Removes a plan image whose row is gone (after that change was committed)."""
    await asyncio.to_thread(_remove, _plans_dir(request), name)


@router.get("/floors/{floor_id}/layout", response_model=LayoutOut, summary="A floor's layout")
async def get_layout(floor_id: int, _: Reader, db: DB, scope: ScopeDep) -> LayoutOut:
    async with db.read() as session:
        floor = await get_or_404(session, Floor, floor_id, "floor", scope)
        building = await session.get(Building, floor.building_id)
        rooms = list(
            await session.scalars(
                select(Room).where(Room.floor_id == floor_id).order_by(Room.number)
            )
        )
        entrances = list(
            await session.scalars(
                select(Entrance)
                .where(Entrance.floor_id == floor_id)
                .order_by(Entrance.label, Entrance.id)
            )
        )
    return LayoutOut(
        floor_id=floor.id,
        name=floor.name,
        building=building.name if building else "",
        width_m=floor.width_m,
        height_m=floor.height_m,
        has_plan=bool(floor.plan_file),
        plan_url=_plan_url(floor),
        rooms=[RoomOnPlan.model_validate(room) for room in rooms],
        entrances=[EntranceOnPlan.model_validate(entrance) for entrance in entrances],
    )


@router.get(
    "/floors/{floor_id}/plan",
    summary="The plan image (PNG or SVG; SVG under a CSP that forbids script)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
async def get_plan(floor_id: int, request: Request, _: Reader, db: DB, scope: ScopeDep) -> Response:
    async with db.read() as session:
        floor = await get_or_404(session, Floor, floor_id, "floor", scope)
    if not floor.plan_file:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"floor {floor_id} has no plan yet")
    path = _plans_dir(request) / Path(floor.plan_file).name
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        log.warning("floor_plan_file_missing", floor=floor_id)
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"the plan file of floor {floor_id} is missing"
        ) from None
    return Response(content, media_type=MEDIA_TYPES[path.suffix.lstrip(".")], headers=PLAN_HEADERS)


@router.put(
    "/floors/{floor_id}/plan",
    response_model=PlanOut,
    summary="Upload the plan (PNG or SVG, at most 5 MB) and its extent in metres",
)
async def put_plan(
    floor_id: int,
    request: Request,
    operator: Admin,
    db: DB,
    scope: ScopeDep,
    file: Annotated[UploadFile, File(description="PNG or SVG, at most 5 MB")],
    width_m: Extent,
    height_m: Extent,
) -> PlanOut:
    async with db.read() as session:
        previous = (await get_or_404(session, Floor, floor_id, "floor", scope)).plan_file
    content = await file.read(MAX_PLAN_BYTES + 1)
    if len(content) > MAX_PLAN_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the plan is larger than {MAX_PLAN_BYTES // (1024 * 1024)} MB",
        )
    if not content:
        raise unprocessable("the plan file is empty")
    kind = sniff_plan(content)
    digest = hashlib.sha256(content).hexdigest()
    name = f"floor-{floor_id}-{digest[:16]}.{kind}"
    folder = _plans_dir(request)
    await asyncio.to_thread(_write_file, folder, name, content)
    try:
        async with db.write() as session:
            floor = await get_or_404(session, Floor, floor_id, "floor", scope)
            old = floor.plan_file
            changed = diff(floor, {"plan_file": name, "width_m": width_m, "height_m": height_m})
            (await AuditTrail.open(session)).append(
                actor(operator),
                "floor_plan_uploaded",
                floor_id=floor_id,
                media_type=MEDIA_TYPES[kind],
                bytes=len(content),
                sha256=digest,
                changes=changed,
            )
            url = _plan_url(floor)
    except BaseException:
        # Rolled back: the row still names the previous file, so the new one must not linger
        # (unless it is the very same file, uploaded again).
        if name != previous:
            await asyncio.to_thread(_remove, folder, name)
        raise
    if old and old != name:
        await asyncio.to_thread(_remove, folder, old)
    assert url is not None
    return PlanOut(
        floor_id=floor_id,
        media_type=MEDIA_TYPES[kind],
        bytes=len(content),
        width_m=width_m,
        height_m=height_m,
        plan_url=url,
    )


@router.delete("/floors/{floor_id}/plan", status_code=204, summary="Remove the plan image")
async def delete_plan(
    floor_id: int, request: Request, operator: Admin, db: DB, scope: ScopeDep
) -> Response:
    async with db.write() as session:
        floor = await get_or_404(session, Floor, floor_id, "floor", scope)
        old = floor.plan_file
        if not old:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"floor {floor_id} has no plan")
        # The extent stays: room and entrance positions keep their meaning for the next plan.
        floor.plan_file = None
        (await AuditTrail.open(session)).append(
            actor(operator), "floor_plan_removed", floor_id=floor_id, file=old
        )
    await asyncio.to_thread(_remove, _plans_dir(request), old)
    return Response(status_code=204)


# --- entrances ---------------------------------------------------------------


def _check_on_plan(floor: Floor, x_m: float, y_m: float) -> None:
    if floor.width_m is not None and not 0 <= x_m <= floor.width_m:
        raise unprocessable(f"x_m {x_m} is outside the plan (0 to {floor.width_m} m)")
    if floor.height_m is not None and not 0 <= y_m <= floor.height_m:
        raise unprocessable(f"y_m {y_m} is outside the plan (0 to {floor.height_m} m)")


@router.post(
    "/floors/{floor_id}/entrances",
    response_model=EntranceOut,
    status_code=201,
    summary="Mark an entrance or stairwell on the floor",
)
async def create_entrance(
    floor_id: int, body: EntranceIn, operator: Admin, db: DB, scope: ScopeDep
) -> Entrance:
    async with db.write() as session:
        floor = await get_or_404(session, Floor, floor_id, "floor", scope)
        _check_on_plan(floor, body.x_m, body.y_m)
        entrance = Entrance(floor_id=floor_id, **body.model_dump())
        session.add(entrance)
        await session.flush()
        (await AuditTrail.open(session)).append(
            actor(operator),
            "entrance_created",
            entrance_id=entrance.id,
            floor_id=floor_id,
            label=entrance.label,
        )
        return entrance


@router.patch("/entrances/{entrance_id}", response_model=EntranceOut, summary="Change an entrance")
async def update_entrance(
    entrance_id: int, body: EntrancePatch, operator: Admin, db: DB, scope: ScopeDep
) -> Entrance:
    async with db.write() as session:
        entrance = await get_or_404(session, Entrance, entrance_id, "entrance", scope)
        floor = await get_or_404(session, Floor, entrance.floor_id, "floor", scope)
        values = body.changes()
        _check_on_plan(floor, values.get("x_m", entrance.x_m), values.get("y_m", entrance.y_m))
        changed = diff(entrance, values)
        if changed:
            (await AuditTrail.open(session)).append(
                actor(operator), "entrance_changed", entrance_id=entrance.id, changes=changed
            )
        return entrance


@router.delete("/entrances/{entrance_id}", status_code=204, summary="Remove an entrance")
async def delete_entrance(entrance_id: int, operator: Admin, db: DB, scope: ScopeDep) -> Response:
    async with db.write() as session:
        entrance = await get_or_404(session, Entrance, entrance_id, "entrance", scope)
        await session.delete(entrance)
        (await AuditTrail.open(session)).append(
            actor(operator),
            "entrance_deleted",
            entrance_id=entrance_id,
            floor_id=entrance.floor_id,
            label=entrance.label,
        )
    return Response(status_code=204)
