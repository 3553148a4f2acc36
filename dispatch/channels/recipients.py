"""The one write path for channel recipients (issue 20): checked, stored and audited here.

The REST API and the admin page call it; a refusal is a typed error
(dispatch/directory/refusals.py) the API answers 404/422.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.channels.base import Audience, Channel, ChannelKind
from dispatch.channels.espa444_frames import MAX_CALL_ADDRESS, is_call_address
from dispatch.channels.webhook import WebhookChannel, split_address
from dispatch.directory.refusals import Invalid, NotFound
from dispatch.store.audit import AuditTrail
from dispatch.store.models import ChannelRecipient
from shared.protocol import utc_now

MAX_AFTER_S = 3600


@dataclass(frozen=True, slots=True)
class NewRecipient:
    level: int
    after_s: int
    channel: ChannelKind
    address: str
    label: str
    audience: Audience
    language: str


def check_address(kind: ChannelKind, address: str, channels: Mapping[ChannelKind, Channel]) -> None:
    """Refuses a channel this hub has not set up, and an address its channel cannot use."""
    channel = channels.get(kind)
    if channel is None:
        raise Invalid(f"channel {kind.value} is not configured on this hub (docs/channels.md)")
    if any(c.isspace() for c in address) or not address:
        raise Invalid("address: no spaces")
    if kind is ChannelKind.EMAIL:
        local, at, domain = address.rpartition("@")
        if not (at and local and "." in domain) or "," in address or len(address) > 254:
            raise Invalid("address: one e-mail address, name@example.org")
    elif kind is ChannelKind.WEBHOOK:
        assert isinstance(channel, WebhookChannel)
        if channel.endpoint(address) is None:
            raise Invalid(
                f"address: no webhook endpoint {split_address(address)[0]!r} in the settings; "
                "write endpoint:recipient, e.g. sms:+491701234567"
            )
    elif kind is ChannelKind.ESPA and not is_call_address(address):
        raise Invalid(f"address: a handset or pager number, 1 to {MAX_CALL_ADDRESS} digits")


async def add(
    session: AsyncSession,
    actor: str,
    site_id: int,
    new: NewRecipient,
    channels: Mapping[ChannelKind, Channel],
) -> ChannelRecipient:
    if not 0 <= new.after_s <= MAX_AFTER_S:
        raise Invalid(f"after_s: 0 to {MAX_AFTER_S}")
    check_address(new.channel, new.address, channels)
    row = ChannelRecipient(
        site_id=site_id,
        level=new.level,
        after_s=new.after_s,
        channel=new.channel.value,
        address=new.address,
        label=new.label,
        audience=new.audience.value,
        language=new.language,
        created_at=utc_now(),
    )
    session.add(row)
    await session.flush()
    (await AuditTrail.open(session)).append(
        actor,
        "channel_recipient_added",
        site_id=site_id,
        recipient=row.id,
        level=new.level,
        after_s=new.after_s,
        channel=new.channel.value,
        audience=new.audience.value,
    )
    return row


async def remove(session: AsyncSession, actor: str, site_id: int, recipient_id: int) -> None:
    row = await found(session, site_id, recipient_id)
    await session.delete(row)
    (await AuditTrail.open(session)).append(
        actor, "channel_recipient_removed", site_id=site_id, recipient=recipient_id
    )


async def found(session: AsyncSession, site_id: int, recipient_id: int) -> ChannelRecipient:
    """The site's recipient; another site's is as unknown as a missing one."""
    row = await session.get(ChannelRecipient, recipient_id)
    if row is None or row.site_id != site_id:
        raise NotFound(f"no channel recipient {recipient_id}")
    return row


async def of_site(session: AsyncSession, site_id: int) -> list[ChannelRecipient]:
    return list(
        await session.scalars(
            select(ChannelRecipient)
            .where(ChannelRecipient.site_id == site_id)
            .order_by(ChannelRecipient.level, ChannelRecipient.after_s, ChannelRecipient.id)
        )
    )
