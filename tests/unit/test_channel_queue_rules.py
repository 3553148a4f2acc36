"""The delivery queue's pure rules (issue 20): which rows are due, backoff, leases, the console's
counts and one-line reasons without secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.channels.errors import one_line
from dispatch.channels.planning import OpenAlarm, Recipient, idempotency_key, rows_due
from dispatch.channels.retry import lease, retry_delay
from dispatch.channels.summary import DeliveryRow, counts, counts_by_alarm
from shared.protocol import ChannelCount

T0 = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
ADDED = T0 - timedelta(days=1)  # the recipients were saved before the alarms


def alarm(state: str = "active", *, coming: bool = False, duress: bool = False) -> OpenAlarm:
    return OpenAlarm("a1", 1, 3, state, T0, someone_coming=coming, under_duress=duress)


def recipient(rid: int, after_s: int = 0, audience: str = "security", level: int = 3) -> Recipient:
    return Recipient(rid, 1, level, after_s, "email", f"{rid}@x.example", "", audience, "de", ADDED)


def due_ids(
    a: OpenAlarm,
    recipients: list[Recipient],
    now: datetime,
    planned: set[tuple[str, int]] | None = None,
) -> list[int]:
    return [r.id for _, r in rows_due([a], recipients, planned or set(), now)]


def test_immediate_recipients_are_due_at_once_and_only_once() -> None:
    assert due_ids(alarm(), [recipient(1)], T0) == [1]
    assert due_ids(alarm(), [recipient(1)], T0, {("a1", 1)}) == []


def test_other_sites_and_levels_are_not_told() -> None:
    other_level = recipient(2, level=2)
    other_site = Recipient(3, 2, 3, 0, "email", "x@y.example", "", "security", "de", ADDED)
    assert due_ids(alarm(), [other_level, other_site], T0) == []


def test_a_recipient_added_later_is_not_told_of_alarms_stored_before() -> None:
    later = Recipient(4, 1, 3, 0, "email", "n@x.example", "", "security", "de", T0 + timedelta(1))
    assert due_ids(alarm(), [later], T0 + timedelta(days=2)) == []


def test_a_step_waits_for_its_time_and_stops_when_someone_took_it() -> None:
    step = [recipient(1, after_s=60)]
    assert due_ids(alarm(), step, T0 + timedelta(seconds=59)) == []
    assert due_ids(alarm(), step, T0 + timedelta(seconds=60)) == [1]
    later = T0 + timedelta(seconds=61)
    assert due_ids(alarm("acknowledged"), step, later) == []
    assert due_ids(alarm("arrived"), step, later) == []
    assert due_ids(alarm(coming=True), step, later) == []  # "Ich komme"
    assert due_ids(alarm("acknowledged"), [recipient(2)], later) == [2]  # at once: still sent


def test_staff_hear_nothing_more_of_an_alarm_withdrawn_under_duress() -> None:
    both = [recipient(1, audience="staff"), recipient(2, audience="security")]
    assert due_ids(alarm(duress=True), both, T0) == [2]


def test_the_key_is_the_same_for_every_attempt_and_instance() -> None:
    assert idempotency_key("a1", 1) == idempotency_key("a1", 1)
    assert idempotency_key("a1", 1) != idempotency_key("a1", 2)
    assert len(idempotency_key("a1", 1)) <= 64


def test_backoff_doubles_from_one_second_to_a_minute() -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert lease(10.0) == timedelta(seconds=20)


def test_counts_per_channel_and_endpoint_with_the_latest_reason() -> None:
    rows = [
        DeliveryRow("a1", "alarm", "email", "a@x", "sent", ""),
        DeliveryRow("a1", "alarm", "email", "b@x", "sent", ""),
        DeliveryRow("a1", "alarm", "webhook", "sms:1", "failed", "webhook sms: HTTP 503"),
        DeliveryRow("a1", "alarm", "webhook", "sms:2", "given_up", "webhook sms: HTTP 400"),
        DeliveryRow("a1", "alarm", "webhook", "chat", "sent", ""),
        DeliveryRow("a1", "alarm", "email", "c@x", "dropped", ""),
    ]
    found = counts(
        rows, lambda channel, address: address.partition(":")[0] if channel == "webhook" else ""
    )
    shown = [
        (c.channel, c.name, c.sent, c.recipients, c.retrying, c.given_up, c.reason) for c in found
    ]
    assert shown == [
        ("email", "", 2, 2, 0, 0, None),
        ("webhook", "sms", 0, 2, 1, 1, "webhook sms: HTTP 400"),
        ("webhook", "chat", 1, 1, 0, 0, None),
    ]


def test_the_all_clears_are_counted_apart_from_the_alarm_messages() -> None:
    """The resolved alarm's e-mail stays 1/1; its all-clear is a count of its own."""
    rows = [
        DeliveryRow("a1", "alarm", "email", "a@x", "sent", ""),
        DeliveryRow("a1", "alarm", "webhook", "sms:1", "sent", ""),
        DeliveryRow("a2", "alarm", "email", "a@x", "given_up", "smtp: refused"),
        DeliveryRow("a1", "all_clear", "email", "a@x", "sent", ""),
        DeliveryRow("a1", "all_clear", "webhook", "sms:1", "given_up", "webhook sms: HTTP 500"),
    ]
    found = counts_by_alarm(rows, lambda channel, address: "SMS" if channel == "webhook" else "")

    def shown(found: list[ChannelCount]) -> list[tuple[str, int, int, int]]:
        return [(c.name or c.channel, c.sent, c.recipients, c.given_up) for c in found]

    assert shown(found["a1"].alarm) == [("email", 1, 1, 0), ("SMS", 1, 1, 0)]
    assert shown(found["a1"].all_clear) == [("email", 1, 1, 0), ("SMS", 0, 1, 1)]
    assert found["a1"].all_clear[1].reason == "webhook sms: HTTP 500"
    assert shown(found["a2"].alarm) == [("email", 0, 1, 1)]
    assert found["a2"].all_clear == []


def test_a_reason_is_one_short_line_without_credentials_or_query() -> None:
    error = ValueError("GET https://user:pw@gw.example/send?token=abc failed\nsecond line")
    reason = one_line(error, "webhook")
    assert reason == "webhook: ValueError: GET https://…@gw.example/send?… failed"
    assert len(one_line(ValueError("x" * 500), "smtp")) == 200
