"""An alarm withdrawn under duress, as the guard sees it in Chromium: open, level 3, marked."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from playwright.sync_api import Page, expect

from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, CancelAlarm, RaiseAlarm, utc_now
from tests.console.conftest import row_of
from tests.support.syncclient import TestAgent

Agents = Callable[..., TestAgent]


def test_withdrawn_under_duress_stays_open_at_level_3_and_says_so(
    logged_in_page: Page, agents: Agents
) -> None:
    page = logged_in_page
    raiser = agents("pc-1-04")
    alarm_id = uuid.uuid4()
    raiser.send(
        RaiseAlarm(
            alarm_id=alarm_id, level=AlarmLevel.SUPPORT, trigger=Trigger.HOTKEY, raised_at=utc_now()
        )
    )
    raiser.expect(AlarmStored, lambda m: m.alarm_id == alarm_id)
    row = row_of(page, alarm_id)
    expect(row).to_have_attribute("data-level", "1")
    expect(row.get_by_test_id("duress")).to_be_hidden()

    raiser.send(CancelAlarm(alarm_id=alarm_id, duress=True))
    expect(row).to_have_attribute("data-level", "3")
    expect(row).to_have_attribute("data-state", "active")  # still open: not a withdrawal
    marked = row.get_by_test_id("duress")
    expect(marked).to_be_visible()
    expect(marked).to_have_text("unter Zwang zurückgenommen")
    expect(row.get_by_test_id("follow-up")).to_be_hidden()
    # Prominent: white on dark red, bold, and pinned with the other level-3 alarms.
    style = marked.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor,"
        " getComputedStyle(el).fontWeight]"
    )
    assert style == ["rgb(255, 255, 255)", "rgb(122, 0, 16)", "700"]
    pinned = page.get_by_test_id("danger-pinned-alarm").and_(
        page.locator(f'[data-alarm-id="{alarm_id}"]')
    )
    expect(pinned).to_contain_text("unter Zwang zurückgenommen")
