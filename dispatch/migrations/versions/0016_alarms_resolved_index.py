"""alarms by state and resolved_at: the console's recently resolved, read by an index

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 04:30:00.000000

A console that connects lists the last alarms resolved within 12 hours
(``dispatch/alarms/reads.py`` ``recently_resolved``). Without this index that read
visits every resolved alarm and finished self-test the hub keeps (30 days of
self-tests of every PC) and sorts them; with it, only the window's rows, in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_alarms_state_resolved_at", "alarms", ["state", "resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_alarms_state_resolved_at", table_name="alarms")
