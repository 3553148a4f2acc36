"""The one write path of push subscriptions: a browser subscribes, unsubscribes, or its push
service says it is gone.

A subscription belongs to the operator who made it and lives as long as that
operator's session epoch: logout, a new password, a role or site change and
disabling raise the epoch (dispatch/directory/sessions.py), and the hub pushes
no more to the subscriptions made before. Each change is audited with the
endpoint's host only: the endpoint's path and the keys are the browser's
capability to be pushed to, and never reach a log or the audit trail.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.channels.push_endpoints import EndpointPolicy, EndpointRefused, endpoint_host
from dispatch.directory.identities import OperatorView
from dispatch.directory.refusals import Invalid, NotFound
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Operator, OperatorSite, PushSubscription
from shared.domain import OperatorRole
from shared.protocol import utc_now

MAX_PER_OPERATOR = 10
"""Browsers one operator may have subscribed at once; a new one replaces the oldest."""


@dataclass(frozen=True, slots=True)
class Target:
    """One subscription the hub may push to now."""

    id: int
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True, slots=True)
class Recipient:
    """An operator as the channel pushes to them: who (with the sites and role their console
    covers), at which epoch, and where."""

    operator: OperatorView
    targets: tuple[Target, ...]

    @property
    def operator_id(self) -> int:
        return self.operator.id

    @property
    def session_epoch(self) -> int:
        return self.operator.session_epoch


def _key_bytes(value: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise Invalid(f"keys.{what} is not base64url") from None


def check_keys(p256dh: str, auth: str) -> None:
    """The browser's keys as RFC 8291 needs them: a P-256 point and a 16-byte secret."""
    point = _key_bytes(p256dh, "p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise Invalid("keys.p256dh is not an uncompressed P-256 public key") from None
    if len(_key_bytes(auth, "auth")) != 16:
        raise Invalid("keys.auth must be 16 bytes")


async def subscribe(
    db: Database,
    operator: OperatorView,
    endpoint: str,
    p256dh: str,
    auth: str,
    policy: EndpointPolicy,
) -> int:
    """Stores the browser's subscription for ``operator`` and returns its id.

    An endpoint is one browser: subscribed again (a reload, or another guard
    logged in on the same phone), its row moves to this operator with the new keys.
    """
    try:
        policy.check(endpoint)
    except EndpointRefused as refused:
        raise Invalid(f"endpoint refused: {refused}") from None
    check_keys(p256dh, auth)
    async with db.write() as session:
        audit = await AuditTrail.open(session)
        row = await session.scalar(
            select(PushSubscription).where(PushSubscription.endpoint == endpoint)
        )
        if row is None:
            row = PushSubscription(endpoint=endpoint)
            session.add(row)
        row.operator_id = operator.id
        row.p256dh, row.auth = p256dh, auth
        row.session_epoch = operator.session_epoch
        row.created_at = utc_now()
        await session.flush()
        kept = await session.scalars(
            select(PushSubscription.id)
            .where(PushSubscription.operator_id == operator.id)
            .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
            .offset(MAX_PER_OPERATOR)
        )
        oldest = list(kept)
        if oldest:
            await session.execute(delete(PushSubscription).where(PushSubscription.id.in_(oldest)))
        audit.append(
            f"operator:{operator.username}",
            "push_subscribed",
            subscription_id=row.id,
            host=endpoint_host(endpoint),
            replaced=len(oldest),
        )
        return row.id


async def unsubscribe(db: Database, operator: OperatorView, endpoint: str) -> None:
    """Removes the operator's own subscription of this browser; another's is NotFound."""
    async with db.write() as session:
        audit = await AuditTrail.open(session)
        row = await session.scalar(
            select(PushSubscription).where(
                PushSubscription.endpoint == endpoint,
                PushSubscription.operator_id == operator.id,
            )
        )
        if row is None:
            raise NotFound("no push subscription of yours with this endpoint")
        await session.delete(row)
        audit.append(
            f"operator:{operator.username}",
            "push_unsubscribed",
            subscription_id=row.id,
            host=endpoint_host(endpoint),
        )


async def unsubscribe_all(db: Database, operator: OperatorView) -> int:
    """At logout: none of the operator's browsers gets another push. Returns how many."""
    async with db.write() as session:
        audit = await AuditTrail.open(session)
        result = await session.execute(
            delete(PushSubscription).where(PushSubscription.operator_id == operator.id)
        )
        removed: int = getattr(result, "rowcount", 0) or 0
        if removed:
            audit.append(f"operator:{operator.username}", "push_unsubscribed", count=removed)
        return removed


async def forget(db: Database, subscription_id: int, reason: str) -> None:
    """The push service said the subscription is gone (404/410): it is removed."""
    async with db.write() as session:
        audit = await AuditTrail.open(session)
        row = await session.get(PushSubscription, subscription_id)
        if row is None:
            return  # removed meanwhile (another hub instance, the browser itself)
        await session.delete(row)
        audit.append(
            "hub",
            "push_subscription_removed",
            subscription_id=subscription_id,
            operator_id=row.operator_id,
            host=endpoint_host(row.endpoint),
            reason=reason,
        )


async def recipient(db: Database, username: str) -> Recipient | None:
    """The active operator ``username`` and their subscriptions made at the current epoch;
    None for an unknown or disabled login."""
    async with db.read() as session:
        return (await recipients(session, [username])).get(username)


async def recipients(session: AsyncSession, usernames: Collection[str]) -> dict[str, Recipient]:
    """`recipient` for many logins in three statements however many there are (a burst's
    round prepares dozens of pushes at once); unknown and disabled logins are left out."""
    if not usernames:
        return {}
    operators = (
        await session.execute(
            select(
                Operator.id,
                Operator.username,
                Operator.display_name,
                Operator.role,
                Operator.session_epoch,
            ).where(Operator.username.in_(set(usernames)), Operator.disabled.is_(False))
        )
    ).all()
    ids = [row.id for row in operators]
    sites: dict[int, set[int]] = {}
    for operator_id, site_id in await session.execute(
        select(OperatorSite.operator_id, OperatorSite.site_id).where(
            OperatorSite.operator_id.in_(ids)
        )
    ):
        sites.setdefault(operator_id, set()).add(site_id)
    targets: dict[int, list[Target]] = {}
    epochs = {row.id: row.session_epoch for row in operators}
    for row in await session.scalars(
        select(PushSubscription)
        .where(PushSubscription.operator_id.in_(ids))
        .order_by(PushSubscription.id)
    ):
        if row.session_epoch == epochs[row.operator_id]:  # made before a logout: ended
            targets.setdefault(row.operator_id, []).append(
                Target(row.id, row.endpoint, row.p256dh, row.auth)
            )
    return {
        row.username: Recipient(
            OperatorView(
                id=row.id,
                username=row.username,
                display_name=row.display_name,
                role=OperatorRole(row.role),
                sites=frozenset(sites.get(row.id, ())),
                session_epoch=row.session_epoch,
            ),
            tuple(targets.get(row.id, ())),
        )
        for row in operators
    }


async def count_of(db: Database, operator: OperatorView) -> int:
    """How many of the operator's browsers get pushes now (the console shows it)."""
    async with db.read() as session:
        rows = await session.scalars(
            select(PushSubscription.id).where(
                PushSubscription.operator_id == operator.id,
                PushSubscription.session_epoch == operator.session_epoch,
            )
        )
        return len(list(rows))
