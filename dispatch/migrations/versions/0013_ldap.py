"""directory operators: where an operator's login is checked, and whether a session may live

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 14:30:00.000000

``operators.source``: ``local`` (the password here, every operator before this
migration) or ``directory`` (an LDAP bind; role and sites from its groups).
``operators.session_started_at``: the latest login while its sessions may still
live, cleared when they are ended; the directory check looks only at those.

Plain ADD COLUMN on upgrade; the downgrade's batch copy is of ``operators``,
which carries no topology trigger.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.store.models import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "operators",
        sa.Column("source", sa.String(length=16), server_default="local", nullable=False),
    )
    op.add_column(
        "operators", sa.Column("session_started_at", UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.drop_column("session_started_at")
        batch_op.drop_column("source")
