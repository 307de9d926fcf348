"""verified means final: fingerprints, cleanup backoff, per-claim job tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:00:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from rindle_core.db._tables import UTCDateTime


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: UTC timestamps; MySQL's DATETIME keeps microseconds only when told to.
_TS = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("rindle_assets") as batch:
        batch.add_column(sa.Column("stored_version", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("served_content_type", sa.String(length=255), nullable=True))
    with op.batch_alter_table("rindle_upload_sessions") as batch:
        batch.add_column(sa.Column("urls_expire_at", _TS, nullable=True))
        batch.add_column(sa.Column("cleanup_at", _TS, nullable=True))
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
    _schedule_final_sweeps()


def _schedule_final_sweeps() -> None:
    """Sessions ended before this release whose URLs may still be valid get the
    final sweep that release added (cleanup again once every URL expired)."""
    grace = dt.timedelta(seconds=300)
    sessions = sa.table(
        "rindle_upload_sessions",
        sa.column("state", sa.String),
        sa.column("remote_cleanup", sa.String),
        sa.column("expires_at", UTCDateTime()),
        sa.column("cleanup_at", UTCDateTime()),
    )
    now = dt.datetime.now(dt.UTC)
    rows = op.get_bind().execute(
        sa.select(sessions.c.expires_at).where(
            sessions.c.state.in_(["aborted", "expired"]),
            sessions.c.remote_cleanup == "done",
            sessions.c.expires_at > now - grace,
        )
    )
    for (expires_at,) in rows.all():
        op.get_bind().execute(
            sa.update(sessions)
            .where(
                sessions.c.state.in_(["aborted", "expired"]),
                sessions.c.remote_cleanup == "done",
                sessions.c.expires_at == expires_at,
            )
            .values(remote_cleanup="pending", cleanup_at=expires_at + grace)
        )


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
        batch.drop_column("urls_expire_at")
    with op.batch_alter_table("rindle_assets") as batch:
        batch.drop_column("served_content_type")
        batch.drop_column("stored_version")
