"""Drills on the real hub: scheduling rules, roles, deletion, and the per-recipient drill report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.domain import AlarmLevel, Answer
from tests.api.conftest import audit_count
from tests.support.alarmdriver import AlarmDriver
from tests.support.hub import RunningHub, query
from tests.support.operators import API, MANAGER, add_operator, api_client


def drill(minutes_from_now: float = 60, hours: float = 1, **changes: Any) -> dict[str, Any]:
    start = datetime.now().astimezone() + timedelta(minutes=minutes_from_now)
    return {
        "site_id": 1,
        "title": "Räumungsübung 1. OG",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=hours)).isoformat(),
        "scopes": ["neighbours", "security"],
        **changes,
    }


@pytest.fixture
def manager(demo_hub: RunningHub) -> Iterator[httpx.Client]:
    add_operator(demo_hub, *MANAGER, "emergency_manager")
    with api_client(demo_hub, *MANAGER) as client:
        yield client


def drill_rows(hub: RunningHub) -> list[tuple[object, ...]]:
    return query(hub, "SELECT * FROM drills")


def test_bad_drills_are_422_with_a_message_and_write_nothing(
    demo_hub: RunningHub, manager: httpx.Client
) -> None:
    before = audit_count(demo_hub)
    now = datetime.now().astimezone()
    cases: list[tuple[dict[str, Any], str]] = [
        (drill(hours=-1), "ends_at must be after starts_at"),
        (drill(hours=8.5), "a drill may last at most 8 hours"),
        (drill(scopes=[]), "scopes"),
        (drill(scopes=["everyone"]), '"loc":["body","scopes",0]'),  # the value is not echoed
        (drill(site_id=77), "site_id 77: no such site"),
        (drill(title="  "), "title"),
        (drill(starts_at="2026-05-01T10:00:00"), "timezone"),
        (drill(unknown=1), "unknown"),
        (
            drill(
                starts_at=(now - timedelta(hours=3)).isoformat(),
                ends_at=(now - timedelta(hours=2)).isoformat(),
            ),
            "ends_at is in the past",
        ),
    ]
    for body, message in cases:
        response = manager.post(f"{API}/drills", json=body)
        assert response.status_code == 422, (body, response.text)
        assert message in response.text, response.text
    assert drill_rows(demo_hub) == []
    assert audit_count(demo_hub) == before


def test_roles_create_list_overlap_and_delete(
    demo_hub: RunningHub, manager: httpx.Client, guard: httpx.Client
) -> None:
    assert guard.get(f"{API}/drills").status_code == 403
    refused = guard.post(f"{API}/drills", json=drill())
    assert refused.status_code == 403
    assert "role guard may not" in refused.json()["detail"]

    created = manager.post(f"{API}/drills", json=drill())
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "planned"
    assert body["scopes"] == ["neighbours", "security"]
    assert body["created_by"] == "Notfall"
    assert [d["id"] for d in manager.get(f"{API}/drills").json()] == [body["id"]]

    overlap = manager.post(f"{API}/drills", json=drill(minutes_from_now=90))
    assert overlap.status_code == 409
    assert f"overlaps drill {body['id']}" in overlap.json()["detail"]
    assert len(drill_rows(demo_hub)) == 1

    assert manager.delete(f"{API}/drills/999").status_code == 404
    assert manager.delete(f"{API}/drills/{body['id']}").status_code == 204
    assert drill_rows(demo_hub) == []
    actions = [
        (action, json.loads(str(detail))["drill_id"])
        for action, detail in query(
            demo_hub,
            "SELECT action, detail FROM audit_events WHERE action LIKE 'drill_%' ORDER BY id",
        )
    ]
    assert actions == [("drill_created", body["id"]), ("drill_deleted", body["id"])]


def test_running_drill_report_per_recipient_and_no_delete(
    demo_hub: RunningHub, manager: httpx.Client, alarm_driver: AlarmDriver
) -> None:
    created = manager.post(
        f"{API}/drills", json=drill(minutes_from_now=-1, scopes=["neighbours", "security"])
    )
    assert created.status_code == 201, created.text
    drill_id = created.json()["id"]
    assert created.json()["status"] == "running"

    alarm_id = alarm_driver.raise_alarm("pc-1-01", AlarmLevel.THREAT, kind="drill")
    alarm_driver.answer("pc-1-02", alarm_id, Answer.COMING)
    alarm_driver.answer("pc-e-01", alarm_id, Answer.COMING)
    alarm_driver.answer("pc-e-01", alarm_id, Answer.ARRIVED)

    report = manager.get(f"{API}/drills/{drill_id}/report")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["drill"]["alarms"] == 1
    (entry,) = body["alarms"]
    assert entry["alarm_id"] == str(alarm_id)
    assert entry["room"]["number"] == "1.01"
    by_ws = {r["workstation_id"]: r for r in entry["recipients"]}
    assert set(by_ws) == {"pc-1-02", "pc-e-01"}  # the drill's circle: neighbour and security
    neighbour, security = by_ws["pc-1-02"], by_ws["pc-e-01"]
    assert neighbour["room"] == "1.02"
    assert neighbour["answer"] == "coming"
    assert neighbour["arrived_after_ms"] is None
    assert 0 <= neighbour["delivered_after_ms"] <= neighbour["answered_after_ms"] < 30_000
    assert security["answer"] == "arrived"
    assert security["arrived_after_ms"] is not None
    for personal in ("Albers", "Becker", "Sicherheitsdienst", "Wache"):
        assert personal not in report.text  # workstations and rooms, never people

    refused = manager.delete(f"{API}/drills/{drill_id}")
    assert refused.status_code == 409
    assert "is running until" in refused.json()["detail"]
    assert manager.get(f"{API}/drills/404/report").status_code == 404
