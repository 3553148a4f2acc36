"""alarm kinds, drills, incident reports, arrival, self-tests, entrances, countdown

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 09:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.store.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_drills_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drills")),
    )
    with op.batch_alter_table("drills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drills_site_id"), ["site_id"], unique=False)

    op.create_table(
        "entrances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("floor_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("x_m", sa.Float(), nullable=False),
        sa.Column("y_m", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["floor_id"], ["floors.id"], name=op.f("fk_entrances_floor_id_floors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entrances")),
    )
    with op.batch_alter_table("entrances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entrances_floor_id"), ["floor_id"], unique=False)

    op.create_table(
        "incident_reports",
        sa.Column("alarm_id", sa.String(length=36), nullable=False),
        sa.Column("assessed_level", sa.Integer(), nullable=False),
        sa.Column("police_called", sa.Boolean(), nullable=False),
        sa.Column("injuries", sa.Boolean(), nullable=False),
        sa.Column("property_damage", sa.Boolean(), nullable=False),
        sa.Column("house_ban", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(length=200), nullable=False),
        sa.Column("written_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], name=op.f("fk_incident_reports_alarm_id_alarms")
        ),
        sa.PrimaryKeyConstraint("alarm_id", name=op.f("pk_incident_reports")),
    )

    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="alarm")
        )
        batch_op.add_column(sa.Column("drill_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "raiser_feedback", sa.String(length=16), nullable=False, server_default="count"
            )
        )
        batch_op.add_column(sa.Column("arrived_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("arrived_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_alarms_drill_id_drills"), "drills", ["drill_id"], ["id"]
        )
    # The old boolean becomes the kind: a drill stays a drill.
    op.execute("UPDATE alarms SET kind = 'drill' WHERE drill")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_column("drill")
        batch_op.alter_column("kind", server_default=None)
        batch_op.alter_column("raiser_feedback", server_default=None)

    with op.batch_alter_table("alarm_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("countdown_s", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("alarm_policies", schema=None) as batch_op:
        batch_op.alter_column("countdown_s", server_default=None)

    with op.batch_alter_table("workstations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("self_test_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("self_test_ok", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workstations", schema=None) as batch_op:
        batch_op.drop_column("self_test_ok")
        batch_op.drop_column("self_test_at")

    with op.batch_alter_table("alarm_policies", schema=None) as batch_op:
        batch_op.drop_column("countdown_s")

    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE alarms SET drill = (kind = 'drill')")
    op.execute(
        "DELETE FROM alarm_recipients WHERE alarm_id IN "
        "(SELECT id FROM alarms WHERE kind = 'self_test')"
    )
    op.execute("DELETE FROM alarms WHERE kind = 'self_test'")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.alter_column("drill", server_default=None)
        batch_op.drop_constraint(batch_op.f("fk_alarms_drill_id_drills"), type_="foreignkey")
        batch_op.drop_column("arrived_at")
        batch_op.drop_column("arrived_by")
        batch_op.drop_column("raiser_feedback")
        batch_op.drop_column("drill_id")
        batch_op.drop_column("kind")

    op.drop_table("incident_reports")
    with op.batch_alter_table("entrances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entrances_floor_id"))
    op.drop_table("entrances")
    with op.batch_alter_table("drills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drills_site_id"))
    op.drop_table("drills")
