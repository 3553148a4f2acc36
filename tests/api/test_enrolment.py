"""Enrolment codes, agent enrolment, room assignment and revocation against a real hub."""
# ruff: noqa: ASYNC212  # blocking httpx calls to another process: the test loop holds only the agent socket

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from websockets.exceptions import ConnectionClosed

from dispatch.store.database import Database
from dispatch.store.models import EnrolmentCode
from shared.protocol import CloseCode, utc_now
from tests.api.conftest import audit_details
from tests.support.hub import RunningHub, query
from tests.support.operators import API
from tests.support.waiting import wait_until
from tests.support.wsclient import connect_agent, wait_closed


def new_code(admin: httpx.Client, **body: object) -> str:
    response = admin.post(f"{API}/enrolment-codes", json={"site_id": 1, **body})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    code: str = response.json()["codes"][0]["code"]
    return code


def enrol(
    hub: RunningHub,
    code: str,
    hostname: str = "PC-Neu-01",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{hub.url}{API}/enrol",
        json={"code": code, "hostname": hostname, "agent_version": "1.2.3"},
        headers=headers,
        timeout=10,
    )


def workstation(admin: httpx.Client, workstation_id: str) -> dict[str, object]:
    response = admin.get(f"{API}/workstations/{workstation_id}")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def workstation_count(hub: RunningHub) -> int:
    (count,) = query(hub, "SELECT count(*) FROM workstations")[0]
    assert isinstance(count, int)
    return count


async def test_enrolled_pc_connects_pending_and_becomes_active_with_a_room(
    admin_hub: RunningHub, admin: httpx.Client
) -> None:
    code = new_code(admin)
    listed = admin.get(f"{API}/enrolment-codes").json()
    assert [c["status"] for c in listed] == ["unused"]
    assert code not in str(listed)
    assert code.replace("-", "") not in str(query(admin_hub, "SELECT * FROM enrolment_codes"))

    answer = enrol(admin_hub, code.lower().replace("-", " "), "PC-Neu-01.amt.example")
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    enrolled = answer.json()
    assert (enrolled["workstation_id"], enrolled["state"]) == ("pc-neu-01", "pending")
    secret = enrolled["secret"]
    assert len(secret) >= 43  # 256 bits, url-safe base64
    stored = query(admin_hub, "SELECT token_hash FROM workstations WHERE id = 'pc-neu-01'")
    assert secret not in str(stored)

    agent = await connect_agent(admin_hub.agent_ws_url, "pc-neu-01", secret)
    try:
        assert agent.welcome.workstation.room is None  # pending: no room yet
        wait_until(lambda: workstation(admin, "pc-neu-01")["online"], what="shown online")
        listed_ws = workstation(admin, "pc-neu-01")
        assert listed_ws["state"] == "pending"
        assert listed_ws["hostname"] == "PC-Neu-01.amt.example"
        coverage = admin.get(f"{API}/coverage").json()
        assert "pc-neu-01" in [w["id"] for w in coverage["unassigned"]]
    finally:
        await agent.close()

    # The code is spent: a second use is refused and writes nothing.
    before = workstation_count(admin_hub)
    again = enrol(admin_hub, code, "PC-Neu-02")
    assert again.status_code == 403
    assert again.json()["detail"] == "enrolment refused: enrolment code already used"
    assert workstation_count(admin_hub) == before
    assert [c["status"] for c in admin.get(f"{API}/enrolment-codes").json()] == ["used"]

    # Same hostname again (a re-imaged PC): a new id with a suffix.
    twin = enrol(admin_hub, new_code(admin), "pc-neu-01").json()
    assert twin["workstation_id"] == "pc-neu-01-2"

    assigned = admin.patch(f"{API}/workstations/pc-neu-01", json={"room_id": 3})
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["state"], assigned.json()["room_number"]) == ("active", "1.02")
    agent = await connect_agent(admin_hub.agent_ws_url, "pc-neu-01", secret)
    try:
        assert agent.welcome.workstation.room is not None
        assert agent.welcome.workstation.room.number == "1.02"
        wait_until(lambda: workstation(admin, "pc-neu-01")["online"], what="shown online")
        rooms = {r["number"]: r for r in admin.get(f"{API}/coverage").json()["rooms"]}
        assert "pc-neu-01" in [w["id"] for w in rooms["1.02"]["workstations"]]
        assert rooms["1.02"]["protected"]
    finally:
        await agent.close()

    trail = audit_details(admin_hub)
    assert "workstation_enrolled" in trail
    assert "workstation_changed" in trail
    for secret_text in (code, code.replace("-", ""), secret):
        assert secret_text not in trail
        assert secret_text not in admin_hub.log()


async def test_a_code_with_a_room_enrols_an_active_pc(
    admin_hub: RunningHub, admin: httpx.Client
) -> None:
    enrolled = enrol(admin_hub, new_code(admin, room_id=4, hours=1), "pc-raum-103").json()
    assert enrolled["state"] == "active"
    agent = await connect_agent(
        admin_hub.agent_ws_url, enrolled["workstation_id"], enrolled["secret"]
    )
    try:
        assert agent.welcome.workstation.room is not None
        assert agent.welcome.workstation.room.number == "1.03"
    finally:
        await agent.close()


async def test_expired_and_withdrawn_codes_are_refused(
    admin_hub: RunningHub, admin: httpx.Client
) -> None:
    expired = new_code(admin)
    db = Database(f"sqlite+aiosqlite:///{admin_hub.data_dir / 'dispatch.sqlite3'}")
    try:
        async with db.write() as session:  # 25 hours later, as far as the code is concerned
            await session.execute(
                update(EnrolmentCode).values(expires_at=utc_now() - timedelta(hours=1))
            )
    finally:
        await db.dispose()
    before = workstation_count(admin_hub)
    refused = enrol(admin_hub, expired)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "enrolment refused: enrolment code expired"

    withdrawn = new_code(admin)
    code_id = admin.get(f"{API}/enrolment-codes").json()[-1]["id"]
    assert admin.delete(f"{API}/enrolment-codes/{code_id}").json()["status"] == "expired"
    assert enrol(admin_hub, withdrawn).status_code == 403
    unknown = enrol(admin_hub, "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")
    assert unknown.json()["detail"] == "enrolment refused: unknown enrolment code"
    assert workstation_count(admin_hub) == before


def test_code_guessing_is_limited_per_address(admin_hub: RunningHub, admin: httpx.Client) -> None:
    valid = new_code(admin)
    for attempt in range(10):
        assert enrol(admin_hub, f"GUESS-{attempt:04d}").status_code == 403
    limited = enrol(admin_hub, valid)  # even a right code waits until the window passes
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "too many failed enrolments" in limited.json()["detail"]


def test_a_forged_forwarded_for_does_not_escape_the_limit(
    admin_hub: RunningHub, admin: httpx.Client
) -> None:
    """The attack: a client on the hub's own machine claims a new address per guess."""
    valid = new_code(admin)
    for attempt in range(10):
        forged = {"X-Forwarded-For": f"198.51.100.{attempt}"}
        assert enrol(admin_hub, f"GUESS-{attempt:04d}", headers=forged).status_code == 403
    limited = enrol(admin_hub, valid, headers={"X-Forwarded-For": "198.51.100.99"})
    assert limited.status_code == 429


async def test_revoke_closes_the_live_socket_at_once_and_the_secret_stops_working(
    admin_hub: RunningHub, admin: httpx.Client
) -> None:
    token = admin_hub.agent_config("pc-1-01")["token"]
    agent = await connect_agent(admin_hub.agent_ws_url, "pc-1-01", token)
    wait_until(lambda: workstation(admin, "pc-1-01")["online"], what="shown online")
    started = time.monotonic()
    revoking = asyncio.create_task(
        asyncio.to_thread(admin.post, f"{API}/workstations/pc-1-01/revoke")
    )
    code, reason = await wait_closed(agent.connection, timeout=5)
    took = time.monotonic() - started
    response = await revoking
    print(f"\nrevoke -> close 4410: {took * 1000:.1f} ms")
    assert (code, reason) == (CloseCode.REVOKED, "revoked")
    assert took <= 5.0
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["closed_connections"] == 1
    assert body["workstation"]["state"] == "revoked"
    assert body["workstation"]["revoked_at"] is not None
    assert body["workstation"]["online"] is False

    with pytest.raises(ConnectionClosed) as refused:
        await connect_agent(admin_hub.agent_ws_url, "pc-1-01", token)
    assert refused.value.rcvd is not None
    assert refused.value.rcvd.code == CloseCode.UNAUTHORIZED

    assert admin.patch(f"{API}/workstations/pc-1-01", json={"room_id": 3}).status_code == 409
    again = admin.post(f"{API}/workstations/pc-1-01/revoke")
    assert again.status_code == 200
    assert again.json()["closed_connections"] == 0
    assert audit_details(admin_hub).count("workstation_revoked") == 1


def test_workstation_list_and_role(admin: httpx.Client, guard: httpx.Client) -> None:
    listed = guard.get(f"{API}/workstations").json()
    assert {w["id"] for w in listed} >= {"pc-e-01", "pc-1-01"}
    entry = next(w for w in listed if w["id"] == "pc-e-01")
    assert (entry["role"], entry["room_number"], entry["state"]) == ("security", "E.01", "active")
    assert (
        admin.patch(f"{API}/workstations/pc-1-05", json={"role": "security"}).json()["role"]
        == "security"
    )
    assert admin.patch(f"{API}/workstations/pc-1-05", json={"role": "chef"}).status_code == 422
    assert admin.patch(f"{API}/workstations/nix", json={"role": "staff"}).status_code == 404
    assert admin.patch(f"{API}/workstations/pc-1-05", json={"room_id": 999}).status_code == 422


def test_cli_creates_codes_and_revokes(admin_hub: RunningHub) -> None:
    created = admin_hub.cli("enrolment-code", "create", "--site", "1", "--room", "1.02")
    assert created.returncode == 0, created.stderr
    code = created.stdout.strip()
    assert len(code) == 29  # 24 base32 characters in groups of four
    enrolled = enrol(admin_hub, code, "pc-cli").json()
    assert (enrolled["workstation_id"], enrolled["state"]) == ("pc-cli", "active")
    bad = admin_hub.cli("enrolment-code", "create", "--site", "1", "--room", "9.99")
    database = admin_hub.data_dir / "dispatch.sqlite3"
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        f"silent-alarm-dispatch: no room 9.99 at site 1 (database {database})",
    )
    too_long = admin_hub.cli("enrolment-code", "create", "--site", "1", "--hours", "500")
    assert too_long.returncode == 2
    revoked = admin_hub.cli("workstation", "revoke", "pc-cli")
    assert revoked.returncode == 0, revoked.stderr
    assert query(admin_hub, "SELECT state FROM workstations WHERE id = 'pc-cli'") == [("revoked",)]
    unknown = admin_hub.cli("workstation", "revoke", "pc-nix")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        f"silent-alarm-dispatch: no workstation pc-nix (database {database})",
    )
