"""Alarm sound (WebAudio, repeating until acknowledged, mutable) and the notification switch."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from shared.domain import AlarmLevel
from tests.console.conftest import row_of
from tests.console.test_console_live import raise_alarm
from tests.support.browser import log_in
from tests.support.hub import RunningHub
from tests.support.syncclient import TestAgent

Agents = Callable[..., TestAgent]


def tones(page: Page) -> int:
    return int(page.get_by_test_id("sound-toggle").get_attribute("data-tones") or "0")


def test_sound_repeats_until_acknowledged_and_can_be_muted(
    logged_in_page: Page, agents: Agents
) -> None:
    page = logged_in_page
    sound = page.get_by_test_id("sound-toggle")
    expect(sound).to_have_attribute("data-ringing", "false")
    expect(sound).to_have_text("♫ Ton an")
    page.get_by_test_id("open-count").click()  # browsers allow sound after a first click only
    expect(sound).to_have_attribute("data-audio", "running")

    alarm_id = raise_alarm(agents("pc-1-03"), AlarmLevel.DANGER)
    expect(sound).to_have_attribute("data-ringing", "true")
    expect(sound).to_have_class("btn btn-quiet btn-sound ringing")
    page.wait_for_function(  # level 3 repeats every 2 s: a third round within 6 s
        "() => Number(document.querySelector('[data-testid=sound-toggle]').dataset.tones) >= 3",
        timeout=6000,
    )
    row_of(page, alarm_id).get_by_role("button", name="Quittieren").click()
    expect(sound).to_have_attribute("data-ringing", "false")

    # Muted: a new alarm rings (the state) but plays nothing, and the choice survives a reload.
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "false")
    expect(sound).to_have_text("⊘ Ton aus")
    before = tones(page)
    second = raise_alarm(agents("pc-1-01"), AlarmLevel.SUPPORT)
    expect(row_of(page, second)).to_be_visible()
    expect(sound).to_have_attribute("data-ringing", "true")  # the first round runs in this update
    assert tones(page) == before
    page.reload()
    expect(page.get_by_test_id("sound-toggle")).to_have_attribute("data-muted", "true")
    page.get_by_test_id("sound-toggle").click()
    expect(page.get_by_test_id("sound-toggle")).to_have_attribute("data-muted", "false")
    page.wait_for_function(  # unmuted: the unacknowledged alarm rings again
        "() => Number(document.querySelector('[data-testid=sound-toggle]').dataset.tones) >= 1",
        timeout=6000,
    )


def test_sound_asks_for_a_click_while_the_browser_blocks_it(
    logged_in_page: Page, agents: Agents
) -> None:
    page = logged_in_page
    raise_alarm(agents("pc-1-02"), AlarmLevel.THREAT)
    sound = page.get_by_test_id("sound-toggle")
    expect(sound).to_have_attribute("data-ringing", "true")
    expect(sound).to_have_text("♫ Ton: klicken!")  # no click on the page yet
    expect(sound).to_have_class("btn btn-quiet btn-sound ringing locked")
    page.keyboard.press("Shift")  # any key press unlocks it, too
    expect(sound).to_have_text("♫ Ton an")
    expect(sound).to_have_attribute("data-audio", "running")


def test_notifications_are_offered_and_asked_on_click(
    demo_hub: RunningHub, page: Page, browser_context: BrowserContext
) -> None:
    log_in(page, demo_hub)
    button = page.get_by_test_id("notify-toggle")
    expect(button).to_have_text("Desktop-Hinweise")  # never asked unprompted
    button.click()  # the request, on the guard's click; headless Chromium answers "denied"
    expect(button).to_have_text("Desktop-Hinweise blockiert")
    expect(button).to_be_disabled()
    browser_context.grant_permissions(["notifications"], origin=demo_hub.url)
    page.reload()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    expect(page.get_by_test_id("notify-toggle")).to_be_hidden()  # granted: nothing to ask
