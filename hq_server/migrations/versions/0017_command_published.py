"""commands.published_at: when the broker took a command (a broadcast resumes what was not published)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("commands", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE commands SET published_at = sent_at")  # commands logged before were published


def downgrade() -> None:
    with op.batch_alter_table("commands") as batch:
        batch.drop_column("published_at")
