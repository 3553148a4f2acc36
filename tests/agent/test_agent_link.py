"""The link against a scripted hub on a real WebSocket: hello, outbox, heartbeats, failover."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from agent.backoff import Backoff
from agent.link import (
    DEAD_AFTER_INTERVALS,
    RECEIPTS_AGAIN_MAX,
    URGENT_RETRY_CAP,
    Link,
    LinkEvents,
    ssl_context,
)
from agent.outbox import Outbox
from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer, Instruction, Trigger
from shared.protocol import (
    PROTOCOL_VERSION,
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    Hello,
    LevelSettings,
    Ping,
    Pong,
    RaiseAlarm,
    Receipt,
    Respond,
    Welcome,
    WorkstationInfo,
    WorkstationUpdate,
    utc_now,
)
from tests.support.fakehub import ROOM, fake_hub
from tests.support.waiting import wait_until


class Recorder(LinkEvents):
    """Collects the link's callbacks so a test can wait for one."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self._cond = threading.Condition()

    def _add(self, name: str, value: object) -> None:
        with self._cond:
            self.events.append((name, value))
            self._cond.notify_all()

    def wait(self, name: str, count: int = 1, timeout: float = 5.0) -> list[object]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [value for n, value in self.events if n == name]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{name} x{count} not seen; got {self.events!r}")
                self._cond.wait(left)

    def connected(self, welcome: Welcome) -> None:
        self._add("connected", welcome)

    def disconnected(self, code: int | None, reason: str) -> None:
        self._add("disconnected", (code, reason))

    def alarm_queued(self, alarm: RaiseAlarm) -> None:
        self._add("queued", alarm)

    def alarm_stored(self, stored: AlarmStored) -> None:
        self._add("stored", stored)

    def alarm_notify(self, notify: AlarmNotify) -> None:
        self._add("notify", notify)

    def alarm_update(self, update: AlarmUpdate) -> None:
        self._add("update", update)

    def self_test_echo(self, notify: AlarmNotify) -> None:
        self._add("echo", notify)

    def workstation_changed(self, update: WorkstationUpdate) -> None:
        self._add("workstation", update)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path)
    yield box
    box.close()


LinkFactory = Callable[..., tuple[Link, Recorder]]


@pytest.fixture
def make_link(outbox: Outbox) -> Iterator[LinkFactory]:
    links: list[Link] = []

    def make(*urls: str, **kwargs: object) -> tuple[Link, Recorder]:
        recorder = Recorder()
        link = Link(
            hub_urls=list(urls),
            workstation_id="ws-101",
            token=SecretStr("tok-101"),
            user="Erika Mustermann",
            outbox=outbox,
            events=recorder,
            **{"backoff": Backoff(floor=0.02, cap=0.1, base=0.05), **kwargs},  # type: ignore[arg-type]
        )
        links.append(link)
        link.start()
        return link, recorder

    yield make
    for link in links:
        link.stop()


def notify(level: AlarmLevel = AlarmLevel.THREAT) -> AlarmNotify:
    return AlarmNotify(
        alarm_id=uuid.uuid4(),
        level=level,
        instruction=Instruction.COME_HELP,
        room=ROOM,
        raiser="Max Muster",
        raised_at=utc_now(),
    )


def test_hello_first_then_pending_alarms_then_stored(
    outbox: Outbox, make_link: LinkFactory
) -> None:
    waiting = RaiseAlarm(
        alarm_id=uuid.uuid4(), level=AlarmLevel.DANGER, trigger=Trigger.CLI, raised_at=utc_now()
    )
    outbox.add(waiting)  # raised while no hub was reachable
    with fake_hub() as hub:
        _, events = make_link(hub.url)
        events.wait("connected")
        hub.wait_for(lambda m: isinstance(m, RaiseAlarm))
        hello = hub.received[0]
        assert isinstance(hello, Hello)
        assert hello.protocol == PROTOCOL_VERSION
        assert (hello.workstation_id, hello.token.get_secret_value()) == ("ws-101", "tok-101")
        assert hello.user == "Erika Mustermann"
        assert hub.received[1] == waiting
        stored = events.wait("stored")[0]
        assert isinstance(stored, AlarmStored)
        assert stored.alarm_id == waiting.alarm_id
        wait_until(lambda: outbox.pending() == [])


def test_raise_alarm_is_persisted_then_sent_without_delay(
    outbox: Outbox, make_link: LinkFactory
) -> None:
    with fake_hub() as hub:
        hub.store = False  # the hub answers below, once the outbox has been looked at
        # The outbox is rescanned once at the start and then not for an hour: an alarm
        # that reaches the hub was sent by raise_alarm itself, not by a timer.
        link, events = make_link(hub.url, rescan_interval=3600.0)
        events.wait("connected")
        alarm = link.raise_alarm(AlarmLevel.SUPPORT, Trigger.HOTKEY)
        assert outbox.pending() == [alarm]  # on disk when raise_alarm returns
        sent = hub.wait_for(lambda m: isinstance(m, RaiseAlarm) and m.alarm_id == alarm.alarm_id)
        assert isinstance(sent, RaiseAlarm)
        assert alarm.raised_at.tzinfo is not None
        assert alarm.level is AlarmLevel.SUPPORT
        assert alarm.trigger is Trigger.HOTKEY
        hub.push(
            AlarmStored(
                reply_to=sent.id, alarm_id=alarm.alarm_id, stored_at=utc_now(), duplicate=False
            )
        )
        events.wait("stored")
        wait_until(lambda: outbox.pending() == [])


def test_an_alarm_the_hub_could_not_store_is_sent_again_on_the_same_connection(
    outbox: Outbox, make_link: LinkFactory
) -> None:
    """Error "internal" (the hub's database down): sent again after 0.25, 0.5, 1 s on the
    same connection until stored; not by the outbox rescan (an hour here), not by a
    reconnect (issue 16)."""
    with fake_hub() as hub:
        hub.refuse_stores = 3
        link, events = make_link(hub.url, rescan_interval=3600.0)
        events.wait("connected")
        started = time.monotonic()
        alarm = link.raise_alarm(AlarmLevel.THREAT, Trigger.HOTKEY)
        stored = events.wait("stored", timeout=10.0)[0]
        took = time.monotonic() - started
        assert isinstance(stored, AlarmStored)
        assert stored.alarm_id == alarm.alarm_id
        assert not stored.duplicate  # the refused copies were never stored
        sent = [m for m in hub.received if isinstance(m, RaiseAlarm)]
        assert [m.alarm_id for m in sent] == [alarm.alarm_id] * 4  # refused 3 times, then stored
        assert took >= 0.25 + 0.5 + 1.0, took  # the backoff was waited, not skipped
        assert hub.count(Hello) == 1
        assert [name for name, _ in events.events].count("disconnected") == 0
        wait_until(lambda: outbox.pending() == [])


def test_alarm_raised_offline_stays_queued_and_goes_out_on_connect(
    outbox: Outbox, make_link: LinkFactory
) -> None:
    with fake_hub() as hub:
        hub.store = False
        link, events = make_link(hub.url)
        events.wait("connected")
        alarm = link.raise_alarm(AlarmLevel.THREAT, Trigger.TRAY)
        hub.wait_for(lambda m: isinstance(m, RaiseAlarm))
    assert outbox.pending() == [alarm]  # never acknowledged: still queued
    events.wait("disconnected")


def test_second_url_is_tried_when_the_first_is_dead(make_link: LinkFactory) -> None:
    dead = f"ws://127.0.0.1:{free_port()}/ws/agent"
    with fake_hub() as hub:
        _, events = make_link(dead, hub.url)
        events.wait("connected")
        assert hub.count(Hello) == 1


def test_refusal_is_logged_and_retried(
    make_link: LinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.link")
    with fake_hub(refuse=(4401, "unknown workstation or bad token")) as hub:
        make_link(hub.url)
        wait_until(lambda: hub.count(Hello) >= 3)
    refusals = [r.getMessage() for r in caplog.records if "before welcome" in r.getMessage()]
    assert refusals
    assert "code=4401" in refusals[0]
    assert "bad token" in refusals[0]
    assert all("tok-101" not in r.getMessage() for r in caplog.records)


def test_hub_ping_is_answered_and_agent_pings_too(make_link: LinkFactory) -> None:
    with fake_hub(heartbeat_interval=0.05, send_pings=True) as hub:
        _, events = make_link(hub.url)
        events.wait("connected")
        hub.wait_for(lambda m: isinstance(m, Pong) and m.reply_to is not None)
        hub.wait_for(lambda m: isinstance(m, Ping))


def test_frozen_hub_is_noticed_within_two_intervals_and_reconnected(
    make_link: LinkFactory,
) -> None:
    interval = 0.2
    with fake_hub(heartbeat_interval=interval) as hub:
        _, events = make_link(hub.url)
        events.wait("connected")
        hub.wait_for(lambda m: isinstance(m, Ping))  # heartbeats are flowing
        hub.frozen = True
        frozen_at = time.monotonic()
        events.wait("disconnected", timeout=5 * interval + 1.0)
        noticed_after = time.monotonic() - frozen_at
        # The agent pings every interval and a live hub answers at once, so the
        # last answer came at most one interval before the freeze.
        assert noticed_after >= 0.9 * interval  # not before the hub could have answered
        assert noticed_after <= DEAD_AFTER_INTERVALS * interval + 0.3
        hub.frozen = False
        events.wait("connected", count=2)


def test_a_hub_that_pings_itself_gets_pongs_and_no_ping_messages(
    make_link: LinkFactory,
) -> None:
    # 0.5 s: the link drops a hub silent for two intervals, and a busy 2-core machine can
    # hold a thread for a tenth of a second (0.05 s intervals were dropped under load).
    with fake_hub(heartbeat_interval=0.5, send_pings=True, ws_keepalive=True) as hub:
        _, events = make_link(hub.url)
        events.wait("connected")
        hub.wait_for_pongs(4)  # answered by the WebSocket library, four intervals long
        assert hub.count(Ping) == 0
        assert [name for name, _ in events.events].count("disconnected") == 0  # pings count


def test_frozen_hub_that_pinged_itself_is_noticed_within_two_intervals(
    make_link: LinkFactory,
) -> None:
    interval = 0.2
    with fake_hub(heartbeat_interval=interval, send_pings=True, ws_keepalive=True) as hub:
        _, events = make_link(hub.url)
        events.wait("connected")
        hub.wait_for_pongs(1)
        hub.frozen = True  # stops pinging, as a hung hub process would
        frozen_at = time.monotonic()
        events.wait("disconnected", timeout=5 * interval + 1.0)
        noticed_after = time.monotonic() - frozen_at
        assert noticed_after >= 0.9 * interval  # the last ping came at most then
        assert noticed_after <= DEAD_AFTER_INTERVALS * interval + 0.3
        hub.frozen = False
        events.wait("connected", count=2)


def test_notify_update_receipt_and_answer(make_link: LinkFactory) -> None:
    with fake_hub() as hub:
        link, events = make_link(hub.url)
        events.wait("connected")
        message = notify()
        hub.push(message)
        assert events.wait("notify")[0] == message
        link.send_receipt(message.alarm_id)
        hub.wait_for(lambda m: isinstance(m, Receipt) and m.alarm_id == message.alarm_id)
        link.respond(message.alarm_id, Answer.COMING)
        answer = hub.wait_for(lambda m: isinstance(m, Respond))
        assert isinstance(answer, Respond)
        assert (answer.alarm_id, answer.answer) == (message.alarm_id, Answer.COMING)
        update = AlarmUpdate(alarm_id=message.alarm_id, state=AlarmState.RESOLVED, responders=[])
        hub.push(update)
        assert events.wait("update")[0] == update


def test_answer_given_offline_is_sent_after_reconnect(make_link: LinkFactory) -> None:
    port = free_port()
    link, _ = make_link(f"ws://127.0.0.1:{port}/ws/agent")
    alarm_id = uuid.uuid4()
    link.respond(alarm_id, Answer.CANNOT)
    with fake_hub(port=port) as hub:  # the hub comes up on the port the link keeps trying
        answer = hub.wait_for(lambda m: isinstance(m, Respond))
        assert isinstance(answer, Respond)
        assert answer.alarm_id == alarm_id


def test_receipts_are_sent_again_on_the_next_connection_the_newest_fifty(
    make_link: LinkFactory,
) -> None:
    """A hub killed with receipts in its 20 ms batch loses them, and an alarm resolved
    before the agent is back is never sent to it again: the agent sends its recent
    receipts once more on every new connection (at most RECEIPTS_AGAIN_MAX, the newest)."""
    port = free_port()
    confirmed = [uuid.uuid4() for _ in range(RECEIPTS_AGAIN_MAX + 10)]
    with fake_hub(port=port) as first:
        link, events = make_link(f"ws://127.0.0.1:{port}/ws/agent")
        events.wait("connected")
        for alarm_id in confirmed:
            link.send_receipt(alarm_id)
        first.wait_for(lambda m: isinstance(m, Receipt) and m.alarm_id == confirmed[-1])
    with fake_hub(port=port) as again:  # restarted, knowing nothing of those receipts
        events.wait("connected", count=2)
        again.wait_for(lambda m: isinstance(m, Receipt) and m.alarm_id == confirmed[-1])
        # The receipts go out before anything the hub sends is read: a ping answered
        # after them proves the whole batch has arrived.
        again.push(Ping())
        again.wait_for(lambda m: isinstance(m, Pong))
        resent = [m.alarm_id for m in again.received if isinstance(m, Receipt)]
        assert resent == confirmed[-RECEIPTS_AGAIN_MAX:]


def test_rescan_sends_alarms_another_process_queued(tmp_path: Path, make_link: LinkFactory) -> None:
    with fake_hub() as hub:
        _, events = make_link(hub.url, rescan_interval=0.05)
        events.wait("connected")
        other = Outbox(tmp_path)  # as the trigger command would open it
        alarm = RaiseAlarm(
            alarm_id=uuid.uuid4(), level=AlarmLevel.THREAT, trigger=Trigger.CLI, raised_at=utc_now()
        )
        other.add(alarm)
        hub.wait_for(lambda m: isinstance(m, RaiseAlarm) and m.alarm_id == alarm.alarm_id)
        wait_until(lambda: other.pending() == [])
        other.close()
        assert hub.count(RaiseAlarm) == 1  # sent once per connection, not per rescan


# --- failover between hubs ------------------------------------------------------


def test_a_lost_hub_is_replaced_by_the_next_at_once_and_the_link_comes_back(
    make_link: LinkFactory,
) -> None:
    port_a = free_port()
    with fake_hub() as hub_b:
        with fake_hub(port=port_a) as hub_a:
            link, events = make_link(hub_a.url, hub_b.url)
            events.wait("connected")
            assert hub_a.client_count == 1
        lost_at = time.monotonic()  # hub A stopped: its port refuses
        events.wait("connected", count=2)
        assert time.monotonic() - lost_at < 2.0  # one backoff step (≤ 0.1 s here), no more
        wait_until(lambda: hub_b.client_count == 1)
        alarm = link.raise_alarm(AlarmLevel.THREAT, Trigger.HOTKEY)
        hub_b.wait_for(lambda m: isinstance(m, RaiseAlarm) and m.alarm_id == alarm.alarm_id)
        # B goes, A is back: the link returns to A.
        with fake_hub(port=port_a) as hub_a_again:
            hub_b.stop()
            events.wait("connected", count=3)
            wait_until(lambda: hub_a_again.client_count == 1)


def test_the_backoff_waits_between_rounds_never_between_hubs(make_link: LinkFactory) -> None:
    """A dead first hub costs no backoff delay before the second is tried."""
    dead = f"ws://127.0.0.1:{free_port()}/ws/agent"
    with fake_hub() as hub:
        started = time.monotonic()
        _, events = make_link(dead, hub.url, backoff=Backoff(floor=30.0, cap=30.0))
        events.wait("connected", timeout=3.0)
        assert time.monotonic() - started < 3.0


def test_a_frozen_hub_is_skipped_after_it_went_silent(make_link: LinkFactory) -> None:
    interval = 0.2
    with fake_hub(heartbeat_interval=interval) as hub_a, fake_hub() as hub_b:
        _, events = make_link(hub_a.url, hub_b.url, handshake_timeout=30.0)
        events.wait("connected")
        hub_a.frozen = True
        frozen_at = time.monotonic()
        # Were A tried first again, its (frozen) handshake would hold the link for 30 s.
        events.wait("connected", count=2, timeout=5.0)
        assert time.monotonic() - frozen_at < DEAD_AFTER_INTERVALS * interval + 1.0
        wait_until(lambda: hub_b.client_count == 1)


# --- self-tests -----------------------------------------------------------------


def test_self_test_is_queued_sent_echoed_and_receipted_without_a_popup(
    outbox: Outbox, make_link: LinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.link")
    port = free_port()
    link, events = make_link(f"ws://127.0.0.1:{port}/ws/agent")
    alarm = link.raise_alarm(AlarmLevel.SUPPORT, Trigger.SCHEDULE, AlarmKind.SELF_TEST)
    assert outbox.pending() == [alarm]  # through the outbox like a real alarm
    with fake_hub(port=port) as hub:
        events.wait("connected")
        sent = hub.wait_for(lambda m: isinstance(m, RaiseAlarm))
        assert isinstance(sent, RaiseAlarm)
        assert (sent.kind, sent.trigger, sent.level) == (
            AlarmKind.SELF_TEST,
            Trigger.SCHEDULE,
            AlarmLevel.SUPPORT,
        )
        echo = events.wait("echo")[0]
        assert isinstance(echo, AlarmNotify)
        assert echo.alarm_id == alarm.alarm_id
        hub.wait_for(lambda m: isinstance(m, Receipt) and m.alarm_id == alarm.alarm_id)
        events.wait("stored")
        assert not [name for name, _ in events.events if name == "notify"]  # no popup
        wait_until(lambda: outbox.pending() == [])
    lines = [r.getMessage() for r in caplog.records]
    assert f"self-test stored {alarm.alarm_id}" in lines
    assert f"self-test echo {alarm.alarm_id}" in lines
    assert not [line for line in lines if line.startswith("alarm ")]  # never logged as an alarm


# --- TLS --------------------------------------------------------------------------


def test_wss_gets_a_verifying_context_from_the_os_trust_store_and_ws_none() -> None:
    import truststore

    context = ssl_context("wss://hub.example:443/ws/agent")
    assert isinstance(context, truststore.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert ssl_context("ws://127.0.0.1:8000/ws/agent") is None


def test_an_alarm_raised_offline_ends_the_backoff_and_keeps_retries_short(
    outbox: Outbox, make_link: LinkFactory
) -> None:
    """However long the backoff has grown, a waiting alarm is not held up by it."""
    port = free_port()
    link, events = make_link(
        f"ws://127.0.0.1:{port}/ws/agent", backoff=Backoff(floor=30.0, cap=30.0)
    )
    wait_until(lambda: link._backoff.attempt >= 1)  # in its first 30 s wait
    alarm = link.raise_alarm(AlarmLevel.THREAT, Trigger.HOTKEY)
    wait_until(lambda: link._backoff.attempt >= 2, timeout=2.0)  # woken: a new round at once
    with fake_hub(port=port) as hub:  # comes up while the link waits its (capped) delay
        up = time.monotonic()
        hub.wait_for(
            lambda m: isinstance(m, RaiseAlarm) and m.alarm_id == alarm.alarm_id,
            timeout=URGENT_RETRY_CAP + 2.0,
        )
        assert time.monotonic() - up <= URGENT_RETRY_CAP + 1.0
        events.wait("stored")
    assert outbox.pending() == []


def test_a_waiting_self_test_does_not_shorten_the_backoff(
    outbox: Outbox, make_link: LinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.link")
    outbox.add(
        RaiseAlarm(
            alarm_id=uuid.uuid4(),
            level=AlarmLevel.SUPPORT,
            trigger=Trigger.SCHEDULE,
            raised_at=utc_now(),
            kind=AlarmKind.SELF_TEST,
        )
    )
    link, _ = make_link(
        f"ws://127.0.0.1:{free_port()}/ws/agent", backoff=Backoff(floor=30.0, cap=30.0)
    )
    # The round's chosen wait, logged before it starts: the full backoff, not the cap.
    delays = wait_until(
        lambda: [r.getMessage() for r in caplog.records if "reconnecting in" in r.getMessage()]
    )
    assert delays == ["reconnecting in 30.00 s"]
    assert link._backoff.attempt == 1


def test_a_workstation_update_reports_the_new_room_on_the_same_connection(
    make_link: LinkFactory,
) -> None:
    """The hub moved this PC (workstation_update): reported, no reconnect needed."""
    with fake_hub() as hub:
        _, events = make_link(hub.url)
        events.wait("connected")
        moved = WorkstationUpdate(workstation=WorkstationInfo(workstation_id="ws-101", room=ROOM))
        hub.push(moved)
        assert events.wait("workstation") == [moved]
        other_site = WorkstationUpdate(
            workstation=WorkstationInfo(workstation_id="ws-101", room=None),
            levels=[LevelSettings(level=AlarmLevel.THREAT, countdown_s=3)],
        )
        hub.push(other_site)
        assert events.wait("workstation", count=2)[1] == other_site
        assert [name for name, _ in events.events].count("connected") == 1
