"""Web Push (issue 20): the hub's VAPID key, a browser's subscription, a test push, and
"Quittieren" from a phone's notification.

The subscription routes act on the logged-in operator's own browsers only
(session and CSRF like every write; nothing of a site). The acknowledge route
takes no session: the signed token the push carried is its credential, bound
to one alarm, one operator and that operator's session epoch, and expiring
(dispatch/channels/ack_tokens.py, docs/security.md "Web Push"); the alarm is
then acknowledged as that operator through the hub, with the console's rules
(the operator's sites and levels) and audited ``via: push``.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field

from dispatch.alarms.lifecycle import AlarmError
from dispatch.channels import push_subscriptions
from dispatch.channels.ack_tokens import AckTokens, TokenRefused
from dispatch.channels.base import Audience, OutboundMessage, Sent
from dispatch.channels.push_endpoints import EndpointPolicy, endpoint_host
from dispatch.channels.webpush import WebPushChannel
from dispatch.web.api.deps import (
    DB,
    HubDep,
    OperatorWriter,
    Reader,
    client_ip,
    get_authenticator,
    limiter,
    refusals,
)
from dispatch.web.console import i18n

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/webpush", tags=["webpush"])

AlarmId = Annotated[str, Path(max_length=64, description="The alarm's id (a UUID)")]
NOT_CONFIGURED = (
    "Web Push is not configured on this hub: set SILENT_ALARM_VAPID_PRIVATE_KEY_FILE "
    "(docs/channels.md#web-push-alarms-on-the-guards-phones)"
)
# Per client address: this many refused acknowledge tokens within the window answer 429.
ACK_FAILURES_PER_CLIENT = 20
ACK_FAILURE_WINDOW_S = 300.0


class PublicKey(BaseModel):
    public_key: str = Field(description="applicationServerKey for PushManager.subscribe")
    subscriptions: int = Field(description="The operator's browsers that get pushes now")


class SubscriptionKeys(BaseModel):
    p256dh: str = Field(min_length=1, max_length=128)
    auth: str = Field(min_length=1, max_length=64)


class SubscriptionIn(BaseModel):
    """``PushSubscription.toJSON()`` as the browser gives it (other fields are ignored)."""

    endpoint: str = Field(min_length=1, max_length=2048)
    keys: SubscriptionKeys


class Subscribed(BaseModel):
    id: int
    host: str
    subscriptions: int


class EndpointIn(BaseModel):
    endpoint: str = Field(min_length=1, max_length=2048)


class TestPushIn(BaseModel):
    lang: str = Field(default="de", max_length=8)


class TestPushed(BaseModel):
    sent: bool


class AcknowledgeIn(BaseModel):
    token: str = Field(min_length=1, max_length=1000)


class Acknowledged(BaseModel):
    alarm_id: uuid.UUID
    state: str
    acknowledged_by: str | None


def _channel(request: Request) -> WebPushChannel:
    channel: WebPushChannel | None = request.app.state.webpush
    if channel is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_CONFIGURED)
    return channel


@router.get("/key", response_model=PublicKey, summary="The hub's VAPID public key")
async def public_key(request: Request, operator: Reader, db: DB) -> PublicKey:
    channel = _channel(request)
    count = await push_subscriptions.count_of(db, operator)
    return PublicKey(public_key=channel.public_key, subscriptions=count)


@router.post(
    "/subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=Subscribed,
    summary="Subscribe this browser to the operator's pushes",
)
async def subscribe(
    request: Request, body: SubscriptionIn, operator: OperatorWriter, db: DB
) -> Subscribed:
    """Only push services' https endpoints are taken (SILENT_ALARM_WEBPUSH_PUSH_HOSTS):
    any other URL is refused with 422, so no browser makes the hub post into the LAN."""
    _channel(request)
    policy = EndpointPolicy.of(request.app.state.settings)
    with refusals():
        subscription_id = await push_subscriptions.subscribe(
            db, operator, body.endpoint, body.keys.p256dh, body.keys.auth, policy
        )
    count = await push_subscriptions.count_of(db, operator)
    return Subscribed(id=subscription_id, host=endpoint_host(body.endpoint), subscriptions=count)


@router.post(
    "/unsubscribe",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unsubscribe this browser",
)
async def unsubscribe(body: EndpointIn, operator: OperatorWriter, db: DB) -> Response:
    """The operator's own subscription only: another operator's endpoint answers 404."""
    with refusals():
        await push_subscriptions.unsubscribe(db, operator, body.endpoint)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/test", response_model=TestPushed, summary="A test push to the operator's browsers")
async def test_push(request: Request, body: TestPushIn, operator: OperatorWriter) -> TestPushed:
    """409 without a subscribed browser; 502 when no push service accepted it."""
    channel = _channel(request)
    lang = i18n.language(body.lang)
    texts = i18n.messages(lang)
    message = OutboundMessage(
        alarm_id=f"test-{secrets.token_hex(8)}",
        idempotency_key=secrets.token_hex(16),
        level=1,
        audience=Audience.SECURITY,
        site="",
        room=None,
        subject=texts["push_test_title"],
        body=texts["push_test_body"],
        language=lang,
    )
    outcome = await channel.send_test(message, operator.username)
    if isinstance(outcome, Sent):
        return TestPushed(sent=True)
    code = status.HTTP_502_BAD_GATEWAY if outcome.retryable else status.HTTP_409_CONFLICT
    raise HTTPException(code, outcome.reason)


@router.post(
    "/alarms/{alarm_id}/acknowledge",
    response_model=Acknowledged,
    summary='"Quittieren" from a push notification (the token is the credential)',
    responses={
        403: {"description": "A forged, expired, other alarm's or ended operator's token"},
        404: {"description": "No such alarm for this operator"},
        409: {"description": "The alarm can no longer be acknowledged"},
        429: {"description": "Too many refused tokens from this address"},
    },
)
async def acknowledge(
    request: Request, alarm_id: AlarmId, body: AcknowledgeIn, hub: HubDep
) -> Acknowledged:
    client = client_ip(request)
    failures = limiter(request, "push-acknowledge", ACK_FAILURES_PER_CLIENT, ACK_FAILURE_WINDOW_S)
    if failures.blocked(client):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many refused acknowledge tokens from this address: acknowledge on the console",
            headers={"Retry-After": str(failures.retry_after(client))},
        )
    try:
        key = uuid.UUID(alarm_id)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}") from None
    tokens: AckTokens = request.app.state.ack_tokens
    try:
        claim = tokens.check(body.token, key)
    except TokenRefused as refused:
        failures.fail(client)
        log.warning("webpush_acknowledge_refused", alarm_id=str(key), reason=str(refused))
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(refused)) from None
    operator = await get_authenticator(request).operator(claim.operator_id)
    if operator is None or operator.session_epoch != claim.session_epoch:
        failures.fail(client)
        log.warning("webpush_acknowledge_refused", alarm_id=str(key), reason="session ended")
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "acknowledge token no longer valid: the operator logged out or was changed",
        )
    try:
        record = await hub.acknowledge(key, operator, via="push")
    except AlarmError as error:
        code = status.HTTP_404_NOT_FOUND if error.code == "unknown_alarm" else 409
        raise HTTPException(code, error.message) from None
    return Acknowledged(
        alarm_id=record.id, state=record.state.value, acknowledged_by=record.acknowledged_by
    )
