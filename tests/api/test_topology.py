"""Sites, buildings, floors, rooms, neighbours and operators through the API of a real hub."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import audit_count, audit_details
from tests.support.hub import RunningHub, query
from tests.support.operators import ADMIN, API, api_client


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_site_building_floor_room_round_trip(admin: httpx.Client, admin_hub: RunningHub) -> None:
    site = _created(
        admin.post(
            f"{API}/sites",
            json={
                "name": "Jobcenter Nord",
                "address": "Nordring 5, 12345 Musterstadt",
                "police_notes": "Zufahrt über Hof, Schlüsseltresor links",
                "phone": "+49 30 1234",
                "neighbour_radius_m": 6.5,
            },
        )
    )
    assert admin.get(f"{API}/sites/{site['id']}").json() == site
    changed = admin.patch(f"{API}/sites/{site['id']}", json={"phone": "+49 30 9999"})
    assert changed.status_code == 200
    assert changed.json() == {**site, "phone": "+49 30 9999"}

    building = _created(admin.post(f"{API}/buildings", json={"site_id": site["id"], "name": "B"}))
    floor = _created(
        admin.post(f"{API}/floors", json={"building_id": building["id"], "name": "EG"})
    )
    room = _created(
        admin.post(
            f"{API}/rooms",
            json={
                "floor_id": floor["id"],
                "number": "0.01",
                "name": "Beratung",
                "phone": "-101",
                "x_m": 1.5,
                "y_m": 2.0,
                "entrance": "Haupteingang",
            },
        )
    )
    assert room["site_id"] == site["id"]
    assert admin.get(f"{API}/rooms/{room['id']}").json() == room
    assert room in admin.get(f"{API}/rooms", params={"site_id": site["id"]}).json()
    moved = admin.patch(f"{API}/rooms/{room['id']}", json={"x_m": 3.0, "name": "Beratung 1"})
    assert moved.json() == {**room, "x_m": 3.0, "name": "Beratung 1"}

    # The same room number at another site is fine; at this one it is a conflict.
    assert (
        admin.post(
            f"{API}/rooms", json={"floor_id": 1, "number": "0.01", "name": "Andere Stelle"}
        ).status_code
        == 201
    )
    duplicate = admin.post(
        f"{API}/rooms", json={"floor_id": floor["id"], "number": "0.01", "name": "Doppelt"}
    )
    assert duplicate.status_code == 409
    assert "room 0.01 exists already" in duplicate.json()["detail"]

    # Deleting in the wrong order is refused; in the right order it works.
    assert admin.delete(f"{API}/floors/{floor['id']}").status_code == 409
    assert admin.delete(f"{API}/rooms/{room['id']}").status_code == 204
    assert admin.get(f"{API}/rooms/{room['id']}").status_code == 404
    assert admin.delete(f"{API}/floors/{floor['id']}").status_code == 204
    assert admin.delete(f"{API}/buildings/{building['id']}").status_code == 204
    assert admin.delete(f"{API}/sites/{site['id']}").status_code == 204
    actions = [row[0] for row in query(admin_hub, "SELECT action FROM audit_events")]
    for action in ("site_created", "site_changed", "room_created", "room_changed", "room_deleted"):
        assert action in actions


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/rooms", {"floor_id": 2, "number": "", "name": "X"}, "number"),
        ("/rooms", {"floor_id": 2, "number": "2.01", "name": "X", "x_m": "links"}, "x_m"),
        ("/rooms", {"floor_id": 2, "number": "2.01", "name": "X", "x_m": 1e9}, "x_m"),
        ("/rooms", {"floor_id": 999, "number": "2.01", "name": "X"}, "no floor 999"),
        ("/rooms", {"floor_id": 2, "number": "2.01", "name": "X", "farbe": "rot"}, "farbe"),
        ("/sites", {"name": "S", "neighbour_radius_m": -1}, "neighbour_radius_m"),
        ("/buildings", {"site_id": 42, "name": "B"}, "no site 42"),
        ("/floors", {"building_id": 1, "name": "EG"}, "exists already"),
        (
            "/operators",
            {
                "username": "neu",
                "display_name": "Neu",
                "role": "admin",
                "password": "ein-langes-passwort",
                "site_ids": [1, 77],
            },
            "unknown site ids: 77",
        ),
        (
            "/operators",
            {"username": "neu", "display_name": "Neu", "role": "chef", "password": "x" * 12},
            "role",
        ),
        (
            "/operators",
            {"username": "neu", "display_name": "Neu", "role": "guard", "password": "kurz"},
            "password",
        ),
        ("/enrolment-codes", {"site_id": 1, "hours": 169}, "hours"),
        ("/enrolment-codes", {"site_id": 1, "room_id": 999}, "no room 999"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    shared_hub: RunningHub, path: str, body: dict[str, object], message: str
) -> None:
    tables = ("sites", "buildings", "floors", "rooms", "operators", "operator_sites")
    with api_client(shared_hub, *ADMIN) as admin:
        before = audit_count(shared_hub)
        counts = {t: query(shared_hub, f"SELECT count(*) FROM {t}") for t in tables}  # noqa: S608
        response = admin.post(f"{API}{path}", json=body)
        assert response.status_code in (409, 422), response.text
        assert message in response.text
        assert audit_count(shared_hub) == before
        after = {t: query(shared_hub, f"SELECT count(*) FROM {t}") for t in tables}  # noqa: S608
        assert after == counts


def test_patch_refuses_null_and_unknown_floor(admin: httpx.Client) -> None:
    room = admin.get(f"{API}/rooms/2").json()
    assert admin.patch(f"{API}/rooms/2", json={"name": None}).status_code == 422
    response = admin.patch(f"{API}/rooms/2", json={"number": "1.02"})
    assert response.status_code == 409  # 1.02 is another room's number
    assert admin.get(f"{API}/rooms/2").json() == room


def test_neighbours_by_distance_with_link_and_exclude(admin: httpx.Client) -> None:
    site = _created(admin.post(f"{API}/sites", json={"name": "Test", "neighbour_radius_m": 0}))
    building = _created(admin.post(f"{API}/buildings", json={"site_id": site["id"], "name": "H"}))
    ground = _created(
        admin.post(f"{API}/floors", json={"building_id": building["id"], "name": "EG"})
    )
    upper = _created(
        admin.post(f"{API}/floors", json={"building_id": building["id"], "name": "1", "level": 1})
    )

    def room(number: str, floor: dict[str, object], x: float) -> int:
        body = {"floor_id": floor["id"], "number": number, "name": number, "x_m": x, "y_m": 0}
        return int(_created(admin.post(f"{API}/rooms", json=body))["id"])

    a, b, c = room("A", ground, 0), room("B", ground, 3), room("C", ground, 10)
    d = room("D", upper, 0)  # right above A, but on another floor

    def neighbours(of: int) -> dict[int, str]:
        answer = admin.get(f"{API}/rooms/{of}/neighbours")
        assert answer.status_code == 200, answer.text
        return {n["room_id"]: n["source"] for n in answer.json()["neighbours"]}

    assert neighbours(a) == {}  # radius 0: links only
    admin.patch(f"{API}/sites/{site['id']}", json={"neighbour_radius_m": 5})
    assert neighbours(a) == {b: "distance"}
    assert admin.get(f"{API}/rooms/{a}/neighbours").json()["neighbours"][0]["distance_m"] == 3.0
    assert neighbours(b) == {a: "distance"}
    assert d not in neighbours(a)

    linked = admin.put(f"{API}/rooms/{a}/neighbours/{c}", json={"kind": "link"})
    assert linked.status_code == 200, linked.text
    assert neighbours(a) == {b: "distance", c: "link"}
    assert neighbours(c) == {a: "link"}  # both directions

    excluded = admin.put(f"{API}/rooms/{a}/neighbours/{b}", json={"kind": "exclude"})
    assert excluded.json()["excluded"] == [{"room_id": b, "number": "B"}]
    assert neighbours(a) == {c: "link"}
    assert neighbours(b) == {}

    assert admin.delete(f"{API}/rooms/{a}/neighbours/{b}").status_code == 200
    assert neighbours(a) == {b: "distance", c: "link"}
    assert admin.delete(f"{API}/rooms/{a}/neighbours/{b}").status_code == 404
    assert admin.put(f"{API}/rooms/{a}/neighbours/{a}", json={"kind": "link"}).status_code == 422
    bad = admin.put(f"{API}/rooms/{a}/neighbours/{c}", json={"kind": "maybe"})
    assert bad.status_code == 422
    other_site = admin.put(f"{API}/rooms/{a}/neighbours/2", json={"kind": "link"})
    assert other_site.status_code == 422
    assert "different sites" in other_site.json()["detail"]


def test_operator_crud_password_never_returned(admin: httpx.Client, admin_hub: RunningHub) -> None:
    password = "ein-sehr-geheimes-passwort"
    created = admin.post(
        f"{API}/operators",
        json={
            "username": "manager",
            "display_name": "Frau Notfall",
            "role": "emergency_manager",
            "password": password,
            "site_ids": [1],
        },
    )
    assert created.status_code == 201, created.text
    operator = created.json()
    assert operator["site_ids"] == [1]
    assert "password" not in created.text
    assert "argon2" not in created.text
    listed = admin.get(f"{API}/operators")
    assert "argon2" not in listed.text
    assert "manager" in [o["username"] for o in listed.json()]
    assert (
        admin.post(
            f"{API}/operators",
            json={
                "username": "manager",
                "display_name": "X",
                "role": "guard",
                "password": "x" * 12,
            },
        ).status_code
        == 409
    )

    with api_client(admin_hub, "manager", password) as manager:
        assert manager.get(f"{API}/session").json()["role"] == "emergency_manager"
        assert manager.get(f"{API}/coverage").status_code == 200

    new_password = "noch-ein-neues-passwort"
    changed = admin.patch(
        f"{API}/operators/{operator['id']}",
        json={"role": "guard", "site_ids": [], "password": new_password},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["role"], changed.json()["site_ids"]) == ("guard", [])
    with api_client(admin_hub, "manager", new_password) as manager:
        assert manager.get(f"{API}/session").json()["role"] == "guard"

    # A disabled operator's session ends at once and logging in again fails.
    with api_client(admin_hub, "manager", new_password) as manager:
        assert (
            admin.patch(f"{API}/operators/{operator['id']}", json={"disabled": True}).status_code
            == 200
        )
        assert manager.get(f"{API}/session").status_code == 401

    own = admin.get(f"{API}/session").json()["operator_id"]
    assert admin.delete(f"{API}/operators/{own}").status_code == 409
    assert admin.patch(f"{API}/operators/{own}", json={"role": "guard"}).status_code == 409
    assert admin.delete(f"{API}/operators/{operator['id']}").status_code == 204
    assert admin.get(f"{API}/operators/{operator['id']}").status_code == 404
    trail = audit_details(admin_hub)
    assert password not in trail
    assert new_password not in trail
    assert password not in admin_hub.log()
    assert new_password not in admin_hub.log()
