"""hash-chained audit trail

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 15:07:53.387426
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _chain_existing_events()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("previous_hash", nullable=False)
        batch_op.alter_column("hash", nullable=False)


def _chain_existing_events() -> None:
    """Events written before the chain existed are chained in id order, once."""
    from dispatch.store.audit import GENESIS, event_hash
    from dispatch.store.models import UTCDateTime

    # A table of its own, not the ORM model: later model changes must not change
    # what this revision does.
    events = sa.table(
        "audit_events",
        *(sa.column(name) for name in ("id", "actor", "action", "alarm_id")),
        *(sa.column(name) for name in ("workstation_id", "room_id", "detail")),
        sa.column("at", UTCDateTime()),
        sa.column("previous_hash"),
        sa.column("hash"),
    )
    connection = op.get_bind()
    previous = GENESIS
    for row in connection.execute(sa.select(events).order_by(events.c.id)).all():
        current = event_hash(previous, row)
        connection.execute(
            events.update()
            .where(events.c.id == row.id)
            .values(previous_hash=previous, hash=current)
        )
        previous = current


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("previous_hash")
