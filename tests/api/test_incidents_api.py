"""Incidents and incident reports on the real hub: who may read and write, and refusals."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from shared.domain import AlarmLevel
from shared.protocol import IncidentReport
from tests.api.conftest import audit_count
from tests.support.alarmdriver import AlarmDriver
from tests.support.hub import RunningHub, query
from tests.support.operators import API, MANAGER, add_operator, api_client

PERIOD = {"from": f"{datetime.now().year - 1}-01-01", "to": f"{datetime.now().year + 1}-12-31"}
GOOD_REPORT = {
    "assessed_level": 2,
    "police_called": False,
    "injuries": False,
    "property_damage": True,
    "house_ban": True,
    "notes": "Besucher warf einen Stuhl.",
}


@pytest.fixture
def manager(demo_hub: RunningHub) -> Iterator[httpx.Client]:
    add_operator(demo_hub, *MANAGER, "emergency_manager")
    with api_client(demo_hub, *MANAGER) as client:
        yield client


def reports(hub: RunningHub) -> list[tuple[object, ...]]:
    return query(hub, "SELECT * FROM incident_reports")


def test_incidents_list_resolved_real_alarms_with_raiser_and_report(
    demo_hub: RunningHub, alarm_driver: AlarmDriver, manager: httpx.Client, guard: httpx.Client
) -> None:
    resolved = alarm_driver.raise_alarm("pc-1-01", AlarmLevel.THREAT)
    alarm_driver.resolve(resolved, IncidentReport(assessed_level=AlarmLevel.THREAT, injuries=True))
    still_open = alarm_driver.raise_alarm("pc-1-03", AlarmLevel.SUPPORT)

    listed = manager.get(f"{API}/incidents", params=PERIOD)
    assert listed.status_code == 200, listed.text
    incidents = listed.json()
    assert [i["alarm_id"] for i in incidents] == [str(resolved)]  # the open one is no incident yet
    (incident,) = incidents
    assert incident["raiser"] == "Frau Albers"  # the incident itself names its raiser
    assert incident["room"]["number"] == "1.01"
    assert incident["site"] == "Jobcenter Musterstadt"
    assert incident["resolved_by"] == "Wache Empfang"
    assert incident["report"]["injuries"] is True
    assert incident["report"]["written_by"] == "Wache Empfang"
    assert str(still_open) not in listed.text

    refused = guard.get(f"{API}/incidents", params=PERIOD)
    assert refused.status_code == 403
    assert manager.get(f"{API}/incidents", params={"site_id": 42}).status_code == 404
    last_year = {
        "from": f"{datetime.now().year - 1}-01-01",
        "to": f"{datetime.now().year - 1}-12-31",
    }
    assert manager.get(f"{API}/incidents", params=last_year).json() == []


def test_a_guard_writes_the_report_later_with_an_audit_event(
    demo_hub: RunningHub, alarm_driver: AlarmDriver, guard: httpx.Client
) -> None:
    alarm_id = alarm_driver.raise_alarm("pc-1-02", AlarmLevel.SUPPORT)
    alarm_driver.resolve(alarm_id)  # resolved without a report
    missing = guard.get(f"{API}/alarms/{alarm_id}/report")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"alarm {alarm_id} has no incident report yet"

    written = guard.put(f"{API}/alarms/{alarm_id}/report", json=GOOD_REPORT)
    assert written.status_code == 200, written.text
    assert written.json()["written_by"] == "Wache Empfang"
    assert guard.get(f"{API}/alarms/{alarm_id}/report").json() == written.json()
    upper = guard.get(f"{API}/alarms/{str(alarm_id).upper()}/report")
    assert upper.json() == written.json()
    (row,) = reports(demo_hub)
    assert row[:6] == (str(alarm_id), 2, 0, 0, 1, 1)
    events = query(
        demo_hub,
        "SELECT actor, detail FROM audit_events WHERE action = 'incident_report_written'"
        " AND alarm_id = ?",
        str(alarm_id),
    )
    assert len(events) == 1
    actor, detail = events[0]
    assert actor == "operator:wache"
    assert json.loads(str(detail))["house_ban"] is True
    assert "Stuhl" not in str(detail)  # the notes stay in the report, not in the trail

    changed = guard.put(f"{API}/alarms/{alarm_id}/report", json={**GOOD_REPORT, "injuries": True})
    assert changed.json()["injuries"] is True
    assert len(reports(demo_hub)) == 1
    last = query(
        demo_hub,
        "SELECT detail FROM audit_events WHERE action = 'incident_report_written'"
        " ORDER BY id DESC LIMIT 1",
    )
    assert json.loads(str(last[0][0]))["changed"] == ["injuries"]


BAD_BODIES = [
    ({**GOOD_REPORT, "assessed_level": 7}, "assessed_level"),
    ({**GOOD_REPORT, "polizei": True}, "polizei"),
    ({**GOOD_REPORT, "notes": "x" * 4001}, "notes"),
    ({"police_called": True}, "assessed_level"),
    ({**GOOD_REPORT, "injuries": "vielleicht"}, "injuries"),
]


def test_a_bad_body_is_422_and_writes_nothing(
    demo_hub: RunningHub, alarm_driver: AlarmDriver, guard: httpx.Client
) -> None:
    alarm_id = alarm_driver.raise_alarm("pc-1-02", AlarmLevel.SUPPORT)
    alarm_driver.resolve(alarm_id)
    before = audit_count(demo_hub)
    for body, complaint in BAD_BODIES:
        response = guard.put(f"{API}/alarms/{alarm_id}/report", json=body)
        assert response.status_code == 422, response.text
        assert complaint in response.text
    assert reports(demo_hub) == []
    assert audit_count(demo_hub) == before


def test_refusals_unknown_open_drill_and_no_csrf(
    demo_hub: RunningHub, alarm_driver: AlarmDriver, guard: httpx.Client, manager: httpx.Client
) -> None:
    before = audit_count(demo_hub)
    unknown = uuid.uuid4()
    response = guard.put(f"{API}/alarms/{unknown}/report", json=GOOD_REPORT)
    assert response.status_code == 404
    assert response.json()["detail"] == f"no alarm {unknown}"
    malformed = guard.put(f"{API}/alarms/not-a-uuid/report", json=GOOD_REPORT)
    assert malformed.status_code == 404
    assert malformed.json()["detail"] == "no alarm not-a-uuid"

    open_alarm = alarm_driver.raise_alarm("pc-1-01", AlarmLevel.THREAT)
    response = guard.put(f"{API}/alarms/{open_alarm}/report", json=GOOD_REPORT)
    assert response.status_code == 409
    assert "is active: a report is written once it is resolved or cancelled" in response.text

    now = datetime.now().astimezone()
    assert (
        manager.post(
            f"{API}/drills",
            json={
                "site_id": 1,
                "title": "Übung",
                "starts_at": now.isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
                "scopes": ["security"],
            },
        ).status_code
        == 201
    )
    drill_alarm = alarm_driver.raise_alarm("pc-1-04", AlarmLevel.THREAT, kind="drill")
    alarm_driver.resolve(drill_alarm)
    response = guard.put(f"{API}/alarms/{drill_alarm}/report", json=GOOD_REPORT)
    assert response.status_code == 409
    assert "is a drill: only real alarms get an incident report" in response.text

    alarm_driver.resolve(open_alarm)
    del guard.headers["x-csrf-token"]
    response = guard.put(f"{API}/alarms/{open_alarm}/report", json=GOOD_REPORT)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert reports(demo_hub) == []
    # Only the drill, the raises and resolves were audited: no report event.
    assert not query(
        demo_hub, "SELECT id FROM audit_events WHERE action = 'incident_report_written'"
    )
    assert audit_count(demo_hub) > before
