"""Channel recipients per site and level (issue 20), the configured channels, and a test send."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field, StringConstraints

from dispatch.channels import recipients
from dispatch.channels.base import Audience, ChannelKind, Sent
from dispatch.channels.queue import DeliveryQueue
from dispatch.channels.webhook import WebhookChannel
from dispatch.store.audit import AuditTrail
from dispatch.store.models import ChannelRecipient, Site
from dispatch.web.api.deps import DB, Admin, HubDep, Reader, ScopeDep, actor, get_or_404, refusals
from dispatch.web.api.schemas import Id, Input

router = APIRouter(tags=["channels"])

Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
ChannelAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)
]
RecipientId = Annotated[Id, Path(description="The channel recipient's id")]


class ChannelRecipientIn(Input):
    level: int = Field(ge=1, le=3, description="Alarm level 1-3")
    after_s: int = Field(
        0,
        ge=0,
        le=recipients.MAX_AFTER_S,
        description="0: when the alarm is stored; N: N s later if nobody acknowledged it",
    )
    channel: ChannelKind
    address: ChannelAddress = Field(description="e-mail address, or endpoint:recipient")
    label: Label = ""
    audience: Audience
    language: Literal["de", "en"] = "de"


class ChannelRecipientOut(BaseModel):
    id: int
    site_id: int
    level: int
    after_s: int
    channel: str
    address: str
    label: str
    audience: str
    language: str


class ConfiguredChannel(BaseModel):
    channel: str
    endpoints: list[str]  # a webhook's endpoint names; empty for the others


class TestOutcome(BaseModel):
    sent: bool
    reason: str  # why it failed, one line; empty when sent
    reference: str  # the channel's id: Message-ID, gateway id


def _out(row: ChannelRecipient) -> ChannelRecipientOut:
    return ChannelRecipientOut(
        id=row.id,
        site_id=row.site_id,
        level=row.level,
        after_s=row.after_s,
        channel=row.channel,
        address=row.address,
        label=row.label,
        audience=row.audience,
        language=row.language,
    )


def _queue(hub: HubDep) -> DeliveryQueue:
    if hub.deliveries is None:  # only before the hub has started
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "delivery queue not running")
    return hub.deliveries


@router.get("/channels", response_model=list[ConfiguredChannel], summary="Channels set up")
async def configured(_: Reader, hub: HubDep) -> list[ConfiguredChannel]:
    """The channels this hub can send on (their transports are settings, never shown)."""
    found = []
    for kind, channel in sorted(_queue(hub).channels.items()):
        names = sorted(channel.endpoint_names()) if isinstance(channel, WebhookChannel) else []
        found.append(ConfiguredChannel(channel=kind.value, endpoints=names))
    return found


@router.get(
    "/sites/{site_id}/channel-recipients",
    response_model=list[ChannelRecipientOut],
    summary="People told by e-mail, SMS, … per level",
)
async def list_recipients(
    site_id: Id, _: Reader, db: DB, scope: ScopeDep
) -> list[ChannelRecipientOut]:
    async with db.read() as session:
        await get_or_404(session, Site, site_id, "site", scope)
        return [_out(row) for row in await recipients.of_site(session, site_id)]


@router.post(
    "/sites/{site_id}/channel-recipients",
    response_model=ChannelRecipientOut,
    status_code=201,
    summary="Add a channel recipient",
)
async def add_recipient(
    site_id: Id, body: ChannelRecipientIn, operator: Admin, db: DB, hub: HubDep, scope: ScopeDep
) -> ChannelRecipientOut:
    """Applies to alarms stored from now on, as a saved policy does."""
    new = recipients.NewRecipient(
        level=body.level,
        after_s=body.after_s,
        channel=body.channel,
        address=body.address,
        label=body.label,
        audience=body.audience,
        language=body.language,
    )
    async with db.write() as session:
        await get_or_404(session, Site, site_id, "site", scope)
        with refusals():
            row = await recipients.add(session, actor(operator), site_id, new, _queue(hub).channels)
        return _out(row)


@router.delete(
    "/sites/{site_id}/channel-recipients/{recipient_id}",
    status_code=204,
    summary="Remove a channel recipient",
)
async def remove_recipient(
    site_id: Id, recipient_id: RecipientId, operator: Admin, db: DB, scope: ScopeDep
) -> None:
    """Messages already queued for open alarms still go out."""
    async with db.write() as session:
        await get_or_404(session, Site, site_id, "site", scope)
        with refusals():
            await recipients.remove(session, actor(operator), site_id, recipient_id)


@router.post(
    "/sites/{site_id}/channel-recipients/{recipient_id}/test",
    response_model=TestOutcome,
    summary="Send a test message now",
)
async def send_test(
    site_id: Id, recipient_id: RecipientId, operator: Admin, db: DB, hub: HubDep, scope: ScopeDep
) -> TestOutcome:
    """The admin page's "Testnachricht senden": sent at once, not queued, its outcome answered."""
    async with db.read() as session:
        await get_or_404(session, Site, site_id, "site", scope)
        with refusals():
            row = await recipients.found(session, site_id, recipient_id)
        kind, address, label, language = (
            ChannelKind(row.channel),
            row.address,
            row.label,
            row.language,
        )
    outcome = await _queue(hub).send_test(kind, address, label, language)
    sent = isinstance(outcome, Sent)
    async with db.write() as session:
        (await AuditTrail.open(session)).append(
            actor(operator),
            "channel_test_sent",
            site_id=site_id,
            recipient=recipient_id,
            channel=kind.value,
            sent=sent,
        )
    if isinstance(outcome, Sent):
        return TestOutcome(sent=True, reason="", reference=outcome.reference)
    return TestOutcome(sent=False, reason=outcome.reason, reference="")
