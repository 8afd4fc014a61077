"""bulletin lifetime: why a bulletin ended (state_reason), renewal of open-ended recurring series

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_reason", sa.String(300), nullable=True))
        batch_op.add_column(sa.Column("renew_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_bulletins_renew_at", ["renew_at"])


def downgrade() -> None:
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.drop_index("ix_bulletins_renew_at")
        batch_op.drop_column("renewed_at")
        batch_op.drop_column("renew_at")
        batch_op.drop_column("state_reason")
