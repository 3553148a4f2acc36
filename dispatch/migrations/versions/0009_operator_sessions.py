"""operators: a session epoch, so that the server can end every session of an operator

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:50:00.000000

Logout, a new password, a role or site change and disabling raise the epoch;
a session cookie made at another epoch is refused (dispatch/directory/sessions.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN with a constant default: no table copy on SQLite, no trigger lost.
    op.add_column(
        "operators",
        sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("session_epoch")
