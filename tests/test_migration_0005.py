"""Revision 0005: ``checksum_algorithm`` on sessions; older rows bind no part checksums."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from rindle_core import Database
from rindle_core.db._repo import load_session

NOW = "2026-01-01 00:00:00"


def _columns(db: Database) -> set[str]:
    return {str(c["name"]) for c in sa.inspect(db.engine).get_columns("rindle_upload_sessions")}


def _insert(db: Database, asset_id: str, session_id: str) -> None:
    """A multipart session as a rindle at 0004 writes it (no checksum column)."""
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into rindle_assets (id, profile, state, storage, storage_key, filename,"
                " metadata, created_at, updated_at) values (:a, 'p', 'staged', 's', :a,"
                " 'f', '{}', :now, :now)"
            ),
            {"a": asset_id, "now": NOW},
        )
        conn.execute(
            sa.text(
                "insert into rindle_upload_sessions (id, asset_id, profile, storage, state,"
                " upload_key, upload_strategy, content_type, expires_at, committed_bytes,"
                " multipart_upload_id, part_size, cleanup_attempts, created_at, updated_at)"
                " values (:s, :a, 'p', 's', 'initialized', :a, 'multipart', 'text/plain',"
                " :now, 0, 'u1', 5242880, 0, :now, :now)"
            ),
            {"a": asset_id, "s": session_id, "now": NOW},
        )


def _roundtrip(db: Database) -> None:
    db.upgrade("0004")
    _insert(db, "a1", "s1")
    assert "checksum_algorithm" not in _columns(db)
    db.upgrade("0005")
    assert "checksum_algorithm" in _columns(db)
    _insert(db, "a2", "s2")  # an older release still running during the deploy
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "update rindle_upload_sessions set checksum_algorithm = 'crc32' where id = 's2'"
            )
        )
    with db.engine.connect() as conn:
        old, new = load_session(conn, "s1"), load_session(conn, "s2")
    assert old is not None and old.checksum_algorithm is None
    assert new is not None and new.checksum_algorithm == "crc32"
    command.downgrade(db.alembic_config(), "0004")
    assert "checksum_algorithm" not in _columns(db)
    db.upgrade()
    assert db.schema_revision() == db.head_revision() == "0005"
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from rindle_upload_sessions")).scalar() == 2
        assert (
            conn.execute(
                sa.text(
                    "select count(*) from rindle_upload_sessions where checksum_algorithm is null"
                )
            ).scalar()
            == 2
        )


def test_0005_upgrade_and_downgrade_on_sqlite(tmp_path: Path) -> None:
    _roundtrip(Database(f"sqlite:///{tmp_path / 'm.db'}"))


@pytest.mark.postgres
def test_0005_upgrade_and_downgrade_on_postgres(empty_postgres: Database) -> None:
    _roundtrip(empty_postgres)


@pytest.mark.mariadb
def test_0005_upgrade_and_downgrade_on_mariadb(mariadb_database: str) -> None:
    db = Database(mariadb_database)
    try:
        _roundtrip(db)
    finally:
        db.dispose()
