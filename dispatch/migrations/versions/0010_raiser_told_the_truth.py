"""the raiser is told the truth: nobody-reached timer, policy time, console seen

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 04:40:00.000000

``alarm_policies.nobody_reached_s``: seconds after storing until the raiser is
told "nobody reached" when no recipient confirmed the popup and no console
showed the alarm (default 10, as the product brief says).

``alarms.reach_due_at`` is that moment for one alarm (NULL once decided or for
a self-test): a column like ``next_escalation_at``, so the timer survives a hub
restart and is checked by the hub's periodic round. ``alarms.nobody_reached_at``
records when the raiser was told; ``alarms.console_seen_at`` the first time a
console confirmed it rendered the alarm.

Plain ADD COLUMN (no batch copy), so the topology triggers of migration 0006 on
``alarm_policies`` stay in place.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

from dispatch.store.models import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "alarm_policies",
        sa.Column("nobody_reached_s", sa.Integer(), nullable=False, server_default="10"),
    )
    op.add_column("alarms", sa.Column("reach_due_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column(
        "alarms", sa.Column("nobody_reached_at", UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column("alarms", sa.Column("console_seen_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_alarms_reach_due_at"), "alarms", ["reach_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarms_reach_due_at"))
        for column in ("console_seen_at", "nobody_reached_at", "reach_due_at"):
            batch_op.drop_column(column)
    with op.batch_alter_table("alarm_policies", schema=None) as batch_op:
        batch_op.drop_column("nobody_reached_s")
    # The batch copy of alarm_policies dropped the triggers: 0006's, then 0008's wider ones.
    _migration("0006_topology_version.py").create_triggers()
    _migration("0008_room.py").create_triggers()


def _migration(file_name: str) -> ModuleType:
    """An earlier migration as a module (its file name is no Python identifier)."""
    path = Path(__file__).with_name(file_name)
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
