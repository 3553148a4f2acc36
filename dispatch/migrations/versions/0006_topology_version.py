"""topology version: a counter database triggers raise on every change routing depends on

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00.000000

The hub keeps what routing needs in memory (dispatch/routing/snapshot.py) and
reloads it when this counter moved. Triggers, not application code, raise it,
so a change by the CLI, the admin API, another hub instance or plain SQL is
never missed. Columns that change often and do not matter for routing
(last_seen_at, agent_version, the self-test columns) fire nothing.

A later migration that alters one of these tables with ``batch_alter_table``
on SQLite copies the table and loses its triggers: such a migration must run
``create_triggers`` again, which may run any number of times
(tests/storage/test_topology_version.py fails if a trigger is missing at head).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the columns whose UPDATE changes routing (None: any column).
WATCHED: dict[str, tuple[str, ...] | None] = {
    "sites": ("neighbour_radius_m",),
    "buildings": ("site_id",),
    "floors": ("building_id",),
    "rooms": ("site_id", "floor_id", "x_m", "y_m"),
    "room_neighbours": None,
    "workstations": ("site_id", "room_id", "role", "state"),
    "alarm_policies": None,
}
BUMP = "UPDATE topology_version SET version = version + 1 WHERE id = 1"
PG_FUNCTION = "topology_version_bump"


def upgrade() -> None:
    op.create_table(
        "topology_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topology_version")),
    )
    op.execute("INSERT INTO topology_version (id, version) VALUES (1, 0)")
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_table("topology_version")


def _names(table: str) -> dict[str, str]:
    return {event: f"topology_version_{table}_{event}" for event in ("insert", "delete", "update")}


def _changed(columns: tuple[str, ...] | None, distinct: str) -> str:
    """The WHEN condition of an UPDATE trigger: one of the watched columns really changed."""
    if columns is None:
        return ""
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def create_triggers() -> None:
    """Creates the counter's triggers; those that exist already are kept or replaced."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table, columns in WATCHED.items():
            names = _names(table)
            for name in names.values():
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            for event in ("insert", "delete"):
                op.execute(
                    f"CREATE TRIGGER {names[event]} AFTER {event.upper()} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
                )
            when = _changed(columns, "IS DISTINCT FROM")
            op.execute(
                f"CREATE TRIGGER {names['update']} AFTER UPDATE ON {table} FOR EACH ROW "
                f"{f'WHEN ({when}) ' if when else ''}EXECUTE FUNCTION {PG_FUNCTION}()"
            )
        return
    for table, columns in WATCHED.items():
        names = _names(table)
        for event in ("insert", "delete"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS {names[event]} AFTER {event.upper()} ON {table} "
                f"FOR EACH ROW BEGIN {BUMP}; END"
            )
        when = _changed(columns, "IS NOT")
        op.execute(
            f"CREATE TRIGGER IF NOT EXISTS {names['update']} AFTER UPDATE ON {table} FOR EACH ROW "
            f"{f'WHEN {when} ' if when else ''}BEGIN {BUMP}; END"
        )


def drop_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        for name in _names(table).values():
            op.execute(f"DROP TRIGGER IF EXISTS {name}{f' ON {table}' if postgres else ''}")
    if postgres:
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
