"""Every admin endpoint checks session, role and CSRF.

Guards read the topology; admins write it. Emergency managers also read the
statistics and incidents and schedule drills; any operator may write the
incident report of an alarm they resolved.
"""

from __future__ import annotations

import re

import httpx
import pytest

from dispatch.app import create_app
from dispatch.settings import Settings
from tests.api.conftest import audit_count
from tests.support.hub import RunningHub
from tests.support.operators import ADMIN, API, MANAGER, api_client

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PATH_VALUES = {"workstation_id": "pc-1-01", "other_id": "3"}
PUBLIC = {
    ("POST", f"{API}/enrol"),  # the enrolment code is the credential
    ("POST", f"{API}/webpush/alarms/{{alarm_id}}/acknowledge"),  # the push's token is
}


def _api_routes() -> list[tuple[str, str]]:
    """Every documented (method, path) under /api/v1, straight from the app's OpenAPI schema."""
    schema = create_app(Settings(session_secret="x" * 40)).openapi()
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith(API)
        for method in operations
    ]


ROUTES = _api_routes()
WRITES = [r for r in ROUTES if r[0] in WRITE_METHODS and r not in PUBLIC]
READS = [r for r in ROUTES if r[0] == "GET"]
SESSION_ROUTES = [r for r in ROUTES if r not in PUBLIC]  # tests/api/test_enrolment.py: the rest
ADMIN_ONLY_READS = {
    f"{API}/operators",
    f"{API}/operators/{{operator_id}}",
    f"{API}/enrolment-codes",
}
MANAGER_READS = {  # figures and incidents: emergency managers and admins, never guards
    f"{API}/statistics",
    f"{API}/statistics.csv",
    f"{API}/incidents",
    f"{API}/drills",
    f"{API}/drills/{{drill_id}}/report",
}
GUARD_WRITES = {
    ("PUT", f"{API}/alarms/{{alarm_id}}/report"),  # the resolving guard's report
    # issue 20: any operator subscribes their own browsers to pushes
    ("POST", f"{API}/webpush/subscriptions"),
    ("POST", f"{API}/webpush/unsubscribe"),
    ("POST", f"{API}/webpush/test"),
}
MANAGER_WRITES = {("POST", f"{API}/drills"), ("DELETE", f"{API}/drills/{{drill_id}}")}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), path)


def test_the_route_list_is_complete() -> None:
    assert len(WRITES) >= 20
    assert ("POST", f"{API}/workstations/{{workstation_id}}/revoke") in WRITES
    assert ("POST", f"{API}/workstations/import") in WRITES


NOT_FOR_GUARDS = [r for r in WRITES if r not in GUARD_WRITES]
ADMIN_WRITES = [r for r in NOT_FOR_GUARDS if r not in MANAGER_WRITES]


def test_the_role_tables_name_real_routes() -> None:
    assert set(WRITES) >= GUARD_WRITES | MANAGER_WRITES
    assert {path for _, path in READS} >= MANAGER_READS


@pytest.mark.parametrize(
    ("method", "path"), NOT_FOR_GUARDS, ids=[f"{m} {p}" for m, p in NOT_FOR_GUARDS]
)
def test_guard_may_not_write(shared_hub: RunningHub, method: str, path: str) -> None:
    before = audit_count(shared_hub)
    with api_client(shared_hub, shared_hub.login.username, shared_hub.login.password) as guard:
        response = guard.request(method, _url(path), json={})
    assert response.status_code == 403, response.text
    assert "role guard may not" in response.json()["detail"]
    assert audit_count(shared_hub) == before + 1  # only the login itself


@pytest.mark.parametrize(
    ("method", "path"), ADMIN_WRITES, ids=[f"{m} {p}" for m, p in ADMIN_WRITES]
)
def test_emergency_manager_may_not_write(shared_hub: RunningHub, method: str, path: str) -> None:
    with api_client(shared_hub, *MANAGER) as manager:
        response = manager.request(method, _url(path), json={})
    assert response.status_code == 403, response.text


@pytest.mark.parametrize(
    ("method", "path"), SESSION_ROUTES, ids=[f"{m} {p}" for m, p in SESSION_ROUTES]
)
def test_no_session_is_401(shared_hub: RunningHub, method: str, path: str) -> None:
    with httpx.Client(base_url=shared_hub.url, timeout=10) as anonymous:
        response = anonymous.request(method, _url(path), json={} if method != "GET" else None)
    assert response.status_code == 401, response.text
    assert response.json()["detail"].startswith("not logged in")


@pytest.mark.parametrize(("method", "path"), READS, ids=[f"{m} {p}" for m, p in READS])
def test_guard_reads_rooms_workstations_and_coverage(
    shared_hub: RunningHub, method: str, path: str
) -> None:
    with api_client(shared_hub, shared_hub.login.username, shared_hub.login.password) as guard:
        response = guard.get(_url(path))
    if path in ADMIN_ONLY_READS | MANAGER_READS:
        assert response.status_code == 403, response.text
    else:
        assert response.status_code in (200, 404), response.text


@pytest.mark.parametrize("token", [None, "", "falsch"])
def test_admin_write_without_the_right_csrf_token_is_refused(
    shared_hub: RunningHub, token: str | None
) -> None:
    with api_client(shared_hub, *ADMIN) as admin:
        rooms_before = admin.get(f"{API}/rooms").json()
        audit_before = audit_count(shared_hub)
        if token is None:
            del admin.headers["x-csrf-token"]
        else:
            admin.headers["x-csrf-token"] = token
        for method, path, body in (
            ("POST", f"{API}/rooms", {"floor_id": 2, "number": "9.99", "name": "Neu"}),
            ("PATCH", f"{API}/rooms/2", {"name": "Umbenannt"}),
            ("DELETE", f"{API}/rooms/2", None),
            ("POST", f"{API}/workstations/pc-1-01/revoke", None),
        ):
            response = admin.request(method, path, json=body)
            assert response.status_code == 403, response.text
            assert "CSRF" in response.json()["detail"]
        assert admin.get(f"{API}/rooms").json() == rooms_before
        assert admin.get(f"{API}/workstations/pc-1-01").json()["state"] == "active"
        assert audit_count(shared_hub) == audit_before


def test_a_csrf_token_from_another_session_is_refused(shared_hub: RunningHub) -> None:
    with api_client(shared_hub, *ADMIN) as first, api_client(shared_hub, *ADMIN) as second:
        foreign = first.headers["x-csrf-token"]
        assert foreign != second.headers["x-csrf-token"]
        response = second.patch(
            f"{API}/rooms/2", json={"name": "X"}, headers={"X-CSRF-Token": foreign}
        )
        assert response.status_code == 403


def test_openapi_documents_the_api(shared_hub: RunningHub) -> None:
    schema = httpx.get(f"{shared_hub.url}/openapi.json", timeout=10).json()
    paths = schema["paths"]
    assert f"{API}/enrol" in paths
    assert f"{API}/rooms/{{room_id}}/neighbours/{{other_id}}" in paths
    operator_in = schema["components"]["schemas"]["OperatorIn"]
    assert "password" in operator_in["properties"]
    assert "password" not in schema["components"]["schemas"]["OperatorOut"]["properties"]
    assert "password_hash" not in schema["components"]["schemas"]["OperatorOut"]["properties"]


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_page_loads_third_party_scripts_onto_the_hubs_origin(
    shared_hub: RunningHub, path: str
) -> None:
    """FastAPI's Swagger UI and ReDoc pages pull their scripts from a CDN."""
    assert httpx.get(f"{shared_hub.url}{path}", timeout=10).status_code == 404
