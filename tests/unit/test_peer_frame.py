"""The agent-to-agent frame (issue 16): sealed with the site key, fresh, bounded, taken once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from agent.peer_frame import (
    FRESH_S,
    MAX_FRAME_BYTES,
    FrameRefused,
    PeerAck,
    PeerAlarm,
    Refusal,
    Repeats,
    open_frame,
    seal,
)
from dispatch.store.peer_key import site_key
from shared.domain import AlarmLevel
from shared.protocol import RoomRef

SECRET = bytes(range(32))
KEY = site_key(SECRET, 7, 0)
NOW = 1_800_000_000.0


def alarm(site_id: int = 7, sent_at: float = NOW, room_name: str = "Beratung 1") -> PeerAlarm:
    return PeerAlarm(
        alarm_id=uuid.UUID(int=1),
        sender="pc-1-01",
        site_id=site_id,
        sent_at=sent_at,
        level=AlarmLevel.THREAT,
        room=RoomRef(number="1.01", name=room_name, floor="1. OG"),
        raiser="Frau Albers",
        raised_at=datetime(2027, 1, 1, tzinfo=UTC),
    )


def refusal(frame: bytes, key: bytes = KEY, now: float = NOW) -> Refusal:
    with pytest.raises(FrameRefused) as refused:
        open_frame(frame, key, 7, now, PeerAlarm)
    return refused.value.reason


def test_a_sealed_alarm_opens_as_it_was_sent() -> None:
    frame = seal(alarm(), KEY)
    assert frame.endswith(b"\n")
    assert frame.count(b"\n") == 1
    assert open_frame(frame, KEY, 7, NOW + 1, PeerAlarm) == alarm()


def test_an_ack_opens_only_as_an_ack() -> None:
    ack = PeerAck(alarm_id=uuid.UUID(int=1), sender="pc-1-02", site_id=7, sent_at=NOW)
    assert open_frame(seal(ack, KEY), KEY, 7, NOW, PeerAck) == ack
    assert refusal(seal(ack, KEY)) is Refusal.MALFORMED  # never taken as an alarm


def test_a_wrong_key_fails_the_mac() -> None:
    assert refusal(seal(alarm(), bytes(32))) is Refusal.BAD_MAC


def test_a_changed_body_fails_the_mac() -> None:
    outer = json.loads(seal(alarm(), KEY))
    outer["body"] = outer["body"].replace("1.01", "1.05")
    assert refusal(json.dumps(outer).encode()) is Refusal.BAD_MAC


def test_another_sites_key_and_the_previous_epochs_key_fail_the_mac() -> None:
    assert refusal(seal(alarm(site_id=8), site_key(SECRET, 8, 0))) is Refusal.BAD_MAC
    assert refusal(seal(alarm(), KEY), key=site_key(SECRET, 7, 1)) is Refusal.BAD_MAC


def test_a_frame_for_another_site_under_the_right_key_is_refused() -> None:
    assert refusal(seal(alarm(site_id=8), KEY)) is Refusal.OTHER_SITE


@pytest.mark.parametrize("offset", [-FRESH_S - 1, FRESH_S + 1])
def test_a_frame_outside_the_freshness_window_is_stale(offset: float) -> None:
    assert refusal(seal(alarm(sent_at=NOW + offset), KEY)) is Refusal.STALE


def test_a_frame_at_the_edge_of_the_window_is_fresh() -> None:
    assert open_frame(seal(alarm(sent_at=NOW - FRESH_S), KEY), KEY, 7, NOW, PeerAlarm)


def test_an_oversize_frame_is_refused_before_parsing() -> None:
    assert refusal(b"{" * (MAX_FRAME_BYTES + 1)) is Refusal.OVERSIZE
    with pytest.raises(ValueError, match="too large"):
        seal(alarm(room_name="x" * MAX_FRAME_BYTES), KEY)


@pytest.mark.parametrize(
    "frame",
    [b"", b"not json\n", b"[]\n", b'{"body": 1, "mac": "00"}\n', b'{"body": "{}"}\n'],
)
def test_malformed_frames_are_refused(frame: bytes) -> None:
    assert refusal(frame) is Refusal.MALFORMED


def test_a_repeat_of_an_alarm_is_taken_once_within_the_window() -> None:
    repeats = Repeats(window=240.0)
    first, other = uuid.UUID(int=1), uuid.UUID(int=2)
    assert repeats.first(first, 0.0)
    assert not repeats.first(first, 100.0)  # a replay (or the raiser sending again)
    assert repeats.first(other, 100.0)
    assert repeats.first(first, 341.0)  # forgotten: a replay now would be stale anyway


def test_site_keys_are_256_bit_and_differ_by_site_epoch_and_secret() -> None:
    keys = {
        site_key(SECRET, 7, 0),
        site_key(SECRET, 7, 1),
        site_key(SECRET, 8, 0),
        site_key(bytes(32), 7, 0),
    }
    assert len(keys) == 4
    assert all(len(key) == 32 for key in keys)
    assert site_key(SECRET, 7, 0) == KEY  # derived, so every hub instance agrees
