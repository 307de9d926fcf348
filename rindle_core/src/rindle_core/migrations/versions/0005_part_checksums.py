"""part checksums: the algorithm a multipart session signs every part with

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 14:00:00

``rindle_upload_sessions.checksum_algorithm`` (``crc32``, or NULL) records
the algorithm a multipart session binds into each part URL. Rows written
before this revision bind none (NULL), as before; a rindle older than 0005
still running during a rolling deploy writes NULL too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rindle_upload_sessions") as batch:
        batch.add_column(sa.Column("checksum_algorithm", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rindle_upload_sessions") as batch:
        batch.drop_column("checksum_algorithm")
