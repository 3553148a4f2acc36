"""topology, enrolment, policies and alarm lifecycle

Rooms move from free-text floor/building names to floors in buildings; the
names of existing rooms become those buildings and floors.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 15:37:16.347898
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.store.models import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "buildings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_buildings_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_buildings_site_id")),
    )
    op.create_table(
        "floors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("plan_file", sa.String(length=200), nullable=True),
        sa.Column("width_m", sa.Float(), nullable=True),
        sa.Column("height_m", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_floors_building_id_buildings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_floors")),
        sa.UniqueConstraint("building_id", "name", name=op.f("uq_floors_building_id")),
    )
    op.create_table(
        "alarm_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("raiser_feedback", sa.String(length=16), nullable=False),
        sa.Column("escalation", sa.Text(), nullable=False),
        sa.Column("cancel_window_s", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_alarm_policies_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_policies")),
        sa.UniqueConstraint("site_id", "level", name=op.f("uq_alarm_policies_site_id")),
    )
    op.create_table(
        "operator_sites",
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_operator_sites_operator_id_operators")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_operator_sites_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("operator_id", "site_id", name=op.f("pk_operator_sites")),
    )
    op.create_table(
        "enrolment_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("workstation_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_enrolment_codes_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_enrolment_codes_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolment_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_enrolment_codes_code_hash")),
    )

    # Existing rows get the defaults the models give new ones.
    with op.batch_alter_table("sites") as batch_op:
        batch_op.add_column(sa.Column("police_notes", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("phone", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("neighbour_radius_m", sa.Float(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("room_neighbours") as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="link")
        )
    with op.batch_alter_table("workstations") as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="active")
        )
        batch_op.add_column(
            sa.Column("hostname", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("operators") as batch_op:
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("locked_until", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("alarms") as batch_op:
        batch_op.add_column(
            sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("escalation_step", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("next_escalation_at", UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("cancelled_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_alarms_next_escalation_at"), ["next_escalation_at"], unique=False
        )
    with op.batch_alter_table("alarm_recipients") as batch_op:
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("arrived_at", UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table("rooms") as batch_op:
        batch_op.add_column(sa.Column("floor_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("phone", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("x_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("y_m", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("entrance", sa.String(length=120), nullable=False, server_default="")
        )
    _floors_from_room_names()
    with op.batch_alter_table("rooms") as batch_op:
        batch_op.alter_column("floor_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_rooms_floor_id"), ["floor_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_rooms_floor_id_floors"), "floors", ["floor_id"], ["id"]
        )
        batch_op.drop_column("floor")
        batch_op.drop_column("building")


UNNAMED_BUILDING = "Hauptgebäude"

_rooms = sa.table(
    "rooms",
    sa.column("id"),
    sa.column("site_id"),
    sa.column("floor"),
    sa.column("building"),
    sa.column("floor_id"),
)
_buildings = sa.table(
    "buildings", sa.column("id"), sa.column("site_id"), sa.column("name"), sa.column("address")
)
_floors = sa.table(
    "floors", sa.column("id"), sa.column("building_id"), sa.column("name"), sa.column("level")
)


def _floors_from_room_names() -> None:
    connection = op.get_bind()
    buildings: dict[tuple[int, str], int] = {}
    floors: dict[tuple[int, str], int] = {}
    rows = connection.execute(
        sa.select(_rooms.c.id, _rooms.c.site_id, _rooms.c.floor, _rooms.c.building)
    )
    for room_id, site_id, floor_name, building_name in rows.all():
        building_key = (site_id, building_name or UNNAMED_BUILDING)
        if building_key not in buildings:
            buildings[building_key] = connection.execute(
                _buildings.insert()
                .values(site_id=site_id, name=building_key[1], address="")
                .returning(_buildings.c.id)
            ).scalar_one()
        floor_key = (buildings[building_key], floor_name)
        if floor_key not in floors:
            floors[floor_key] = connection.execute(
                _floors.insert()
                .values(building_id=floor_key[0], name=floor_name, level=0)
                .returning(_floors.c.id)
            ).scalar_one()
        connection.execute(
            _rooms.update().where(_rooms.c.id == room_id).values(floor_id=floors[floor_key])
        )


def downgrade() -> None:
    with op.batch_alter_table("rooms") as batch_op:
        batch_op.add_column(sa.Column("building", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("floor", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_rooms.c.id, _floors.c.name, _buildings.c.name)
        .join(_floors, _floors.c.id == _rooms.c.floor_id)
        .join(_buildings, _buildings.c.id == _floors.c.building_id)
    )
    for room_id, floor_name, building_name in rows.all():
        connection.execute(
            _rooms.update()
            .where(_rooms.c.id == room_id)
            .values(floor=floor_name, building=building_name)
        )
    with op.batch_alter_table("rooms") as batch_op:
        batch_op.alter_column("floor", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint(batch_op.f("fk_rooms_floor_id_floors"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_rooms_floor_id"))
        for column in ("entrance", "y_m", "x_m", "phone", "floor_id"):
            batch_op.drop_column(column)
    drops = {
        "workstations": ("revoked_at", "hostname", "state"),
        "sites": ("neighbour_radius_m", "phone", "police_notes"),
        "room_neighbours": ("kind",),
        "operators": ("disabled", "locked_until", "failed_logins"),
        "alarm_recipients": ("arrived_at", "step"),
    }
    with op.batch_alter_table("alarms") as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarms_next_escalation_at"))
        for column in ("cancelled_at", "next_escalation_at", "escalation_step", "drill"):
            batch_op.drop_column(column)
    for table, columns in drops.items():
        with op.batch_alter_table(table) as batch_op:
            for column in columns:
                batch_op.drop_column(column)
    for table in ("enrolment_codes", "operator_sites", "alarm_policies", "floors", "buildings"):
        op.drop_table(table)
