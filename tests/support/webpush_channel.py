"""The hub's Web Push channel, run in the test process on a running test hub's own store.

The delivery queue (issue 20, another branch) will call ``build_channel`` in the
hub; until it does, a test builds the same channel from the same settings here
and lets it push what the queue would: the subscriptions, operators, alarms and
audit trail are the hub's (its SQLite file and audit key), the push service is
the local receiver (tests/support/push_receiver.py).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dispatch import demo
from dispatch.channels import vapid
from dispatch.channels.base import Audience, OutboundMessage, Outcome
from dispatch.channels.webpush import build_channel
from dispatch.settings import Settings
from dispatch.store import audit_key
from dispatch.store.database import Database
from tests.support.hub import RunningHub
from tests.support.push_receiver import PushReceiver

SUBJECT = "mailto:sicherheit@example.org"


@dataclass(frozen=True)
class PushSetup:
    """A VAPID key pair made for the test and the hub settings that use it."""

    key_file: Path
    public_key: str
    receiver_origin: str

    def env(self) -> dict[str, str]:
        return {
            "SILENT_ALARM_VAPID_PRIVATE_KEY_FILE": str(self.key_file),
            "SILENT_ALARM_VAPID_SUBJECT": SUBJECT,
            "SILENT_ALARM_WEBPUSH_TEST_ORIGIN": self.receiver_origin,
        }

    def settings(self, hub: RunningHub) -> Settings:
        """The hub's own settings, as its process reads them."""
        return Settings(
            data_dir=hub.data_dir,
            session_secret=demo.session_secret(hub.data_dir),
            vapid_private_key_file=self.key_file,
            vapid_subject=SUBJECT,
            webpush_test_origin=self.receiver_origin,
        )


def push_setup(folder: Path, receiver: PushReceiver) -> PushSetup:
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "vapid-private.pem"
    return PushSetup(key_file, vapid.generate(key_file), receiver.origin)


def alarm_message(
    alarm_id: object,
    *,
    audience: Audience = Audience.SECURITY,
    room: str | None = "1.01",
    level: int = 2,
    key: str = "",
) -> OutboundMessage:
    """What the queue renders for one recipient (subject and body by the content rules)."""
    subject = (
        f"Stufe {level} – Raum {room}" if room else f"Stufe {level} – Tür abschließen, fernbleiben"
    )
    return OutboundMessage(
        alarm_id=str(alarm_id),
        idempotency_key=key or f"{alarm_id}:webpush",
        level=level,
        audience=audience,
        site="Jobcenter Musterstadt",
        room=room,
        subject=subject,
        body=f"{subject}. Bitte kommen." if room else f"{subject}. Polizei ist informiert.",
    )


def send(setup: PushSetup, hub: RunningHub, message: OutboundMessage, address: str) -> Outcome:
    """One ``Channel.send`` on the hub's store, as the hub's queue makes it."""
    settings = setup.settings(hub)

    async def run() -> Outcome:
        db = Database(
            settings.resolved_database_url,
            audit_key=audit_key.load_or_create(settings.resolved_audit_key_file),
        )
        channel = build_channel(settings, db)
        assert channel is not None
        try:
            return await channel.send(message, address)
        finally:
            await channel.aclose()  # its client and kept connections, as the sender's stop does
            await db.dispose()

    # On a loop of its own thread: Playwright's sync API keeps a loop running in the test's.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()
