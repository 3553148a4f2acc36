"""GET /statistics and /statistics.csv on the real hub: roles, bad periods, the CSV, real counts."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import httpx
import pytest

from shared.domain import AlarmLevel, Answer
from shared.protocol import IncidentReport
from tests.support.alarmdriver import AlarmDriver
from tests.support.hub import RunningHub
from tests.support.operators import ADMIN, API, MANAGER, add_operator, api_client

THIS_YEAR = {"from": f"{datetime.now().year - 1}-01-01", "to": f"{datetime.now().year + 1}-12-31"}


@pytest.mark.parametrize("path", ["/statistics", "/statistics.csv"])
def test_guard_is_refused_managers_and_admins_read(shared_hub: RunningHub, path: str) -> None:
    login = shared_hub.login
    with api_client(shared_hub, login.username, login.password) as guard:
        refused = guard.get(f"{API}{path}")
    assert refused.status_code == 403, refused.text
    assert "role guard may not" in refused.json()["detail"]
    for user in (MANAGER, ADMIN):
        with api_client(shared_hub, *user) as client:
            assert client.get(f"{API}{path}").status_code == 200
    with httpx.Client(base_url=shared_hub.url, timeout=10) as anonymous:
        assert anonymous.get(f"{API}{path}").status_code == 401


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-02-30"}, "from must be a date written YYYY-MM-DD"),
        ({"from": "gestern"}, "from must be a date written YYYY-MM-DD, got 'gestern'"),
        ({"to": "01.03.2026"}, "to must be a date written YYYY-MM-DD"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, "from (2026-03-01) is after to (2026-02-01)"),
        ({"from": "1990-01-01", "to": "2026-01-01"}, "the period may span at most"),
    ],
)
def test_bad_periods_are_422_with_a_message(
    shared_hub: RunningHub, params: dict[str, str], message: str
) -> None:
    with api_client(shared_hub, *MANAGER) as manager:
        for path in ("/statistics", "/statistics.csv", "/incidents"):
            response = manager.get(f"{API}{path}", params=params)
            assert response.status_code == 422, response.text
            assert message in response.json()["detail"]


def test_unknown_site_is_404(shared_hub: RunningHub) -> None:
    with api_client(shared_hub, *MANAGER) as manager:
        response = manager.get(f"{API}/statistics", params={"site_id": 99})
    assert response.status_code == 404
    assert response.json()["detail"] == "no site 99"


def test_csv_has_a_german_header_a_row_per_month_and_a_total(shared_hub: RunningHub) -> None:
    with api_client(shared_hub, *MANAGER) as manager:
        response = manager.get(
            f"{API}/statistics.csv", params={"from": "2026-01-15", "to": "2026-03-02"}
        )
        english = manager.get(
            f"{API}/statistics.csv", params={"from": "2026-01-15", "to": "2026-03-02", "lang": "en"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        'filename="statistik_2026-01-15_2026-03-02.csv"' in response.headers["content-disposition"]
    )
    assert response.content.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets show umlauts
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:4] == [
        "Monat",
        "Alarme",
        "davon von der auslösenden Person zurückgenommen",
        "mit Vorfallbericht",
    ]
    assert "Polizei gerufen" in rows[0]
    assert "bis Rückmeldung Median (s)" in rows[0]
    assert [row[0] for row in rows[1:]] == ["2026-01", "2026-02", "2026-03", "Gesamt"]
    assert all(len(row) == len(rows[0]) for row in rows)
    english_rows = list(csv.reader(io.StringIO(english.text.lstrip("\ufeff"))))
    assert english_rows[0][:2] == ["month", "alarms"]
    assert english_rows[-1][0] == "total"


def test_a_resolved_alarm_counts_a_drill_does_not_and_no_name_shows(
    demo_hub: RunningHub, alarm_driver: AlarmDriver
) -> None:
    add_operator(demo_hub, *MANAGER, "emergency_manager")
    with api_client(demo_hub, *MANAGER) as manager:
        real = alarm_driver.raise_alarm("pc-1-01", AlarmLevel.THREAT)
        alarm_driver.answer("pc-1-02", real, Answer.COMING)
        alarm_driver.resolve(
            real, IncidentReport(assessed_level=AlarmLevel.DANGER, police_called=True)
        )
        now = datetime.now().astimezone()
        drill = manager.post(
            f"{API}/drills",
            json={
                "site_id": 1,
                "title": "Übung",
                "starts_at": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
                "scopes": ["security"],
            },
        )
        assert drill.status_code == 201, drill.text
        practice = alarm_driver.raise_alarm("pc-1-03", AlarmLevel.DANGER, kind="drill")
        alarm_driver.resolve(practice)

        result = manager.get(f"{API}/statistics", params=THIS_YEAR).json()
        as_csv = manager.get(f"{API}/statistics.csv", params=THIS_YEAR).text

    total = result["total"]
    assert total["alarms"] == 1  # the drill alarm is not an incident
    assert total["police_called"] == 1
    assert total["reported"] == 1
    assert total["raised_level"] == {"1": 0, "2": 1, "3": 0}
    assert total["assessed_level"] == {"1": 0, "2": 0, "3": 1}
    assert total["to_acknowledge"]["count"] == 1
    assert total["to_acknowledge"]["p50_s"] is not None
    assert [b["label"] for b in result["per_site"]] == ["Jobcenter Musterstadt"]
    assert [b["alarms"] for b in result["per_building"]] == [1]
    assert sum(b["alarms"] for b in result["per_hour"]) == 1
    for text in (str(result), as_csv):
        for personal in ("Albers", "Becker", "Celik", "Wache", "pc-1-0", "1.01", "Beratung"):
            assert personal not in text
    assert as_csv.splitlines()[-1].startswith("Gesamt;1;0;1;0;1;0;0;0;1;1;")
