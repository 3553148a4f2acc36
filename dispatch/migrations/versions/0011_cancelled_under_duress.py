"""duress cancel: when an alarm's raiser withdrew it under duress

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 11:40:00.000000

``alarms.cancelled_under_duress_at``: set when the raiser used the duress cancel
(issue 16). The alarm stays open at level 3 for security; the raiser and staff
were told it was withdrawn. NULL for every alarm before this migration.

Plain ADD COLUMN (no batch copy) on upgrade; the downgrade's batch copy is of
``alarms``, which carries no topology trigger.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.store.models import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "alarms",
        sa.Column("cancelled_under_duress_at", UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_column("cancelled_under_duress_at")
