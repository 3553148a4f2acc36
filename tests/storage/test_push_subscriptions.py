"""Push subscriptions on every backend: one row per browser, the operator's own, as old as
their session, at most ten, gone with the operator (dispatch/channels/push_subscriptions.py)."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select

from dispatch.channels import push_subscriptions
from dispatch.channels.push_endpoints import EndpointPolicy
from dispatch.directory.authentication import Authenticator
from dispatch.directory.identities import OperatorView
from dispatch.directory.operators import create_operator, delete_operator
from dispatch.directory.refusals import Invalid, NotFound
from dispatch.directory.sessions import end_operator_sessions
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.settings import PUSH_SERVICE_HOSTS
from dispatch.store.database import Database
from dispatch.store.models import AuditEvent, PushSubscription
from shared.domain import OperatorRole

POLICY = EndpointPolicy(PUSH_SERVICE_HOSTS)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def browser_keys() -> tuple[str, str]:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    return _b64(point), _b64(os.urandom(16))


def endpoint(n: int) -> str:
    return f"https://fcm.googleapis.com/fcm/send/browser-{n}"


async def operator(db: Database, username: str) -> OperatorView:
    row, _ = await create_operator(
        db, "cli", username, "passwort-1234567", OperatorRole.GUARD, username, scope=EVERY_SITE
    )
    view = await Authenticator(db).operator(row.id)
    assert view is not None
    return view


async def subscribe(db: Database, who: OperatorView, n: int) -> int:
    return await push_subscriptions.subscribe(db, who, endpoint(n), *browser_keys(), POLICY)


async def rows(db: Database) -> int:
    async with db.read() as session:
        count = await session.scalar(select(func.count()).select_from(PushSubscription))
        return int(count or 0)


async def test_a_browser_is_one_row_and_moves_to_whoever_subscribes_it(db: Database) -> None:
    anna, ben = await operator(db, "anna"), await operator(db, "ben")
    first = await subscribe(db, anna, 1)
    assert await subscribe(db, anna, 1) == first  # a reload subscribes again: same row
    assert await subscribe(db, ben, 1) == first  # the phone is Ben's now
    found = await push_subscriptions.recipient(db, "ben")
    assert found is not None
    assert [t.endpoint for t in found.targets] == [endpoint(1)]
    anna_now = await push_subscriptions.recipient(db, "anna")
    assert anna_now is not None
    assert anna_now.targets == ()
    assert await push_subscriptions.recipient(db, "niemand") is None


async def test_ten_browsers_at_most_the_oldest_replaced(db: Database) -> None:
    anna = await operator(db, "anna")
    for n in range(12):
        await subscribe(db, anna, n)
    found = await push_subscriptions.recipient(db, "anna")
    assert found is not None
    assert [t.endpoint for t in found.targets] == [endpoint(n) for n in range(2, 12)]
    assert await push_subscriptions.count_of(db, anna) == 10


async def test_refused_subscriptions_store_nothing(db: Database) -> None:
    anna = await operator(db, "anna")
    p256dh, auth = browser_keys()
    with pytest.raises(Invalid, match="endpoint refused"):
        await push_subscriptions.subscribe(db, anna, "https://10.0.0.1/x", p256dh, auth, POLICY)
    with pytest.raises(Invalid, match="p256dh"):
        await push_subscriptions.subscribe(db, anna, endpoint(1), _b64(b"\x04" * 65), auth, POLICY)
    with pytest.raises(Invalid, match="auth"):
        await push_subscriptions.subscribe(db, anna, endpoint(1), p256dh, _b64(b"x" * 8), POLICY)
    assert await rows(db) == 0


async def test_only_the_owner_unsubscribes_and_each_change_is_audited_by_host(
    db: Database,
) -> None:
    anna, ben = await operator(db, "anna"), await operator(db, "ben")
    await subscribe(db, anna, 1)
    with pytest.raises(NotFound):
        await push_subscriptions.unsubscribe(db, ben, endpoint(1))
    await push_subscriptions.unsubscribe(db, anna, endpoint(1))
    assert await rows(db) == 0
    async with db.read() as session:
        details = list(
            await session.scalars(select(AuditEvent.detail).where(AuditEvent.action.like("push_%")))
        )
    assert len(details) == 2
    assert all("fcm.googleapis.com" in d and "browser-1" not in d for d in details)


async def test_an_ended_session_ends_the_pushes_and_a_deleted_operator_their_rows(
    db: Database,
) -> None:
    anna, admin = await operator(db, "anna"), await operator(db, "chefin")
    await subscribe(db, anna, 1)
    async with db.write() as session:
        await end_operator_sessions(session, anna.id)  # logout, new password, role change
    found = await push_subscriptions.recipient(db, "anna")
    assert found is not None
    assert found.targets == ()
    await subscribe(db, await operator(db, "anna2"), 2)
    await delete_operator(db, "cli", anna.id, acting_id=admin.id, scope=EVERY_SITE)
    assert await rows(db) == 1  # anna's row went with her; anna2's stays


async def test_logout_removes_every_browser_and_a_gone_one_is_forgotten(db: Database) -> None:
    anna = await operator(db, "anna")
    first = await subscribe(db, anna, 1)
    await subscribe(db, anna, 2)
    await push_subscriptions.forget(db, first, "http 410")
    await push_subscriptions.forget(db, first, "http 410")  # another instance was faster
    assert await rows(db) == 1
    assert await push_subscriptions.unsubscribe_all(db, anna) == 1
    assert await push_subscriptions.unsubscribe_all(db, anna) == 0
    assert await rows(db) == 0
