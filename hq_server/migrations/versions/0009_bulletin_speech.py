"""how a bulletin's audio sounds: engine, voice, quality class (neural/robotic/human), fallback note

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("speech_engine", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("speech_voice", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("speech_quality", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("speech_note", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.drop_column("speech_note")
        batch_op.drop_column("speech_quality")
        batch_op.drop_column("speech_voice")
        batch_op.drop_column("speech_engine")
