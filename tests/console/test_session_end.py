"""An open console in Chromium ends with its session: narrowed rights need a new login."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.hub import RunningHub
from tests.support.operators import API


@pytest.mark.parametrize(
    "change", [{"site_ids": [1]}, {"role": "emergency_manager"}, {"disabled": True}]
)
def test_an_open_console_is_sent_to_the_login_when_an_admin_narrows_its_rights(
    logged_in_page: Page,
    demo_hub: RunningHub,
    admin_api: httpx.Client,
    change: dict[str, object],
) -> None:
    page = logged_in_page
    guard = next(
        o["id"] for o in admin_api.get(f"{API}/operators").json() if o["username"] == "wache"
    )
    assert admin_api.patch(f"{API}/operators/{guard}", json=change).status_code == 200
    # Within a supervision round (half a heartbeat interval, 1 s in the test hub).
    expect(page).to_have_url(f"{demo_hub.url}/login")
    page.goto(f"{demo_hub.url}/console")  # the old cookie does not bring it back
    expect(page).to_have_url(f"{demo_hub.url}/login")
