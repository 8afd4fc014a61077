"""zone registry (slug + Vietnamese display name), filled with every zone already in use

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _in_use(bind: sa.engine.Connection) -> set[str]:
    zones: set[str] = set()
    for (raw,) in bind.execute(sa.text("SELECT zones FROM nodes")):
        value = json.loads(raw) if isinstance(raw, str) else raw
        zones.update(z for z in value or [] if isinstance(z, str))
    zones.update(r[0] for r in bind.execute(sa.text("SELECT scope_id FROM desired_settings WHERE scope = 'zone'")))
    zones.update(r[0] for r in bind.execute(sa.text("SELECT zone FROM cameras WHERE zone IS NOT NULL")) if r[0])
    return zones


def upgrade() -> None:
    table = op.create_table(
        "zones",
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slug"),
    )
    at = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        at = at.replace(tzinfo=None)
    rows = [{"slug": z, "name": z, "created_by": "migration", "created_at": at, "updated_at": at}
            for z in sorted(_in_use(op.get_bind()))]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("zones")
