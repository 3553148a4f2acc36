"""Floor plans and entrances on the real hub: upload checks, safe serving, nothing half-stored."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import audit_count
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.operators import ADMIN, API, MANAGER, add_operator, api_client

FIRST_FLOOR = 2  # "1. OG" of the demo site: rooms 1.01-1.05
GROUND_FLOOR = 1
PLAN_CSP = "default-src 'none'; style-src 'unsafe-inline'"
SVG_PLAN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 30 10" width="600" height="200">'
    b'<rect x="0" y="0" width="30" height="10" fill="#f3f4f6" stroke="#111" stroke-width="0.1"/>'
    b"</svg>"
)


def png(width: int = 4, height: int = 2, padding: int = 0) -> bytes:
    """A valid PNG made by hand (zlib + CRC); ``padding`` adds an ancillary chunk for size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height)))
    extra = chunk(b"tEXt", b"Comment\x00" + b"x" * padding) if padding else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One hub for the module; each test uses its own floor state and cleans up what it adds."""
    running = start_demo_hub(tmp_path_factory.mktemp("hub"))
    add_operator(running, *ADMIN, "admin")
    add_operator(running, *MANAGER, "emergency_manager")
    yield running
    running.stop()


@pytest.fixture
def admin(hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(hub, *ADMIN) as client:
        yield client
        # Leave the floors as the demo made them for the next test.
        for floor in (GROUND_FLOOR, FIRST_FLOOR):
            client.delete(f"{API}/floors/{floor}/plan")
            for entrance in client.get(f"{API}/floors/{floor}/layout").json()["entrances"]:
                client.delete(f"{API}/entrances/{entrance['id']}")


@pytest.fixture
def guard(hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(hub, hub.login.username, hub.login.password) as client:
        yield client


def upload(
    client: httpx.Client,
    content: bytes,
    name: str = "plan.svg",
    floor: int = FIRST_FLOOR,
    width_m: object = 30,
    height_m: object = 10,
) -> httpx.Response:
    data = {k: str(v) for k, v in (("width_m", width_m), ("height_m", height_m)) if v is not None}
    return client.put(
        f"{API}/floors/{floor}/plan",
        files={"file": (name, content, "application/octet-stream")},
        data=data,
    )


def plan_files(hub: RunningHub) -> list[str]:
    folder: Path = hub.data_dir / "plans"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def stored_plan(hub: RunningHub, floor: int) -> tuple[object, ...]:
    return query(hub, "SELECT plan_file, width_m, height_m FROM floors WHERE id = ?", floor)[0]


def test_svg_plan_is_stored_laid_out_and_served_without_script(
    hub: RunningHub, admin: httpx.Client, guard: httpx.Client
) -> None:
    before = audit_count(hub)
    response = upload(admin, SVG_PLAN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["media_type"] == "image/svg+xml"
    assert body["bytes"] == len(SVG_PLAN)
    assert (body["width_m"], body["height_m"]) == (30, 10)
    assert audit_count(hub) == before + 1
    action = query(hub, "SELECT action, detail FROM audit_events ORDER BY id DESC LIMIT 1")[0]
    assert action[0] == "floor_plan_uploaded"
    assert len(plan_files(hub)) == 1
    assert not [n for n in plan_files(hub) if n.startswith(".upload")]

    # Any operator role reads the layout and the plan (the guard here).
    layout = guard.get(f"{API}/floors/{FIRST_FLOOR}/layout")
    assert layout.status_code == 200, layout.text
    data = layout.json()
    assert set(data) == {
        "floor_id",
        "name",
        "building",
        "width_m",
        "height_m",
        "has_plan",
        "plan_url",
        "rooms",
        "entrances",
    }
    assert (data["floor_id"], data["name"], data["building"]) == (FIRST_FLOOR, "1. OG", "Haus A")
    assert (data["width_m"], data["height_m"], data["has_plan"]) == (30, 10, True)
    assert data["plan_url"] == body["plan_url"]
    assert data["plan_url"].startswith(f"{API}/floors/{FIRST_FLOOR}/plan")
    rooms = {room["number"]: room for room in data["rooms"]}
    assert sorted(rooms) == ["1.01", "1.02", "1.03", "1.04", "1.05"]
    assert set(rooms["1.01"]) == {"id", "number", "name", "x_m", "y_m", "entrance"}
    assert (rooms["1.01"]["x_m"], rooms["1.01"]["y_m"]) == (4.0, 4.0)
    assert rooms["1.04"]["entrance"] == "Eingang B / Treppenhaus 2"

    plan = guard.get(data["plan_url"])
    assert plan.status_code == 200
    assert plan.content == SVG_PLAN
    assert plan.headers["content-type"].startswith("image/svg+xml")
    assert plan.headers["content-security-policy"] == PLAN_CSP
    assert plan.headers["x-content-type-options"] == "nosniff"


def test_a_new_plan_replaces_the_old_file(hub: RunningHub, admin: httpx.Client) -> None:
    assert upload(admin, SVG_PLAN).status_code == 200
    first = plan_files(hub)
    response = upload(admin, png(), name="plan.png", width_m=32.5, height_m=12)
    assert response.status_code == 200, response.text
    assert response.json()["media_type"] == "image/png"
    files = plan_files(hub)
    assert len(files) == 1  # the SVG is gone, only the PNG is left
    assert files != first
    assert stored_plan(hub, FIRST_FLOOR) == (files[0], 32.5, 12.0)
    served = admin.get(response.json()["plan_url"])
    assert served.headers["content-type"] == "image/png"
    assert served.content == png()


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "plan.gif"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "plan.jpg"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "plan.pdf"),
        (b"just some text", "plan.svg"),
        (b"<html><body><script>alert(1)</script></body></html>", "plan.svg"),
        (b'<?xml version="1.0"?><plan><room/></plan>', "plan.svg"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><unclosed></svg>", "plan.svg"),
    ],
    ids=["gif", "jpeg", "pdf", "text", "html", "other-xml", "broken-svg"],
)
def test_anything_but_png_or_svg_is_415_and_nothing_is_stored(
    hub: RunningHub, admin: httpx.Client, content: bytes, name: str
) -> None:
    assert upload(admin, SVG_PLAN).status_code == 200
    files, row, audit = plan_files(hub), stored_plan(hub, FIRST_FLOOR), audit_count(hub)
    response = upload(admin, content, name=name, width_m=50, height_m=20)
    assert response.status_code == 415, response.text
    assert "only PNG or SVG" in response.json()["detail"]
    assert plan_files(hub) == files
    assert stored_plan(hub, FIRST_FLOOR) == row
    assert audit_count(hub) == audit


def test_a_plan_over_5_mb_is_413_and_nothing_is_stored(
    hub: RunningHub, admin: httpx.Client
) -> None:
    files, row, audit = plan_files(hub), stored_plan(hub, FIRST_FLOOR), audit_count(hub)
    big = png(padding=5 * 1024 * 1024)
    response = upload(admin, big, name="plan.png")
    assert response.status_code == 413, response.text
    assert "larger than 5 MB" in response.json()["detail"]
    assert plan_files(hub) == files
    assert stored_plan(hub, FIRST_FLOOR) == row
    assert audit_count(hub) == audit
    # Just under the limit is fine.
    fits = png(padding=5 * 1024 * 1024 - len(png()) - 30)
    assert len(fits) <= 5 * 1024 * 1024
    assert upload(admin, fits, name="plan.png").status_code == 200


@pytest.mark.parametrize(
    ("content", "width_m", "height_m", "message"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg">&b;</svg>',
            30,
            10,
            "SVG refused",
        ),
        (SVG_PLAN, None, 10, "width_m"),
        (SVG_PLAN, 0, 10, "width_m"),
        (SVG_PLAN, 30, "viel", "height_m"),
        (b"", 30, 10, "empty"),
    ],
    ids=["entities", "no-width", "zero-width", "bad-height", "empty"],
)
def test_unsafe_svg_and_bad_extent_are_422_and_nothing_is_stored(
    hub: RunningHub,
    admin: httpx.Client,
    content: bytes,
    width_m: object,
    height_m: object,
    message: str,
) -> None:
    files, row, audit = plan_files(hub), stored_plan(hub, FIRST_FLOOR), audit_count(hub)
    response = upload(admin, content, width_m=width_m, height_m=height_m)
    assert response.status_code == 422, response.text
    assert message in response.text
    assert plan_files(hub) == files
    assert stored_plan(hub, FIRST_FLOOR) == row
    assert audit_count(hub) == audit


@pytest.mark.parametrize("who", ["guard", "emergency_manager", "no-csrf"])
def test_only_admins_upload_and_nothing_is_stored_otherwise(hub: RunningHub, who: str) -> None:
    credentials = {
        "guard": (hub.login.username, hub.login.password),
        "emergency_manager": MANAGER,
        "no-csrf": ADMIN,
    }[who]
    files, row = plan_files(hub), stored_plan(hub, FIRST_FLOOR)
    with api_client(hub, *credentials) as client:
        audit = audit_count(hub)
        if who == "no-csrf":
            del client.headers["x-csrf-token"]
        response = upload(client, SVG_PLAN)
        assert response.status_code == 403, response.text
        assert ("CSRF" if who == "no-csrf" else "may not") in response.json()["detail"]
        entrance = client.post(
            f"{API}/floors/{FIRST_FLOOR}/entrances", json={"label": "X", "x_m": 1, "y_m": 1}
        )
        assert entrance.status_code == 403
        assert client.delete(f"{API}/floors/{FIRST_FLOOR}/plan").status_code == 403
    assert plan_files(hub) == files
    assert stored_plan(hub, FIRST_FLOOR) == row
    assert audit_count(hub) == audit


def test_no_plan_and_unknown_floor_are_404_with_a_message(
    hub: RunningHub, admin: httpx.Client, guard: httpx.Client
) -> None:
    response = guard.get(f"{API}/floors/{GROUND_FLOOR}/plan")
    assert response.status_code == 404
    assert response.json()["detail"] == f"floor {GROUND_FLOOR} has no plan yet"
    layout = guard.get(f"{API}/floors/{GROUND_FLOOR}/layout").json()
    assert (layout["has_plan"], layout["plan_url"]) == (False, None)
    for method, path in (
        ("GET", f"{API}/floors/999/layout"),
        ("GET", f"{API}/floors/999/plan"),
        ("DELETE", f"{API}/floors/999/plan"),
        ("PATCH", f"{API}/entrances/999"),
        ("DELETE", f"{API}/entrances/999"),
    ):
        answer = admin.request(method, path, json={} if method == "PATCH" else None)
        assert answer.status_code == 404, (method, path, answer.text)
        assert "999" in answer.json()["detail"]
    assert upload(admin, SVG_PLAN, floor=999).status_code == 404


def test_delete_plan_removes_file_and_keeps_the_extent(
    hub: RunningHub, admin: httpx.Client
) -> None:
    assert upload(admin, SVG_PLAN).status_code == 200
    assert plan_files(hub)
    response = admin.delete(f"{API}/floors/{FIRST_FLOOR}/plan")
    assert response.status_code == 204
    assert plan_files(hub) == []
    assert stored_plan(hub, FIRST_FLOOR) == (None, 30.0, 10.0)
    assert admin.get(f"{API}/floors/{FIRST_FLOOR}/plan").status_code == 404
    again = admin.delete(f"{API}/floors/{FIRST_FLOOR}/plan")
    assert again.status_code == 404
    assert "has no plan" in again.json()["detail"]


def test_entrances_are_marked_moved_and_removed(
    hub: RunningHub, admin: httpx.Client, guard: httpx.Client
) -> None:
    assert upload(admin, SVG_PLAN).status_code == 200  # extent 30 × 10 m
    before = audit_count(hub)
    created = admin.post(
        f"{API}/floors/{FIRST_FLOOR}/entrances",
        json={"label": "Eingang A / Treppenhaus 1", "x_m": 1.5, "y_m": 9},
    )
    assert created.status_code == 201, created.text
    entrance = created.json()
    assert entrance == {
        "id": entrance["id"],
        "floor_id": FIRST_FLOOR,
        "label": "Eingang A / Treppenhaus 1",
        "x_m": 1.5,
        "y_m": 9.0,
    }
    layout = guard.get(f"{API}/floors/{FIRST_FLOOR}/layout").json()
    assert layout["entrances"] == [
        {"id": entrance["id"], "label": "Eingang A / Treppenhaus 1", "x_m": 1.5, "y_m": 9.0}
    ]

    moved = admin.patch(f"{API}/entrances/{entrance['id']}", json={"x_m": 28})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["x_m"], moved.json()["label"]) == (28.0, "Eingang A / Treppenhaus 1")
    for bad, message in (
        ({"x_m": 31}, "outside the plan"),
        ({"label": None}, "label cannot be null"),
        ({"label": "  "}, "label"),
        ({"floor_id": 1}, "floor_id"),
    ):
        refused = admin.patch(f"{API}/entrances/{entrance['id']}", json=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert message in refused.text
    outside = admin.post(
        f"{API}/floors/{FIRST_FLOOR}/entrances", json={"label": "Hof", "x_m": 5, "y_m": -1}
    )
    assert outside.status_code == 422
    assert "outside the plan" in outside.json()["detail"]
    assert [
        e["x_m"] for e in guard.get(f"{API}/floors/{FIRST_FLOOR}/layout").json()["entrances"]
    ] == [28.0]

    assert admin.delete(f"{API}/entrances/{entrance['id']}").status_code == 204
    assert guard.get(f"{API}/floors/{FIRST_FLOOR}/layout").json()["entrances"] == []
    actions = [row[0] for row in query(hub, "SELECT action FROM audit_events WHERE id > ?", 0)]
    assert actions[-3:] == ["entrance_created", "entrance_changed", "entrance_deleted"]
    assert audit_count(hub) == before + 3


def test_room_positions_from_the_rooms_api_show_in_the_layout(
    admin: httpx.Client, guard: httpx.Client
) -> None:
    rooms = guard.get(f"{API}/rooms", params={"floor_id": FIRST_FLOOR}).json()
    room = next(r for r in rooms if r["number"] == "1.03")
    old = (room["x_m"], room["y_m"])
    try:
        assert admin.patch(f"{API}/rooms/{room['id']}", json={"x_m": 15.5, "y_m": 6}).is_success
        layout = guard.get(f"{API}/floors/{FIRST_FLOOR}/layout").json()
        placed = next(r for r in layout["rooms"] if r["number"] == "1.03")
        assert (placed["x_m"], placed["y_m"]) == (15.5, 6.0)
    finally:
        admin.patch(f"{API}/rooms/{room['id']}", json={"x_m": old[0], "y_m": old[1]})


def test_deleting_an_empty_floor_takes_its_plan_and_entrances_with_it(
    admin: httpx.Client, hub: RunningHub
) -> None:
    floor = admin.post(f"{API}/floors", json={"building_id": 1, "name": "Dachgeschoss"}).json()
    assert upload(admin, SVG_PLAN, floor=floor["id"]).status_code == 200
    entrance = admin.post(
        f"{API}/floors/{floor['id']}/entrances", json={"label": "Treppe", "x_m": 2, "y_m": 2}
    )
    assert entrance.status_code == 201, entrance.text
    (plan_file, _, _) = stored_plan(hub, floor["id"])
    assert plan_file in plan_files(hub)

    assert admin.delete(f"{API}/floors/{floor['id']}").status_code == 204
    assert plan_file not in plan_files(hub)
    assert query(hub, "SELECT count(*) FROM entrances WHERE floor_id = ?", floor["id"]) == [(0,)]
