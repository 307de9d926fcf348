"""owner and client metadata on sessions and assets

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 09:00:00

Rows written before this revision get no owner (NULL) and empty metadata
(``{}``, the column's server default, which also covers rows written by an
older release still running during a rolling deploy).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLES = ("rindle_assets", "rindle_upload_sessions")


def _index(table: str) -> str:
    return f"ix_{table}_owner_created_at"


def _empty_object() -> sa.TextClause:
    """``'{}'``; MySQL takes a default for a JSON column only as an expression."""
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        return sa.text("('{}')")
    return sa.text("'{}'")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner", sa.String(length=255), nullable=True))
            batch.add_column(
                sa.Column(
                    "client_metadata",
                    sa.JSON(),
                    nullable=False,
                    server_default=_empty_object(),
                )
            )
            batch.create_index(_index(table), ["owner", "created_at"], unique=False)


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(_index(table))
            batch.drop_column("client_metadata")
            batch.drop_column("owner")
