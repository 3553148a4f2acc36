"""The audit chain's head, recorded outside the database every few seconds.

Cutting events off the end of the chain, or re-hashing it from scratch, leaves
no trace inside the database; against these anchors ``audit verify`` finds
both. Each anchor is a line appended to a file (keep it where the database's
users cannot write: another volume, ``chattr +a``, a log host) and the same
record in the hub's log, which systemd keeps in the journal. A line carries a
MAC with the audit key, so nobody without the key can add or change one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import select

from dispatch.store.database import Database, core_table
from dispatch.store.models import AuditEvent

log = structlog.get_logger(__name__)

_EVENTS = core_table(AuditEvent)
_HEAD = select(_EVENTS.c.id, _EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)


class AnchorError(ValueError):
    """The anchor file has a line that is not an anchor made with this key."""


@dataclass(frozen=True)
class Anchor:
    event_id: int
    hash: str


def _mac(key: bytes, anchor: Anchor) -> str:
    message = f"{anchor.event_id}:{anchor.hash}".encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def anchor_line(key: bytes, anchor: Anchor) -> str:
    record = {"event_id": anchor.event_id, "hash": anchor.hash, "mac": _mac(key, anchor)}
    return json.dumps(record, sort_keys=True) + "\n"


def read_anchors(path: Path, key: bytes) -> list[Anchor]:
    """Every anchor in the file, oldest first; a line that is not one raises AnchorError."""
    anchors = []
    with path.open(encoding="ascii") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                anchor = Anchor(int(record["event_id"]), str(record["hash"]))
                mac = str(record["mac"])
            except (ValueError, KeyError, TypeError):
                raise AnchorError(f"{path} line {number} is not an audit anchor") from None
            if not hmac.compare_digest(mac, _mac(key, anchor)):
                raise AnchorError(f"{path} line {number} was not made with this audit key")
            anchors.append(anchor)
    return anchors


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())


class AuditAnchors:
    """Appends the chain's head to the anchor file whenever it moved, every ``interval``."""

    def __init__(self, db: Database, path: Path, key: bytes, interval: float) -> None:
        self._db = db
        self._path = path
        self._key = key
        self._interval = interval
        self._last: Anchor | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._every_interval(), name="audit-anchors")

    async def stop(self) -> None:
        """Stops the round and anchors the head once more: a clean shutdown leaves no gap."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.anchor()

    async def anchor(self) -> Anchor | None:
        """Records the head if it moved since the last anchor; returns the new anchor."""
        rows = await self._db.rows(_HEAD, {})
        if not rows:
            return None
        head = Anchor(rows[0].id, rows[0].hash)
        if head == self._last:
            return None
        if self._last is not None and head.event_id <= self._last.event_id:
            # The chain never shrinks and an event never changes: someone edited the table.
            log.error(
                "audit_chain_rewritten",
                anchored_event_id=self._last.event_id,
                head_event_id=head.event_id,
            )
        # Off the event loop: the fsync must not hold up alarms.
        await asyncio.to_thread(_append, self._path, anchor_line(self._key, head))
        self._last = head
        log.info("audit_anchor", event_id=head.event_id, hash=head.hash)
        return head

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.anchor()
            except Exception as error:  # the next round tries again; the alarm path goes on
                log.warning("audit_anchor_failed", error=str(error))
