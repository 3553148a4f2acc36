"""The CSV import pre-maps terminal server clients in bulk (issue 19): rows of kind ``client``.

One hub for the module (the demo site: rooms 1.01–1.05 in a row, security at E.01);
each test uses client names of its own. A session of a terminal server in 1.05 shows
that a client the CSV created is routed by its own room from its first hello on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.domain import AlarmLevel
from shared.protocol import AlarmNotify, AlarmStored, RemoteSession
from tests.api.conftest import audit_count
from tests.integration.conftest import agents_of
from tests.support.hub import RunningHub, query
from tests.support.operators import ADMIN, API, api_client
from tests.support.wsclient import connect_agent

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def admin(shared_hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(shared_hub, *ADMIN) as client:
        yield client


def room_id(hub: RunningHub, number: str) -> int:
    [(found,)] = query(hub, "SELECT id FROM rooms WHERE number = ?", number)
    assert isinstance(found, int)
    return found


def workstations(hub: RunningHub) -> list[tuple[object, ...]]:
    return query(hub, "SELECT id, room_id, state, role, token_hash FROM workstations ORDER BY id")


def audit_of(hub: RunningHub, action: str) -> list[tuple[object, object, dict[str, object]]]:
    """Each event of ``action``: its workstation, its room and its details."""
    rows = query(
        hub,
        "SELECT workstation_id, room_id, detail FROM audit_events WHERE action = ? ORDER BY id",
        action,
    )
    return [(ws, room, json.loads(str(detail))) for ws, room, detail in rows]


def send(admin: httpx.Client, text: str, *, dry_run: bool) -> httpx.Response:
    return admin.post(
        f"{API}/workstations/import",
        params={"dry_run": str(dry_run).lower()},
        content=text.encode(),
        headers=CSV,
    )


def test_the_dry_run_lists_the_new_clients_apart_from_the_moves_and_the_import_creates_them(
    shared_hub: RunningHub, admin: httpx.Client
) -> None:
    text = (
        "hostname;room_number;role;kind\n"  # German Excel: semicolons
        "pc-1-05;1.04;;\n"  # a PC as today: moved
        "THIN-20;1.02;;client\n"  # unknown: created
        "THIN-21;1.03;security;Client\n"  # any case of the kind; a role
    )
    before, audit_before = workstations(shared_hub), audit_count(shared_hub)
    dry = send(admin, text, dry_run=True)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert (report["dry_run"], report["imported"], report["rows"]) == (True, False, 3)
    assert [c["workstation_id"] for c in report["changed"]] == ["pc-1-05"]
    assert report["created"] == [
        {
            "line": 3,
            "workstation_id": "THIN-20",
            "site_id": 1,
            "room_number": "1.02",
            "role": "staff",
        },
        {
            "line": 4,
            "workstation_id": "THIN-21",
            "site_id": 1,
            "room_number": "1.03",
            "role": "security",
        },
    ]
    assert workstations(shared_hub) == before  # a dry run stores nothing
    assert audit_count(shared_hub) == audit_before

    real = send(admin, text, dry_run=False)
    assert real.status_code == 200, real.text
    assert real.json()["imported"] is True
    assert real.json()["created"] == report["created"]
    stored = {row[0]: row[1:] for row in workstations(shared_hub)}
    # As POST /session-clients makes them: active in their room, no device secret.
    assert stored["THIN-20"] == (room_id(shared_hub, "1.02"), "active", "staff", "")
    assert stored["THIN-21"] == (room_id(shared_hub, "1.03"), "active", "security", "")
    assert stored["pc-1-05"][0] == room_id(shared_hub, "1.04")
    created = {ws: (room, d) for ws, room, d in audit_of(shared_hub, "session_client_created")}
    assert created["THIN-20"] == (
        room_id(shared_hub, "1.02"),
        {"site_id": 1, "role": "staff", "source": "csv_import"},
    )
    assert created["THIN-21"][1]["role"] == "security"
    assert audit_of(shared_hub, "mapping_imported")[-1][2]["created"] == 2

    # A client row naming an existing client, in another spelling too, moves it.
    moved = send(admin, "workstation_id,room_number,kind\nthin-20,1.05,client\n", dry_run=False)
    assert moved.status_code == 200, moved.text
    assert moved.json()["created"] == []
    [change] = moved.json()["changed"]
    assert change["workstation_id"] == "THIN-20"
    assert change["changes"] == {"room_number": ["1.02", "1.05"]}
    assert sum(1 for row in workstations(shared_hub) if str(row[0]).lower() == "thin-20") == 1


@pytest.mark.parametrize(
    ("rows", "errors"),
    [
        (  # the same new name twice, in two spellings
            "THIN-31,1.02,client\nthin-31,1.03,client\n",
            [(4, "duplicate row: client THIN-31 is on line 3 too")],
        ),
        (
            "THIN 32,1.02,client\n",
            [(3, "bad client name 'THIN 32': letters, digits, '.', '_', '-' (at most 64)")],
        ),
        ("THIN-33,9.99,client\n", [(3, "unknown room '9.99'")]),
        ("THIN-34,,client\n", [(3, "missing room_number")]),
        ("THIN-35,1.02,\n", [(3, "unknown workstation 'THIN-35'")]),  # not a client: as today
        ("THIN-36,1.02,thin\n", [(3, "bad kind 'thin' (pc or client)")]),
    ],
)
def test_a_bad_client_row_is_refused_with_its_line_and_nothing_is_stored(
    shared_hub: RunningHub, admin: httpx.Client, rows: str, errors: list[tuple[int, str]]
) -> None:
    # Line 2 is a good new client: all rows or none.
    text = "hostname,room_number,kind\nTHIN-30,1.01,client\n" + rows
    before, audit_before = workstations(shared_hub), audit_count(shared_hub)
    for dry_run in (True, False):
        answer = send(admin, text, dry_run=dry_run)
        assert answer.status_code == 422, answer.text
        assert "nothing was imported" in answer.json()["detail"]
        found = [(e["line"], e["reason"]) for e in answer.json()["errors"]]
        assert found == errors
    assert workstations(shared_hub) == before
    assert audit_count(shared_hub) == audit_before


def test_a_client_row_with_a_site_finds_its_room_there(
    shared_hub: RunningHub, admin: httpx.Client
) -> None:
    before = workstations(shared_hub)
    refused = send(
        admin,
        "hostname,room_number,site_id,kind\nTHIN-40,1.02,7,client\nTHIN-41,1.02,x,client\n"
        "pc-1-01,1.02,7,\n",
        dry_run=True,
    )
    assert refused.status_code == 422, refused.text
    assert [(e["line"], e["reason"]) for e in refused.json()["errors"]] == [
        (2, "unknown room '1.02' at site 7"),
        (3, "bad site_id 'x'"),
        (4, "workstation pc-1-01 is at site 1, not 7"),
    ]
    assert workstations(shared_hub) == before
    made = send(admin, "hostname,room_number,site_id,kind\nTHIN-42,1.02,1,client\n", dry_run=False)
    assert made.status_code == 200, made.text
    assert made.json()["created"][0]["site_id"] == 1


async def test_a_session_from_a_client_the_csv_created_is_routed_by_its_room(
    shared_hub: RunningHub, admin: httpx.Client
) -> None:
    hub = shared_hub
    added = hub.cli("workstation", "add", "rds-csv", "--room", "1.05")
    assert added.returncode == 0, added.stderr
    imported = send(admin, "hostname,room_number,kind\nTHIN-50,1.01,client\n", dry_run=False)
    assert imported.status_code == 200, imported.text

    # The device's first session, in another spelling than the file's (Windows names
    # are case-blind), on a terminal server standing in 1.05.
    session = await connect_agent(
        hub.agent_ws_url,
        "rds-csv",
        added.stdout.strip(),
        user="Frau Sitzung",
        remote_session=RemoteSession(client_name="thin-50"),
    )
    async with agents_of(hub) as pc:
        try:
            assert session.welcome.workstation.workstation_id == "THIN-50"
            assert session.welcome.workstation.room is not None
            assert session.welcome.workstation.room.number == "1.01"
            neighbour = await pc("pc-1-02")
            raised = await session.raise_alarm(AlarmLevel.THREAT)
            await session.expect(AlarmStored, alarm_id=raised.alarm_id)
            popup = await neighbour.expect(AlarmNotify, alarm_id=raised.alarm_id)
            assert popup.room is not None
            assert popup.room.number == "1.01"
        finally:
            await session.close()
    [(raiser, number)] = query(
        hub,
        "SELECT a.workstation_id, r.number FROM alarms a JOIN rooms r ON r.id = a.room_id"
        " WHERE a.id = ?",
        str(raised.alarm_id),
    )
    assert (raiser, number) == ("THIN-50", "1.01")


def test_the_cli_import_creates_clients_and_says_so(shared_hub: RunningHub, tmp_path: Path) -> None:
    mapping = tmp_path / "clients.csv"
    mapping.write_text("hostname,room_number,kind\nTHIN-60,1.04,client\n", encoding="utf-8")
    before = workstations(shared_hub)
    dry = shared_hub.cli("mapping", "import", str(mapping), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "line 2: THIN-60: new client in room 1.04 of site 1" in dry.stdout
    assert "1 rows: would change 0, unchanged 0, would create 1 client(s)" in dry.stdout
    assert workstations(shared_hub) == before

    real = shared_hub.cli("mapping", "import", str(mapping))
    assert real.returncode == 0, real.stderr
    assert "created 1 client(s)" in real.stdout
    assert ",THIN-60,1.04,staff,active" in shared_hub.cli("mapping", "export").stdout

    again = shared_hub.cli("mapping", "import", str(mapping))  # now it exists: unchanged
    assert again.returncode == 0, again.stderr
    assert "unchanged 1, created 0 client(s)" in again.stdout
