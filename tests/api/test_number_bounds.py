"""Numbers out of range are a 422 naming the field, never a 500, and change nothing.

The table comes from the hub's own OpenAPI schema: every integer id in a path,
a query or a JSON body of /api/v1, so a new route or field is covered without
being listed here. An id past 64 bits reached the SQLite driver, which raised
OverflowError (a 500); JSON's 1e999 reads as infinity, NaN and Infinity as
themselves, and none of them may be stored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatch.app import create_app
from dispatch.settings import Settings
from dispatch.web.api.schemas import LARGEST_ID
from tests.support.commands import dispatch_cli
from tests.support.hub import RunningHub, postgres_database, query, start_demo_hub
from tests.support.operators import ADMIN, API, api_client

TOO_LARGE = 2**70  # past 64 bits: what SQLite's driver could not take
NOT_FINITE = ("1e999", "-1e999", "NaN", "Infinity", "-Infinity")

SCHEMA = create_app(Settings(session_secret="x" * 40)).openapi()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16

# Existing rows of the demo site (dispatch/demo.py), for the parameters a case does not test.
KNOWN = {"room_id": 2, "other_id": 3, "level": 1, "workstation_id": "pc-1-01"}
KNOWN_ALARM = str(uuid.UUID(int=15))  # no such alarm: its routes answer 404 for any id


def _drill() -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(days=30)
    return {
        "title": "Probealarm",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "scopes": ["security"],
    }


# A valid request body per operation that needs one, so that an id case reaches the lookup.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", f"{API}/operators"): {
        "json": {
            "username": "zahlen",
            "display_name": "Zahlen",
            "role": "guard",
            "password": "zahlen-passwort-1234",
        }
    },
    ("PATCH", f"{API}/operators/{{operator_id}}"): {"json": {}},
    ("POST", f"{API}/sites"): {"json": {"name": "Zahlenhaus"}},
    ("PATCH", f"{API}/sites/{{site_id}}"): {"json": {}},
    ("POST", f"{API}/buildings"): {"json": {"name": "Haus Z"}},
    ("PATCH", f"{API}/buildings/{{building_id}}"): {"json": {}},
    ("POST", f"{API}/floors"): {"json": {"name": "Z-OG"}},
    ("PATCH", f"{API}/floors/{{floor_id}}"): {"json": {}},
    ("PUT", f"{API}/sites/{{site_id}}/policies/{{level}}"): {
        "json": {"scopes": ["security"], "cancel_window_s": 0}
    },
    ("POST", f"{API}/rooms"): {"json": {"number": "Z.01", "name": "Zahlenraum"}},
    ("PATCH", f"{API}/rooms/{{room_id}}"): {"json": {}},
    ("PUT", f"{API}/rooms/{{room_id}}/neighbours/{{other_id}}"): {"json": {"kind": "link"}},
    ("PATCH", f"{API}/workstations/{{workstation_id}}"): {"json": {}},
    ("POST", f"{API}/enrolment-codes"): {"json": {"site_id": 1}},
    ("POST", f"{API}/session-clients"): {"json": {"client_name": "ZAHL-THIN", "room_id": 1}},
    ("PUT", f"{API}/floors/{{floor_id}}/plan"): {
        "files": {"file": ("plan.png", PNG, "image/png")},
        "data": {"width_m": "10", "height_m": "10"},
    },
    ("POST", f"{API}/floors/{{floor_id}}/entrances"): {
        "json": {"label": "Eingang Z", "x_m": 1, "y_m": 1}
    },
    ("PATCH", f"{API}/entrances/{{entrance_id}}"): {"json": {}},
    ("PUT", f"{API}/alarms/{{alarm_id}}/report"): {"json": {"assessed_level": 1}},
    ("POST", f"{API}/drills"): {"json": {"site_id": 1}},
    ("POST", f"{API}/sites/{{site_id}}/channel-recipients"): {
        "json": {"level": 2, "channel": "email", "address": "a@example.org", "audience": "staff"}
    },
    # issue 20, Web Push: no ids in these bodies; a browser's subscription as it sends it
    ("POST", f"{API}/webpush/subscriptions"): {
        "json": {
            "endpoint": "https://fcm.googleapis.com/fcm/send/zahlen",
            "keys": {
                "p256dh": "BAmn45uzi56-sUd1umCJd3iI9_f2XSjeK6OJj9GSmSBcpsTw_XuwhQa6Jt_"
                "rvcuZgBcWy4CBJbo2CfyeITAsjos",
                "auth": "AAAAAAAAAAAAAAAAAAAAAA",
            },
        }
    },
    ("POST", f"{API}/webpush/unsubscribe"): {
        "json": {"endpoint": "https://fcm.googleapis.com/fcm/send/zahlen"}
    },
    ("POST", f"{API}/webpush/test"): {"json": {"lang": "de"}},
    ("POST", f"{API}/webpush/alarms/{{alarm_id}}/acknowledge"): {"json": {"token": "zahlen"}},
}
DYNAMIC_BODIES = {("POST", f"{API}/drills"): _drill}  # its times must lie ahead


@dataclass(frozen=True)
class IdField:
    """One integer id an operation takes: where it goes and under which name."""

    method: str
    path: str
    where: str  # "path", "query" or "body"
    name: str
    is_list: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.where}:{self.name}"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved: dict[str, Any] = SCHEMA["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return resolved
    return schema


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema itself, or the members of its anyOf (``Id | None``)."""
    members: list[dict[str, Any]] = schema.get("anyOf", [schema])
    return [_resolve(member) for member in members]


def _is_integer(schema: dict[str, Any]) -> bool:
    return any(v.get("type") == "integer" for v in _variants(schema))


def _json_body(operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return {}
    properties: dict[str, Any] = _resolve(content["application/json"]["schema"]).get(
        "properties", {}
    )
    return properties


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def _id_fields() -> list[IdField]:
    found = []
    for method, path, operation in _operations():
        for parameter in operation.get("parameters", []):
            name = parameter["name"]
            if name.endswith("_id") and _is_integer(parameter["schema"]):
                found.append(IdField(method, path, parameter["in"], name))
        for name, schema in _json_body(operation).items():
            if name.endswith("_id") and _is_integer(schema):
                found.append(IdField(method, path, "body", name))
            elif name.endswith("_ids") and any(
                v.get("type") == "array" and _is_integer(v["items"]) for v in _variants(schema)
            ):
                found.append(IdField(method, path, "body", name, is_list=True))
    return found


def _number_fields() -> list[tuple[str, str, str]]:
    """Every number in a JSON body, ids included: (method, path, field)."""
    return [
        (method, path, name)
        for method, path, operation in _operations()
        for name, schema in _json_body(operation).items()
        if any(v.get("type") in ("integer", "number") for v in _variants(schema))
    ]


ID_FIELDS = _id_fields()
NUMBER_FIELDS = _number_fields()


def test_the_tables_hold_every_kind_of_id() -> None:
    """The schema's ids are found in paths, queries, bodies and body lists."""
    names = {str(f) for f in ID_FIELDS}
    assert f"GET {API}/sites/{{site_id}} path:site_id" in names
    assert f"GET {API}/rooms query:floor_id" in names
    assert f"PATCH {API}/workstations/{{workstation_id}} body:room_id" in names
    assert f"POST {API}/operators body:site_ids" in names
    assert len(ID_FIELDS) >= 50  # 53 when written
    assert ("POST", f"{API}/sites", "neighbour_radius_m") in NUMBER_FIELDS
    assert ("POST", f"{API}/enrolment-codes", "hours") in NUMBER_FIELDS


def test_every_required_body_has_a_valid_example() -> None:
    """A new operation with a body needs one here, or its id cases would test nothing."""
    needing = {
        (method, path)
        for method, path, operation in _operations()
        if operation.get("requestBody", {}).get("required")
        and path != f"{API}/enrol"
        and path != f"{API}/workstations/import"
    }
    assert needing <= set(VALID_BODIES)


# --- the hub -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(shared_hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(shared_hub, *ADMIN) as client:
        yield client


def snapshot(hub: RunningHub) -> dict[str, list[str]]:
    """Every row of every table, as text (the hub's SQLite store read beside it)."""
    tables = [name for (name,) in query(hub, "SELECT name FROM sqlite_master WHERE type='table'")]
    # The names come from sqlite_master, not from a request.
    return {
        str(table): sorted(repr(row) for row in query(hub, f'SELECT * FROM "{table}"'))  # noqa: S608
        for table in tables
    }


def _request(
    client: httpx.Client, field: IdField, value: int | None, raw_body: str | None = None
) -> httpx.Response:
    """The operation with ``value`` in ``field`` and known values everywhere else."""
    key = (field.method, field.path)
    path_values = {**KNOWN, "alarm_id": KNOWN_ALARM}
    if field.where == "path":
        path_values[field.name] = value
    url = re.sub(r"\{(\w+)\}", lambda m: str(path_values.get(m.group(1), 1)), field.path)
    params = {field.name: str(value)} if field.where == "query" else {}
    body = dict(VALID_BODIES.get(key, {}))
    if key in DYNAMIC_BODIES:
        body["json"] = {**DYNAMIC_BODIES[key](), **body["json"]}
    if field.where == "body":
        body["json"] = {**body.get("json", {}), field.name: [value] if field.is_list else value}
    return client.request(field.method, url, params=params, **body)


def _names_the_field(response: httpx.Response, field: IdField) -> bool:
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    return any(error["loc"][0] == field.where and field.name in error["loc"] for error in detail)


@pytest.mark.parametrize(
    "value", [LARGEST_ID + 1, TOO_LARGE, 0, -1], ids=["2**31", "2**70", "0", "-1"]
)
def test_ids_out_of_range_are_refused(
    shared_hub: RunningHub, admin: httpx.Client, value: int
) -> None:
    """For every id of every operation: 422 naming the field, the number not echoed, nothing
    stored."""
    before = snapshot(shared_hub)
    wrong = []
    for field in ID_FIELDS:
        response = _request(admin, field, value)
        if response.status_code != 422 or not _names_the_field(response, field):
            wrong.append(f"{field}: {response.status_code} {response.text[:200]}")
        elif str(value) in response.text and value != 0:
            wrong.append(f"{field}: echoes the number")
    assert not wrong, "\n".join(wrong)
    assert snapshot(shared_hub) == before


def _not_found(response: httpx.Response) -> bool:
    """The route's answer for an id that names no row: 404, a service's 422 in words (not a
    validation error), or an empty list from a filter."""
    if response.status_code == 404:
        return True
    if response.status_code == 422:
        return isinstance(response.json()["detail"], str)
    if response.status_code == 200 and response.headers["content-type"].startswith("text/csv"):
        return True  # a CSV is only ever produced for an existing site (404 before)
    if response.status_code == 200:
        body = response.json()
        return body == [] or (isinstance(body, dict) and body.get("rooms") == [])
    return False


def test_the_largest_id_is_looked_up_and_not_found(
    shared_hub: RunningHub, admin: httpx.Client
) -> None:
    """The largest id (2**31-1) passes the bound and reaches the database, which finds no
    such row."""
    before = snapshot(shared_hub)
    wrong = [
        f"{field}: {response.status_code} {response.text[:200]}"
        for field in ID_FIELDS
        if not _not_found(response := _request(admin, field, LARGEST_ID))
    ]
    assert not wrong, "\n".join(wrong)
    assert snapshot(shared_hub) == before


@pytest.mark.postgres
def test_the_largest_id_is_not_found_on_postgresql(tmp_path: Path) -> None:
    """PostgreSQL's INTEGER ids are 32 bits and asyncpg refuses a larger parameter (a 500):
    the bound is what this backend holds, so the largest id is looked up and not found."""
    with postgres_database("silent_alarm_bounds") as url:
        hub = start_demo_hub(tmp_path / "hub", env={"SILENT_ALARM_DATABASE_URL": url})
        try:
            added = dispatch_cli(
                *("operator", "add", ADMIN[0], "--role", "admin", "--name", "Admin"),
                stdin=ADMIN[1] + "\n",
                env={"SILENT_ALARM_DATA_DIR": str(hub.data_dir), "SILENT_ALARM_DATABASE_URL": url},
            )
            assert added.returncode == 0, added.stderr
            with api_client(hub, *ADMIN) as client:
                wrong = [
                    f"{field}: {response.status_code} {response.text[:200]}"
                    for field in ID_FIELDS
                    if not _not_found(response := _request(client, field, LARGEST_ID))
                ]
                refused = _request(client, ID_FIELDS[0], LARGEST_ID + 1)
        finally:
            hub.stop()
    assert not wrong, "\n".join(wrong)
    assert refused.status_code == 422


def test_non_finite_numbers_are_refused(shared_hub: RunningHub, admin: httpx.Client) -> None:
    """1e999, NaN and Infinity as raw JSON in every number field of every body: 422 naming
    the field, nothing stored."""
    before = snapshot(shared_hub)
    wrong = []
    for method, path, name in NUMBER_FIELDS:
        url = re.sub(r"\{(\w+)\}", lambda m: str(KNOWN.get(m.group(1), 1)), path)
        for number in NOT_FINITE:
            response = admin.request(
                method,
                url,
                content=f'{{"{name}": {number}}}',
                headers={"Content-Type": "application/json"},
            )
            field = IdField(method, path, "body", name)
            if response.status_code != 422 or not _names_the_field(response, field):
                wrong.append(f"{method} {path} {name}={number}: {response.status_code}")
    assert not wrong, "\n".join(wrong)
    assert snapshot(shared_hub) == before


@pytest.mark.parametrize(
    "body",
    [
        '{"code": 1e999, "hostname": "pc-z", "agent_version": "1.0"}',
        '{"code": "abc", "hostname": NaN, "agent_version": "1.0"}',
        '{"code": "abc", "hostname": "pc-z", "agent_version": Infinity}',
        "1e999",
        "-Infinity",
    ],
)
def test_non_finite_numbers_are_refused_to_anyone_enrolling(
    shared_hub: RunningHub, body: str
) -> None:
    """The anonymous enrolment takes raw JSON from anyone on the LAN: 422, nothing stored."""
    before = snapshot(shared_hub)
    response = httpx.post(
        f"{shared_hub.url}{API}/enrol",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert not any(word in response.text for word in ("1e999", "NaN", "Infinity"))
    assert snapshot(shared_hub) == before


@pytest.mark.parametrize("value", [TOO_LARGE, 0])
def test_the_floor_page_refuses_an_id_out_of_range(
    shared_hub: RunningHub, admin: httpx.Client, value: int
) -> None:
    """/admin/floors/{floor_id}, the console's one page with an id, is held to the same bound."""
    response = admin.get(f"/admin/floors/{value}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["path", "floor_id"]
    assert str(TOO_LARGE) not in response.text
    assert admin.get(f"/admin/floors/{LARGEST_ID}").status_code == 200  # the page's shell


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("/console/statistics?site_id=%C2%B2", "gibt es nicht"),  # "²"
        ("/console/reports/yearly?year=%C2%B2%E2%81%B0%C2%B2%E2%81%B6", "ist ungültig"),  # "²⁰²⁶"
    ],
    ids=["site", "year"],
)
def test_the_statistics_pages_refuse_digits_that_are_not_ascii(
    admin: httpx.Client, url: str, refusal: str
) -> None:
    """str.isdigit() takes "²", int() does not: the page says the filter is wrong (was a 500)."""
    response = admin.get(url)
    assert response.status_code == 422, response.text[:300]
    assert refusal in response.text
