"""The frames agents send each other when no hub answers (issue 16): sealed, fresh, bounded.

One frame is one line: ``{"body": "<JSON>", "mac": "<hex>"}``. The body is an
alarm (what the hub would have put in its ``alarm_notify``: id, level, room,
raiser) or the receiver's acknowledgement, each with the sender, its site and the
time it was sent; the MAC is HMAC-SHA256 over the body's exact bytes with the
site's peer key from the hub. A receiver takes a frame only if it is at most
``MAX_FRAME_BYTES``, its MAC is right under its own site key, it names its own
site and was sent within ``FRESH_S`` of its clock; a frame of an alarm id it has
already taken is a repeat (``Repeats``): acknowledged again, never a second popup.
Pure: no sockets, no clock of its own (agent/peer_net.py does the I/O).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.domain import AlarmLevel
from shared.protocol import RoomRef

MAX_FRAME_BYTES = 8 * 1024
"""A longer line is refused unread: an alarm frame is well under 2 KiB."""

FRESH_S = 120.0
"""A frame sent more than this far from the receiver's clock is refused (a replayed
recording, or a PC whose clock is badly off)."""

_DOMAIN = b"silent-alarm peer frame v1\n"  # a MAC made for anything else never fits


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alarm_id: uuid.UUID
    sender: str = Field(min_length=1, max_length=128)  # the sending workstation's id
    site_id: int
    sent_at: float  # the sender's time.time()


class PeerAlarm(_Body):
    """The raiser's alarm, as the hub would have told the neighbour."""

    type: Literal["alarm"] = "alarm"
    level: AlarmLevel
    room: RoomRef | None
    raiser: str | None = Field(default=None, max_length=128)
    raised_at: AwareDatetime


class PeerAck(_Body):
    """The receiver took the alarm (shows it, or already did)."""

    type: Literal["ack"] = "ack"


class Refusal(StrEnum):
    """Why a frame was not taken; logged by the receiver (never the frame itself)."""

    OVERSIZE = "oversize"
    MALFORMED = "malformed"
    BAD_MAC = "bad_mac"
    OTHER_SITE = "other_site"
    STALE = "stale"


class FrameRefused(ValueError):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


BodyT = TypeVar("BodyT", PeerAlarm, PeerAck)


def _mac(key: bytes, body: bytes) -> str:
    return hmac.new(key, _DOMAIN + body, hashlib.sha256).hexdigest()


def seal(body: PeerAlarm | PeerAck, key: bytes) -> bytes:
    """The frame for ``body``, newline-terminated."""
    raw = body.model_dump_json().encode()
    frame = json.dumps({"body": raw.decode(), "mac": _mac(key, raw)}, separators=(",", ":"))
    encoded = frame.encode() + b"\n"
    if len(encoded) > MAX_FRAME_BYTES:
        raise ValueError("frame too large")  # a room name of kilobytes: not sent
    return encoded


def open_frame(frame: bytes, key: bytes, site_id: int, now: float, kind: type[BodyT]) -> BodyT:
    """The verified body of ``frame``; raises ``FrameRefused`` with the reason otherwise."""
    if len(frame) > MAX_FRAME_BYTES:
        raise FrameRefused(Refusal.OVERSIZE)
    try:
        outer = json.loads(frame)
        body, mac = outer["body"], outer["mac"]
        if not isinstance(body, str) or not isinstance(mac, str) or len(outer) != 2:
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise FrameRefused(Refusal.MALFORMED) from None
    raw = body.encode()
    if not hmac.compare_digest(_mac(key, raw), mac):
        raise FrameRefused(Refusal.BAD_MAC)
    try:
        opened = kind.model_validate_json(raw)
    except ValidationError:
        raise FrameRefused(Refusal.MALFORMED) from None
    if opened.site_id != site_id:
        raise FrameRefused(Refusal.OTHER_SITE)
    if abs(now - opened.sent_at) > FRESH_S:
        raise FrameRefused(Refusal.STALE)
    return opened


class Repeats:
    """Alarm ids already taken; an id is remembered twice the freshness window, after which
    a replay of its frame is stale anyway, so the set stays small."""

    def __init__(self, window: float = 2 * FRESH_S) -> None:
        self._window = window
        self._seen: dict[uuid.UUID, float] = {}

    def first(self, alarm_id: uuid.UUID, now: float) -> bool:
        """True the first time ``alarm_id`` comes in (within the window)."""
        self._seen = {a: t for a, t in self._seen.items() if now - t <= self._window}
        if alarm_id in self._seen:
            return False
        self._seen[alarm_id] = now
        return True
