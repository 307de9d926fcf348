"""The packaged Alembic migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from rindle_core import Database
from rindle_core.db import metadata


def _assert_upgraded_schema_matches_models(db: Database) -> None:
    db.upgrade()
    assert db.schema_revision() == db.head_revision() == "0005"
    assert db.has_tables()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: name != "rindle_alembic_version",
            },
        )
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_sqlite_upgrade_matches_models(tmp_path: Path) -> None:
    _assert_upgraded_schema_matches_models(Database(f"sqlite:///{tmp_path / 'm.db'}"))


@pytest.mark.postgres
def test_postgres_upgrade_matches_models(bare_postgres: tuple[Database, str]) -> None:
    db, schema = bare_postgres
    _assert_upgraded_schema_matches_models(db)
    with db.engine.connect() as conn:
        kinds = {
            r.column_name: r.data_type
            for r in conn.execute(
                sa.text(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = :s and table_name = 'rindle_upload_sessions'"
                ),
                {"s": schema},
            )
        }
    assert kinds["declared_size"] == "bigint" and kinds["committed_bytes"] == "bigint"
    assert kinds["expires_at"] == "timestamp with time zone"


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    db.upgrade()
    assert db.schema_revision() == "0005"


def _roundtrip_0002(db: Database) -> None:
    """0001 with rows -> 0002 -> 0001 -> 0002 keeps the rows and the new defaults."""
    db.upgrade("0001")
    now = "2026-01-01 00:00:00"
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into rindle_assets (id, profile, state, storage, storage_key, filename,"
                " metadata, created_at, updated_at) values ('a1', 'p', 'staged', 's', 'k',"
                " 'f', '{}', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            sa.text(
                "insert into rindle_upload_sessions (id, asset_id, profile, storage, state,"
                " upload_key, upload_strategy, content_type, expires_at, committed_bytes,"
                " remote_cleanup, created_at, updated_at) values ('s1', 'a1', 'p', 's',"
                " 'aborted', 'k', 'presigned_put', 'image/png', :now, 0, 'pending', :now, :now)"
            ),
            {"now": now},
        )
    db.upgrade("0002")
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.text("select cleanup_attempts, cleanup_at from rindle_upload_sessions")
        ).one()
    assert tuple(row) == (0, None)  # long expired: no final sweep needed
    command.downgrade(db.alembic_config(), "0001")
    assert db.schema_revision() == "0001"
    db.upgrade("0002")
    assert db.schema_revision() == "0002"
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from rindle_upload_sessions")).scalar() == 1


def test_0002_schedules_a_final_sweep_for_sessions_whose_urls_may_live(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade("0001")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(tzinfo=None)
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into rindle_assets (id, profile, state, storage, storage_key, filename,"
                " metadata, created_at, updated_at) values ('a1', 'p', 'abandoned', 's', 'k',"
                " 'f', '{}', :t, :t)"
            ),
            {"t": soon},
        )
        conn.execute(
            sa.text(
                "insert into rindle_upload_sessions (id, asset_id, profile, storage, state,"
                " upload_key, upload_strategy, content_type, expires_at, committed_bytes,"
                " remote_cleanup, created_at, updated_at) values ('s1', 'a1', 'p', 's',"
                " 'aborted', 'k', 'presigned_put', 'image/png', :t, 0, 'done', :t, :t)"
            ),
            {"t": soon},
        )
    db.upgrade()
    with db.engine.connect() as conn:
        state, due = conn.execute(
            sa.text("select remote_cleanup, cleanup_at from rindle_upload_sessions")
        ).one()
    assert state == "pending"
    assert str(due).startswith(str(soon + dt.timedelta(seconds=300))[:19])


def test_0002_upgrade_and_downgrade_keep_rows_on_sqlite(tmp_path: Path) -> None:
    _roundtrip_0002(Database(f"sqlite:///{tmp_path / 'm.db'}"))


@pytest.mark.postgres
def test_0002_upgrade_and_downgrade_keep_rows_on_postgres(
    bare_postgres: tuple[Database, str],
) -> None:
    _roundtrip_0002(bare_postgres[0])


def _insert_0002_rows(db: Database, asset_id: str, session_id: str) -> None:
    now = "2026-01-01 00:00:00"
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into rindle_assets (id, profile, state, storage, storage_key, filename,"
                " metadata, created_at, updated_at) values (:a, 'p', 'staged', 's', :a,"
                " 'f', '{}', :now, :now)"
            ),
            {"a": asset_id, "now": now},
        )
        conn.execute(
            sa.text(
                "insert into rindle_upload_sessions (id, asset_id, profile, storage, state,"
                " upload_key, upload_strategy, content_type, expires_at, committed_bytes,"
                " created_at, updated_at) values (:s, :a, 'p', 's', 'initialized', :a,"
                " 'presigned_put', 'image/png', :now, 0, :now, :now)"
            ),
            {"a": asset_id, "s": session_id, "now": now},
        )


def _owner_columns(db: Database) -> dict[str, set[str]]:
    inspector = sa.inspect(db.engine)
    return {
        table: {c["name"] for c in inspector.get_columns(table)} & {"owner", "client_metadata"}
        for table in ("rindle_assets", "rindle_upload_sessions")
    }


def _roundtrip_0003(db: Database) -> None:
    """0002 with rows -> 0003 (old rows: no owner, empty metadata) -> 0002 -> 0003."""
    db.upgrade("0002")
    _insert_0002_rows(db, "a1", "s1")
    assert _owner_columns(db) == {"rindle_assets": set(), "rindle_upload_sessions": set()}
    db.upgrade("0003")
    both = {"owner", "client_metadata"}
    assert _owner_columns(db) == {"rindle_assets": both, "rindle_upload_sessions": both}
    indexes = {
        ix["name"]: ix["column_names"]
        for t in ("rindle_assets", "rindle_upload_sessions")
        for ix in sa.inspect(db.engine).get_indexes(t)
    }
    assert indexes["ix_rindle_upload_sessions_owner_created_at"] == ["owner", "created_at"]
    assert indexes["ix_rindle_assets_owner_created_at"] == ["owner", "created_at"]
    for table, row_id in (("rindle_upload_sessions", "s1"), ("rindle_assets", "a1")):
        with db.engine.connect() as conn:
            owner, metadata = conn.execute(
                sa.text(f"select owner, client_metadata from {table} where id = :id"),
                {"id": row_id},
            ).one()
        assert (owner, json.loads(metadata) if isinstance(metadata, str) else metadata) == (
            None,
            {},
        )
    # A row written without the new columns (an older release still running
    # during a deploy) gets the defaults from the database.
    _insert_0002_rows(db, "a2", "s2")
    with db.engine.begin() as conn:
        conn.execute(sa.text("update rindle_upload_sessions set owner = 'u1' where id = 's1'"))
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text("select id, owner, client_metadata from rindle_upload_sessions order by id")
        ).all()
    assert [(r[0], r[1], json.loads(r[2]) if isinstance(r[2], str) else r[2]) for r in rows] == [
        ("s1", "u1", {}),
        ("s2", None, {}),
    ]
    command.downgrade(db.alembic_config(), "0002")
    assert db.schema_revision() == "0002"
    assert _owner_columns(db) == {"rindle_assets": set(), "rindle_upload_sessions": set()}
    db.upgrade()
    assert db.schema_revision() == db.head_revision()
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from rindle_upload_sessions")).scalar() == 2
        assert (
            conn.execute(
                sa.text("select count(*) from rindle_upload_sessions where owner is null")
            ).scalar()
            == 2
        )


def test_0003_upgrade_and_downgrade_keep_rows_on_sqlite(tmp_path: Path) -> None:
    _roundtrip_0003(Database(f"sqlite:///{tmp_path / 'm.db'}"))


@pytest.mark.postgres
def test_0003_upgrade_and_downgrade_keep_rows_on_postgres(
    bare_postgres: tuple[Database, str],
) -> None:
    _roundtrip_0003(bare_postgres[0])


def test_fresh_database_has_no_revision(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    assert db.schema_revision() is None
    assert not db.has_tables()


# -- MariaDB (the MySQL family) ---------------------------------------------------------


def _mysql_columns(db: Database) -> list[sa.Row[tuple[str, str, str, int | None, str | None]]]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "select table_name, column_name, data_type, datetime_precision,"
                    " collation_name from information_schema.columns"
                    " where table_schema = database() and table_name like 'rindle\\_%'"
                    " and table_name != 'rindle_alembic_version'"
                )
            )
        )


def assert_mysql_types(db: Database) -> None:
    """Timestamps keep microseconds; text compares exactly (binary, no pad)."""
    columns = _mysql_columns(db)
    stamps = [c for c in columns if c.data_type == "datetime"]
    assert len(stamps) == 13
    assert {c.datetime_precision for c in stamps} == {6}
    texts = [c for c in columns if c.data_type in ("varchar", "text")]
    assert {c.collation_name for c in texts} == {"utf8mb4_nopad_bin"}
    assert {c.column_name for c in texts} >= {"id", "storage_key", "owner", "claim_token"}
    kinds = {(c.table_name, c.column_name): c.data_type for c in columns}
    assert kinds["rindle_upload_sessions", "declared_size"] == "bigint"
    assert kinds["rindle_upload_sessions", "client_metadata"] == "longtext"  # MariaDB's JSON


@pytest.mark.mariadb
def test_mariadb_upgrade_matches_models(mariadb_database: str) -> None:
    db = Database(mariadb_database)
    try:
        _assert_upgraded_schema_matches_models(db)
        assert_mysql_types(db)
    finally:
        db.dispose()


@pytest.mark.mariadb
def test_mariadb_downgrades_to_nothing_and_upgrades_again(mariadb_database: str) -> None:
    db = Database(mariadb_database)
    try:
        db.upgrade()
        command.downgrade(db.alembic_config(), "base")
        assert not db.has_tables()
        db.upgrade()
        assert db.schema_revision() == db.head_revision()
        assert_mysql_types(db)
    finally:
        db.dispose()


@pytest.mark.mariadb
def test_0002_upgrade_and_downgrade_keep_rows_on_mariadb(mariadb_database: str) -> None:
    db = Database(mariadb_database)
    try:
        _roundtrip_0002(db)
    finally:
        db.dispose()


@pytest.mark.mariadb
def test_0003_upgrade_and_downgrade_keep_rows_on_mariadb(mariadb_database: str) -> None:
    db = Database(mariadb_database)
    try:
        _roundtrip_0003(db)
    finally:
        db.dispose()
