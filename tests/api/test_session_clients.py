"""Terminal server clients (issue 19) mapped through the admin API and the CSV, like PCs.

One hub for the module: the routes create and change clients, never the demo's PCs.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import audit_count
from tests.support.hub import RunningHub, query
from tests.support.operators import ADMIN, API, MANAGER, api_client


@pytest.fixture(scope="module")
def admin(shared_hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(shared_hub, *ADMIN) as client:
        yield client


def room_id(hub: RunningHub, number: str) -> int:
    [(found,)] = query(hub, "SELECT id FROM rooms WHERE number = ?", number)
    assert isinstance(found, int)
    return found


def client_rows(hub: RunningHub) -> list[tuple[object, ...]]:
    return query(
        hub,
        "SELECT id, room_id, state, token_hash FROM workstations WHERE id LIKE 'THIN%' ORDER BY id",
    )


def test_an_admin_maps_a_client_before_its_first_session(
    shared_hub: RunningHub, admin: httpx.Client
) -> None:
    audit_before = audit_count(shared_hub)
    made = admin.post(
        f"{API}/session-clients",
        json={"client_name": "THIN-11", "room_id": room_id(shared_hub, "1.02")},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["id"], body["room_number"], body["state"]) == ("THIN-11", "1.02", "active")
    # No device secret: only a terminal server's session speaks for it.
    assert client_rows(shared_hub) == [("THIN-11", room_id(shared_hub, "1.02"), "active", "")]
    assert audit_count(shared_hub) == audit_before + 1
    [(action,)] = query(shared_hub, "SELECT action FROM audit_events ORDER BY id DESC LIMIT 1")
    assert action == "session_client_created"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"client_name": "thin-11", "room_id": 1}, 409, "exists already"),  # any spelling
        ({"client_name": "THIN 12", "room_id": 1}, 422, "client_name"),
        ({"client_name": "", "room_id": 1}, 422, "client_name"),
        ({"client_name": "T" * 65, "room_id": 1}, 422, "client_name"),
        ({"client_name": "THIN-12", "room_id": 999999}, 422, "no room 999999"),
        ({"client_name": "THIN-12"}, 422, "room_id"),
    ],
)
def test_bad_clients_are_refused_and_nothing_is_stored(
    shared_hub: RunningHub,
    admin: httpx.Client,
    body: dict[str, object],
    status: int,
    words: str,
) -> None:
    admin.post(  # the client the conflict needs, whichever case runs first
        f"{API}/session-clients",
        json={"client_name": "THIN-11", "room_id": room_id(shared_hub, "1.02")},
    )
    before, audit_before = client_rows(shared_hub), audit_count(shared_hub)
    answer = admin.post(f"{API}/session-clients", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.text
    assert client_rows(shared_hub) == before
    assert audit_count(shared_hub) == audit_before


def test_only_admins_map_clients(shared_hub: RunningHub) -> None:
    before = client_rows(shared_hub)
    with api_client(shared_hub, *MANAGER) as manager:
        answer = manager.post(
            f"{API}/session-clients", json={"client_name": "THIN-13", "room_id": 1}
        )
    assert answer.status_code == 403, answer.text
    assert client_rows(shared_hub) == before


def test_the_csv_maps_clients_like_pcs(shared_hub: RunningHub, admin: httpx.Client) -> None:
    made = admin.post(
        f"{API}/session-clients",
        json={"client_name": "THIN-14", "room_id": room_id(shared_hub, "1.01")},
    )
    assert made.status_code == 201, made.text
    exported = admin.get(f"{API}/workstations.csv").text.splitlines()
    assert "THIN-14,THIN-14,1.01,staff,active" in exported

    csv = "workstation_id,room_number\nTHIN-14,1.04\n"
    headers = {"Content-Type": "text/csv"}
    dry = admin.post(f"{API}/workstations/import?dry_run=true", content=csv, headers=headers)
    assert dry.status_code == 200, dry.text
    assert dry.json()["changed"][0]["changes"]["room_number"] == ["1.01", "1.04"]
    assert client_rows(shared_hub)[-1][1] == room_id(shared_hub, "1.01")  # a dry run

    applied = admin.post(f"{API}/workstations/import", content=csv, headers=headers)
    assert applied.status_code == 200, applied.text
    assert applied.json()["imported"] is True
    assert ("THIN-14", room_id(shared_hub, "1.04"), "active", "") in client_rows(shared_hub)

    bad = admin.post(
        f"{API}/workstations/import",
        content="workstation_id,room_number\nTHIN-14,1.02\nTHIN-15,1.02\n",
        headers=headers,
    )
    assert bad.status_code == 422, bad.text
    assert "unknown workstation 'THIN-15'" in bad.text
    assert ("THIN-14", room_id(shared_hub, "1.04"), "active", "") in client_rows(shared_hub)
