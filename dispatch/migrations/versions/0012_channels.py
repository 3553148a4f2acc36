"""outbound channels: recipients away from a PC and the delivery queue (issue 20)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 14:10:00.000000

``channel_recipients``: per site and level, who is told by e-mail, webhook/SMS,
ESPA or Web Push, at once (``after_s`` 0) or as an escalation step.
``channel_deliveries``: the persistent delivery queue, one row per alarm and
recipient with its idempotency key, state, attempts and last error.

Two new tables; nothing existing is altered, so no topology trigger is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.store.models import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("after_s", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_channel_recipients_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_recipients")),
    )
    op.create_index("ix_channel_recipients_site_level", "channel_recipients", ["site_id", "level"])
    op.create_table(
        "channel_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("alarm_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("after_s", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.Column("reference", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], name=op.f("fk_channel_deliveries_alarm_id_alarms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_deliveries")),
        sa.UniqueConstraint(
            "alarm_id", "recipient_id", name=op.f("uq_channel_deliveries_alarm_id")
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_channel_deliveries_idempotency_key")),
    )
    op.create_index(
        op.f("ix_channel_deliveries_alarm_id"), "channel_deliveries", ["alarm_id"], unique=False
    )
    op.create_index("ix_channel_deliveries_state_due_at", "channel_deliveries", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_channel_deliveries_state_due_at", table_name="channel_deliveries")
    op.drop_index(op.f("ix_channel_deliveries_alarm_id"), table_name="channel_deliveries")
    op.drop_table("channel_deliveries")
    op.drop_index("ix_channel_recipients_site_level", table_name="channel_recipients")
    op.drop_table("channel_recipients")
