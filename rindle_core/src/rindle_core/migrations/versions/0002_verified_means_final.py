"""verified means final: fingerprints, cleanup backoff, per-claim job tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rindle_assets") as batch:
        batch.add_column(sa.Column("stored_version", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("served_content_type", sa.String(length=255), nullable=True))
    with op.batch_alter_table("rindle_upload_sessions") as batch:
        batch.add_column(sa.Column("cleanup_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("cleanup_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.drop_index("ix_rindle_upload_sessions_remote_cleanup")
        batch.create_index(
            "ix_rindle_upload_sessions_remote_cleanup",
            ["remote_cleanup", "cleanup_at"],
            unique=False,
        )
    with op.batch_alter_table("rindle_jobs") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rindle_jobs") as batch:
        batch.drop_column("claim_token")
    with op.batch_alter_table("rindle_upload_sessions") as batch:
        batch.drop_index("ix_rindle_upload_sessions_remote_cleanup")
        batch.create_index(
            "ix_rindle_upload_sessions_remote_cleanup", ["remote_cleanup"], unique=False
        )
        batch.drop_column("cleanup_attempts")
        batch.drop_column("cleanup_at")
    with op.batch_alter_table("rindle_assets") as batch:
        batch.drop_column("served_content_type")
        batch.drop_column("stored_version")
