"""set-based maintenance: indexes for the expiry, cleanup and form-POST candidates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:20:00

* ``ix_rindle_upload_sessions_expiry_due`` (``expires_at, id``) holds only the
  sessions that may still expire (partial on PostgreSQL and SQLite), so each
  expiry batch reads its rows in order from the head of the index;
* ``ix_rindle_upload_sessions_cleanup_due`` (``cleanup_at, id``) holds only
  the rows whose remote cleanup is pending (partial likewise);
* ``ix_rindle_upload_sessions_posts_due`` (``upload_strategy, state,
  expires_at``) serves the form POSTs verified at their deadline.

MariaDB has no partial indexes: there the first two index every row.

A pending cleanup always has a due time from this revision on: rows left
pending with none (by a rindle older than 0002) are due now.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLE = "rindle_upload_sessions"
#: Session states that may still expire, as of this revision.
_EXPIRABLE = "state IN ('initialized', 'signed', 'resuming', 'uploading')"
_PENDING = "remote_cleanup = 'pending'"


def _partial(where: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def upgrade() -> None:
    sessions = sa.table(
        _TABLE,
        sa.column("remote_cleanup", sa.String),
        sa.column("cleanup_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        sessions.update()
        .where(sessions.c.remote_cleanup == "pending", sessions.c.cleanup_at.is_(None))
        .values(cleanup_at=sessions.c.updated_at)
    )
    op.create_index(
        "ix_rindle_upload_sessions_expiry_due",
        _TABLE,
        ["expires_at", "id"],
        unique=False,
        **_partial(_EXPIRABLE),
    )
    op.create_index(
        "ix_rindle_upload_sessions_cleanup_due",
        _TABLE,
        ["cleanup_at", "id"],
        unique=False,
        **_partial(_PENDING),
    )
    op.create_index(
        "ix_rindle_upload_sessions_posts_due",
        _TABLE,
        ["upload_strategy", "state", "expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_rindle_upload_sessions_posts_due", table_name=_TABLE)
    op.drop_index("ix_rindle_upload_sessions_cleanup_due", table_name=_TABLE)
    op.drop_index("ix_rindle_upload_sessions_expiry_due", table_name=_TABLE)
