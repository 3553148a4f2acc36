"""channel all-clear: a second row kind in the delivery queue, and what it needs

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 10:00:00.000000

``channel_deliveries`` (issue 20, docs/channels.md, "The all-clear"):

- ``kind``: ``alarm`` (every row before this migration) or ``all_clear``, the message
  that tells a recipient the alarm they were sent is over; unique per (alarm,
  recipient, kind) instead of per (alarm, recipient), so each recipient gets at
  most one of each.
- ``level``: the alarm's level when the row was planned, copied from ``alarms``
  for the rows before this migration (a duress cancel raises an alarm to 3 later;
  staff's all-clear must read as the end of the alarm they were told).
- ``closed_at``: on an alarm row, when its all-clear was planned. Rows of alarms
  that had ended before this migration are closed now, and so are staff's rows of
  an alarm withdrawn under duress: no all-clear goes out for what ended before the
  all-clear existed. Indexed with ``state``: the planning reads the sent rows not
  closed yet.

The batch copy is of ``channel_deliveries``, which carries no topology trigger.
The downgrade deletes the all-clear rows (the old unique key cannot hold them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.store.models import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channel_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="alarm")
        )
        batch_op.add_column(sa.Column("level", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_constraint("uq_channel_deliveries_alarm_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_channel_deliveries_alarm_id", ["alarm_id", "recipient_id", "kind"]
        )
        batch_op.create_index(
            "ix_channel_deliveries_state_closed_at", ["state", "closed_at"], unique=False
        )
    op.execute(
        "UPDATE channel_deliveries SET level = (SELECT alarms.level FROM alarms"
        " WHERE alarms.id = channel_deliveries.alarm_id)"
    )
    # The open states as they are now (dispatch/alarms/lifecycle.py OPEN_STATES), written
    # out: a later change of the code must not rewrite what this migration did.
    op.execute(
        "UPDATE channel_deliveries SET closed_at = created_at WHERE alarm_id IN"
        " (SELECT id FROM alarms WHERE state NOT IN ('active', 'acknowledged', 'arrived'))"
        " OR (audience = 'staff' AND alarm_id IN"
        " (SELECT id FROM alarms WHERE cancelled_under_duress_at IS NOT NULL))"
    )


def downgrade() -> None:
    op.execute("DELETE FROM channel_deliveries WHERE kind <> 'alarm'")
    with op.batch_alter_table("channel_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_deliveries_state_closed_at")
        batch_op.drop_constraint("uq_channel_deliveries_alarm_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_channel_deliveries_alarm_id", ["alarm_id", "recipient_id"]
        )
        batch_op.drop_column("closed_at")
        batch_op.drop_column("level")
        batch_op.drop_column("kind")
