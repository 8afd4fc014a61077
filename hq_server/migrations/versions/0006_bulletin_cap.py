"""CAP identifier and sender of an imported bulletin (a later CAP Cancel/Update finds it)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cap_identifier", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("cap_sender", sa.String(200), nullable=True))
        batch_op.create_index("ix_bulletins_cap_identifier", ["cap_identifier"])


def downgrade() -> None:
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.drop_index("ix_bulletins_cap_identifier")
        batch_op.drop_column("cap_sender")
        batch_op.drop_column("cap_identifier")
