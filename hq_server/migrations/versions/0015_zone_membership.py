"""zone membership: whether HQ assigned a node's zones (then HQ's list wins), and what the node reports

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zones_assigned", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("reported_zones", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_column("reported_zones")
        batch_op.drop_column("zones_assigned")
