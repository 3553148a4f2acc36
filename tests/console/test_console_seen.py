"""Issue 13: a console that really shows an alarm counts as reached, so the raiser is not
told "nobody reached"; the console confirms the rendered row with ``seen`` (audited)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable

from playwright.sync_api import Page, expect

from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, Ping, Pong, RaiseAlarm, RaiserStatus, utc_now
from tests.console.conftest import row_of
from tests.integration.conftest import set_policy
from tests.support.hub import RunningHub, query
from tests.support.syncclient import TestAgent
from tests.support.waiting import wait_until

Agents = Callable[..., TestAgent]


def hub_decision(hub: RunningHub, alarm_id: uuid.UUID) -> bool:
    """Waits for the hub's decision at the deadline (log ``alarm_reach_decided``)."""

    def probe() -> dict[str, object] | None:
        for line in hub.log().splitlines():
            if "alarm_reach_decided" in line and str(alarm_id) in line:
                return dict(json.loads(line))
        return None

    return bool(wait_until(probe, timeout=20, what="the hub's reach decision")["reached"])


def test_a_console_showing_the_alarm_means_no_nobody_reached_notice(
    demo_hub: RunningHub, logged_in_page: Page, agents: Agents
) -> None:
    set_policy(demo_hub.data_dir, 2, ["neighbours", "security"], [])
    with sqlite3.connect(demo_hub.data_dir / "dispatch.sqlite3") as db:
        db.execute("UPDATE alarm_policies SET nobody_reached_s = 2 WHERE level = 2")
    page = logged_in_page
    expect(page.get_by_test_id("no-alarms")).to_be_visible()
    raiser = agents("pc-1-01")  # the raiser's stand-in; no recipient agent is online
    alarm_id = uuid.uuid4()
    raiser.send(
        RaiseAlarm(
            alarm_id=alarm_id, level=AlarmLevel.THREAT, trigger=Trigger.HOTKEY, raised_at=utc_now()
        )
    )
    raiser.expect(AlarmStored, lambda m: m.alarm_id == alarm_id)
    expect(row_of(page, alarm_id)).to_be_visible()

    seen = raiser.expect(RaiserStatus, lambda m: m.alarm_id == alarm_id and m.seen_by_console)
    assert not seen.nobody_reached
    assert hub_decision(demo_hub, alarm_id) is True
    # FIFO per peer: a pong after the decision proves no "nobody reached" was queued before.
    ping = Ping()
    raiser.send(ping)
    raiser.expect(Pong, lambda m: m.reply_to == ping.id)
    assert query(demo_hub, "SELECT nobody_reached_at, console_seen_at IS NOT NULL FROM alarms") == [
        (None, 1)
    ]
    assert query(demo_hub, "SELECT actor FROM audit_events WHERE action = 'alarm_seen'") == [
        ("operator:Wache Empfang",)
    ]


def test_a_console_on_the_coverage_view_does_not_count(
    demo_hub: RunningHub, logged_in_page: Page, agents: Agents
) -> None:
    set_policy(demo_hub.data_dir, 2, ["neighbours", "security"], [])
    with sqlite3.connect(demo_hub.data_dir / "dispatch.sqlite3") as db:
        db.execute("UPDATE alarm_policies SET nobody_reached_s = 2 WHERE level = 2")
    page = logged_in_page
    page.get_by_test_id("tab-coverage").click()
    expect(page.get_by_test_id("active-alarms")).to_be_hidden()
    raiser = agents("pc-1-01")
    alarm_id = uuid.uuid4()
    started = time.monotonic()
    raiser.send(
        RaiseAlarm(
            alarm_id=alarm_id, level=AlarmLevel.THREAT, trigger=Trigger.HOTKEY, raised_at=utc_now()
        )
    )
    told = raiser.expect(
        RaiserStatus, lambda m: m.alarm_id == alarm_id and m.nobody_reached, timeout=20
    )
    assert not told.seen_by_console
    assert time.monotonic() - started >= 1.5  # at the policy's time, not before
