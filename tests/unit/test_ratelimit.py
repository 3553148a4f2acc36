"""Token buckets: a burst up to the capacity, then the refill rate; alarms are exempt."""

from __future__ import annotations

import uuid

from dispatch.net.ratelimit import MessageLimiter, TokenBucket
from shared.domain import AlarmLevel, Trigger
from shared.protocol import CancelAlarm, Ping, RaiseAlarm, utc_now


def test_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(capacity=3, refill_per_s=2, updated=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.4) is False  # 0.8 of a token
    assert bucket.take(0.5) is True  # 1 token after 0.5 s
    assert bucket.take(100.0) is True
    assert bucket.tokens == 2  # capped at the capacity, minus the one taken


def test_alarms_pass_an_exhausted_limiter() -> None:
    # A stopped clock: on a busy machine the real one refills a token between the calls.
    limiter = MessageLimiter(clock=lambda: 1000.0)
    while limiter.allow(Ping()):
        pass
    raise_alarm = RaiseAlarm(
        alarm_id=uuid.uuid4(), level=AlarmLevel.DANGER, trigger=Trigger.HOTKEY, raised_at=utc_now()
    )
    assert limiter.allow(raise_alarm)
    assert limiter.allow(CancelAlarm(alarm_id=raise_alarm.alarm_id))
    assert not limiter.allow(Ping())
