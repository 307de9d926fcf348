"""Revision 0004: the maintenance indexes, and a due time for every pending cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from rindle_core import Database

INDEXES = {
    "ix_rindle_upload_sessions_expiry_due",
    "ix_rindle_upload_sessions_cleanup_due",
    "ix_rindle_upload_sessions_posts_due",
}
NOW = "2026-01-01 00:00:00"


def _indexes(db: Database) -> set[str]:
    names = {str(i["name"]) for i in sa.inspect(db.engine).get_indexes("rindle_upload_sessions")}
    return names & INDEXES


def _roundtrip(db: Database) -> None:
    db.upgrade("0003")
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into rindle_assets (id, profile, state, storage, storage_key, filename,"
                " metadata, created_at, updated_at) values ('a1', 'p', 'abandoned', 's', 'k',"
                " 'f', '{}', :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "insert into rindle_upload_sessions (id, asset_id, profile, storage, state,"
                " upload_key, upload_strategy, content_type, expires_at, committed_bytes,"
                " remote_cleanup, cleanup_attempts, created_at, updated_at) values ('s1', 'a1',"
                " 'p', 's', 'aborted', 'k', 'presigned_put', 'text/plain', :now, 0, 'pending',"
                " 0, :now, :now)"
            ),
            {"now": NOW},
        )
    assert _indexes(db) == set()
    db.upgrade("0004")
    assert _indexes(db) == INDEXES
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.text("select cleanup_at, updated_at from rindle_upload_sessions")
        ).one()
    assert row.cleanup_at is not None and row.cleanup_at == row.updated_at  # due now
    command.downgrade(db.alembic_config(), "0003")
    assert _indexes(db) == set()
    db.upgrade("0004")
    assert _indexes(db) == INDEXES
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from rindle_upload_sessions")).scalar() == 1


def test_0004_upgrade_and_downgrade_on_sqlite(tmp_path: Path) -> None:
    _roundtrip(Database(f"sqlite:///{tmp_path / 'm.db'}"))


@pytest.mark.postgres
def test_0004_upgrade_and_downgrade_on_postgres(empty_postgres: Database) -> None:
    _roundtrip(empty_postgres)
    with empty_postgres.engine.connect() as conn:
        partial = conn.execute(
            sa.text(
                "select indexdef from pg_indexes"
                " where indexname = 'ix_rindle_upload_sessions_cleanup_due'"
                " and schemaname = current_schema()"
            )
        ).scalar_one()
    assert "WHERE" in partial and "pending" in partial


@pytest.mark.mariadb
def test_0004_upgrade_and_downgrade_on_mariadb(mariadb_database: str) -> None:
    db = Database(mariadb_database)
    try:
        _roundtrip(db)  # no partial indexes there: plain ones of the same columns
    finally:
        db.dispose()
