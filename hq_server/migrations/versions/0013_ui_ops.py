"""node health samples (technician charts) and settings operators change in the web UI

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cpu_temp_c", sa.Double(), nullable=True),
        sa.Column("disk_free_bytes", sa.BigInteger(), nullable=True),
        sa.Column("clock_offset_ms", sa.Double(), nullable=True),
        sa.Column("volume", sa.Integer(), nullable=True),
        sa.Column("queue_length", sa.Integer(), nullable=True),
        sa.Column("relay_on", sa.Boolean(), nullable=True),
        sa.Column("audio_device_ok", sa.Boolean(), nullable=True),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_node_samples_node_at", "node_samples", ["node_id", "at"])
    op.create_table(
        "hq_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("hq_settings")
    op.drop_index("ix_node_samples_node_at", table_name="node_samples")
    op.drop_table("node_samples")
