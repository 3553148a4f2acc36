"""audit chain: a unique index on previous_hash, so the chain cannot fork

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 02:00:00.000000

Two events with the same ``previous_hash`` are a fork: two writers appended to
the same head. The writers prevent that (SQLite: ``BEGIN IMMEDIATE`` in
``Database.write``; PostgreSQL: ``AuditTrail.lock``); the index makes the
database refuse the second event should a writer ever get it wrong.

A database whose chain forked already cannot get the index. The migration
stops with a message instead of dropping events: the audit trail is evidence,
and which branch is the true one is a person's decision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_audit_events_previous_hash"


class ForkedAuditChain(RuntimeError):
    """The audit trail has events that share a previous hash; the index cannot be made."""


def upgrade() -> None:
    _refuse_a_forked_chain()
    # An index, not a table constraint: CREATE UNIQUE INDEX needs no table copy on SQLite.
    op.create_index(INDEX, "audit_events", ["previous_hash"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="audit_events")


def _refuse_a_forked_chain() -> None:
    events = sa.table("audit_events", sa.column("id"), sa.column("previous_hash"))
    forks = op.get_bind().execute(
        sa.select(events.c.previous_hash, sa.func.min(events.c.id), sa.func.count())
        .group_by(events.c.previous_hash)
        .having(sa.func.count() > 1)
        .order_by(sa.func.min(events.c.id))
    )
    found = forks.all()
    if found:
        where = ", ".join(
            f"{n} events from id {first} on follow {prev[:12]}…" for prev, first, n in found[:3]
        )
        raise ForkedAuditChain(
            f"the audit trail forked at {len(found)} place(s) ({where}). Migration 0007 "
            "adds a unique index on audit_events.previous_hash and will not delete audit "
            "events to get it. Run `python -m dispatch audit verify` to see where the chain "
            "breaks, keep a copy of the database as evidence, and repair the trail by hand "
            "before upgrading again."
        )
