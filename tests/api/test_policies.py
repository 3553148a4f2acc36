"""Alarm policies through the API: defaults, a saved policy that routing follows, refusals."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest

from shared.domain import AlarmLevel
from shared.protocol import AlarmNotify, AlarmStored
from tests.support.hub import RunningHub, query
from tests.support.operators import API
from tests.support.wsclient import connect_agent

LEVEL_2 = f"{API}/sites/1/policies/2"
FLOOR_POLICY = {
    "scopes": ["floor", "security"],
    "escalation": [{"after_s": 60, "scope": "building"}],
    "cancel_window_s": 10,
    "raiser_feedback": "names",
}


def test_a_site_without_policies_shows_the_defaults(admin: httpx.Client) -> None:
    policies = admin.get(f"{API}/sites/1/policies").json()
    assert [p["level"] for p in policies] == [1, 2, 3]
    assert {p["source"] for p in policies} == {"default"}
    level_2 = policies[1]
    assert level_2["scopes"] == ["neighbours", "security"]
    assert [step["after_s"] for step in level_2["escalation"]] == [45, 90, 120]


def test_a_saved_policy_is_what_routing_follows(admin: httpx.Client, admin_hub: RunningHub) -> None:
    saved = admin.put(LEVEL_2, json=FLOOR_POLICY)
    assert saved.status_code == 200, saved.text
    assert saved.json()["source"] == "site"
    assert admin.get(LEVEL_2).json()["scopes"] == ["floor", "security"]

    async def raise_and_watch() -> None:
        raiser_config, far_config = (
            admin_hub.agent_config("pc-1-01"),
            admin_hub.agent_config("pc-1-04"),
        )
        far = await connect_agent(admin_hub.agent_ws_url, "pc-1-04", far_config["token"])
        raiser = await connect_agent(admin_hub.agent_ws_url, "pc-1-01", raiser_config["token"])
        sent = await raiser.raise_alarm(AlarmLevel.THREAT)
        stored = await raiser.expect(AlarmStored)
        assert stored.cancel_window_s == 10
        await far.expect(AlarmNotify, alarm_id=sent.alarm_id)  # same floor, not a neighbour
        await raiser.close()
        await far.close()

    asyncio.run(raise_and_watch())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scopes": ["neighbours"]}, "must include security"),
        ({"scopes": []}, "at least 1"),
        (
            {"escalation": [{"after_s": 60, "scope": "floor"}, {"after_s": 30, "scope": "site"}]},
            "strictly increasing",
        ),
        ({"scopes": ["everyone", "security"]}, "Input should be"),
        ({"cancel_window_s": 3600}, "less than or equal to 300"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
    ids=["no-security", "no-scope", "escalation-order", "unknown-scope", "long-cancel", "typo"],
)
def test_an_unsafe_or_wrong_policy_is_refused_and_nothing_stored(
    admin: httpx.Client, change: dict[str, object], message: str
) -> None:
    response = admin.put(LEVEL_2, json={**FLOOR_POLICY, **change})
    assert response.status_code == 422
    assert message in response.text
    assert admin.get(LEVEL_2).json()["source"] == "default"


def test_level_outside_one_to_three_is_refused(admin: httpx.Client) -> None:
    assert admin.put(f"{API}/sites/1/policies/4", json=FLOOR_POLICY).status_code == 422


def test_reset_returns_to_the_default(admin: httpx.Client) -> None:
    assert admin.put(LEVEL_2, json=FLOOR_POLICY).status_code == 200
    reset = admin.delete(LEVEL_2)
    assert reset.status_code == 200
    assert reset.json()["source"] == "default"
    assert admin.delete(LEVEL_2).status_code == 404


def test_unknown_site_is_404(admin: httpx.Client) -> None:
    assert admin.get(f"{API}/sites/99/policies/2").status_code == 404
    assert admin.put(f"{API}/sites/99/policies/2", json=FLOOR_POLICY).status_code == 404


def test_a_changed_countdown_is_in_the_very_next_welcome(
    admin: httpx.Client, admin_hub: RunningHub
) -> None:
    config = admin_hub.agent_config("pc-1-01")

    async def countdown_of_level_one() -> int:
        client = await connect_agent(
            admin_hub.agent_ws_url, "pc-1-01", config["token"], config["user"]
        )
        await client.close()
        return {s.level: s.countdown_s for s in client.welcome.levels}[AlarmLevel.SUPPORT]

    assert asyncio.run(countdown_of_level_one()) == 0  # the welcome's settings are now cached
    policy = admin.get(f"{API}/sites/1/policies/1").json()
    body = {k: policy[k] for k in ("scopes", "escalation", "cancel_window_s", "raiser_feedback")}
    saved = admin.put(f"{API}/sites/1/policies/1", json={**body, "countdown_s": 4})
    assert saved.status_code == 200, saved.text
    assert asyncio.run(countdown_of_level_one()) == 4


def test_a_site_with_a_policy_is_deleted_with_it_and_one_with_a_drill_is_refused(
    admin: httpx.Client, admin_hub: RunningHub
) -> None:
    """Both were a database error (500) before: the site's rows still pointed at it."""
    site = admin.post(f"{API}/sites", json={"name": "Außenstelle", "address": "Weg 1"}).json()
    saved = admin.put(f"{API}/sites/{site['id']}/policies/2", json=FLOOR_POLICY)
    assert saved.status_code == 200, saved.text
    assert admin.delete(f"{API}/sites/{site['id']}").status_code == 204
    assert query(
        admin_hub, "SELECT count(*) FROM alarm_policies WHERE site_id = ?", site["id"]
    ) == [(0,)]

    site = admin.post(f"{API}/sites", json={"name": "Außenstelle 2", "address": "Weg 2"}).json()
    start = datetime.now().astimezone() + timedelta(hours=1)
    drill = {
        "site_id": site["id"],
        "title": "Übung",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "scopes": ["neighbours", "security"],
    }
    assert admin.post(f"{API}/drills", json=drill).status_code == 201
    refused = admin.delete(f"{API}/sites/{site['id']}")
    assert refused.status_code == 409
    assert "drills" in refused.json()["detail"]
    assert admin.get(f"{API}/sites/{site['id']}").status_code == 200
