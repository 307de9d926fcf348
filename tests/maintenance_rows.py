"""Rows for maintenance tests, inserted in bulk (shared by the maintenance suites)."""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa

from rindle_core.db import assets_table, sessions_table

__all__ = ["T0", "insert_sessions"]

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
_sessions = sessions_table


def insert_sessions(
    conn: sa.Connection,
    count: int,
    *,
    state: str,
    expires_at: dt.datetime,
    strategy: str = "presigned_put",
    remote_cleanup: str | None = None,
    cleanup_at: dt.datetime | None = None,
    created_at: dt.datetime = T0,
    profile: str = "any",
    storage: str = "mem",
    asset_state: str = "staged",
) -> list[str]:
    """Insert *count* sessions (and their staged assets) as rindle would; their ids."""
    rows: list[dict[str, object]] = []
    assets: list[dict[str, object]] = []
    for _ in range(count):
        sid, aid = secrets.token_hex(16), secrets.token_hex(16)
        assets.append(
            {
                "id": aid,
                "profile": profile,
                "state": asset_state,
                "storage": storage,
                "storage_key": f"k/{aid}",
                "filename": "f",
                "metadata": {},
                "client_metadata": {},
                "created_at": created_at,
                "updated_at": created_at,
            }
        )
        rows.append(
            {
                "id": sid,
                "asset_id": aid,
                "profile": profile,
                "storage": storage,
                "state": state,
                "upload_key": f"k/{aid}",
                "upload_strategy": strategy,
                "content_type": "text/plain",
                "expires_at": expires_at,
                "committed_bytes": 0,
                "cleanup_attempts": 0,
                "remote_cleanup": remote_cleanup,
                "cleanup_at": cleanup_at,
                "client_metadata": {},
                "created_at": created_at,
                "updated_at": created_at,
            }
        )
    conn.execute(sa.insert(assets_table), assets)
    conn.execute(sa.insert(_sessions), rows)
    return [str(r["id"]) for r in rows]
