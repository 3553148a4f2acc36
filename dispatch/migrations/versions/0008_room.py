"""topology version: also raised when what a room is called changes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:30:00.000000

The routing snapshot (dispatch/routing/snapshot.py) is also where an alarm's
room is named: popups, the console, the floor plan, the police panel and the
agent's own status all show the room as the snapshot read it. So the counter
must move when a room's number, name, entrance or phone, a floor's name or a
building's name changes, not only when routing itself would change; otherwise
the next alarm would name a room by its old name.

Only the UPDATE triggers of these three tables change (inserts and deletes fire
already). A later migration that re-runs migration 0006's ``create_triggers``
(after a ``batch_alter_table`` on SQLite, which drops triggers) must run this
one's ``create_triggers`` after it, or on PostgreSQL the narrower 0006 column
sets come back.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the columns whose UPDATE moves the counter: routing's (0006) and the names shown.
WATCHED: dict[str, tuple[str, ...]] = {
    "buildings": ("site_id", "name"),
    "floors": ("building_id", "name"),
    "rooms": ("site_id", "floor_id", "x_m", "y_m", "number", "name", "entrance", "phone"),
}
BEFORE: dict[str, tuple[str, ...]] = {  # migration 0006's, for the downgrade
    "buildings": ("site_id",),
    "floors": ("building_id",),
    "rooms": ("site_id", "floor_id", "x_m", "y_m"),
}
BUMP = "UPDATE topology_version SET version = version + 1 WHERE id = 1"
PG_FUNCTION = "topology_version_bump"  # created by migration 0006


def upgrade() -> None:
    create_triggers(WATCHED)


def downgrade() -> None:
    create_triggers(BEFORE)


def create_triggers(watched: dict[str, tuple[str, ...]] = WATCHED) -> None:
    """Replaces the UPDATE trigger of each table; may run any number of times."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, columns in watched.items():
        name = f"topology_version_{table}_update"
        if postgres:
            when = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(
                f"CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION {PG_FUNCTION}()"
            )
        else:
            when = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(
                f"CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW "
                f"WHEN {when} BEGIN {BUMP}; END"
            )
