"""Reads and compare-and-set writes. Every state write goes through here.

Each write first checks the state machine (:func:`rindle_core.states.transition`)
and is then ``UPDATE … WHERE id = :id AND state = :expected``. A write that
changed the row reads it back in the same transaction and returns the new
snapshot; ``None`` means another writer moved the row first, and the caller
decides. The read-back is a plain ``SELECT`` (no ``UPDATE … RETURNING``,
which MariaDB lacks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Row, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..models import Asset, Job, UploadSession
from ..states import AssetState, JobState, SessionState, transition
from ..storage import UploadedPart
from ._tables import assets_table, jobs_table, parts_table, sessions_table

__all__ = [
    "asset_from_row",
    "cas_asset",
    "cas_job",
    "cas_session",
    "job_from_row",
    "load_asset",
    "load_job",
    "load_parts",
    "load_session",
    "record_url_expiry",
    "replace_parts",
    "session_from_row",
    "update_session_fields",
    "upsert_parts",
]

_sessions = sessions_table
_assets = assets_table
_jobs = jobs_table
_parts = parts_table


def session_from_row(row: Row[tuple[object, ...]]) -> UploadSession:
    m = row._mapping
    return UploadSession(
        id=m["id"],
        asset_id=m["asset_id"],
        profile=m["profile"],
        storage=m["storage"],
        state=SessionState(m["state"]),
        storage_key=m["upload_key"],
        upload_strategy=m["upload_strategy"],
        content_type=m["content_type"],
        declared_size=m["declared_size"],
        expires_at=m["expires_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        verified_at=m["verified_at"],
        failure_reason=m["failure_reason"],
        remote_upload_id=m["multipart_upload_id"],
        part_size=m["part_size"],
        committed_bytes=m["committed_bytes"] or 0,
        session_uri=m["session_uri"],
        session_uri_expires_at=m["session_uri_expires_at"],
        urls_expire_at=m["urls_expire_at"],
        owner=m["owner"],
        metadata=m["client_metadata"] or {},
    )


def asset_from_row(row: Row[tuple[object, ...]]) -> Asset:
    m = row._mapping
    return Asset(
        id=m["id"],
        profile=m["profile"],
        state=AssetState(m["state"]),
        storage_key=m["storage_key"],
        filename=m["filename"],
        declared_content_type=m["declared_content_type"],
        content_type=m["content_type"],
        byte_size=m["byte_size"],
        quarantine_reason=m["quarantine_reason"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        metadata=dict(m["metadata"] or {}),
        stored_version=m["stored_version"],
        served_content_type=m["served_content_type"],
        owner=m["owner"],
        client_metadata=m["client_metadata"] or {},
    )


def job_from_row(row: Row[tuple[object, ...]]) -> Job:
    m = row._mapping
    return Job(
        id=m["id"],
        kind=m["kind"],
        payload=dict(m["payload"] or {}),
        state=JobState(m["state"]),
        attempts=m["attempts"],
        max_attempts=m["max_attempts"],
        run_at=m["run_at"],
        last_error=m["last_error"],
    )


def load_session(conn: Connection, session_id: str) -> UploadSession | None:
    row = conn.execute(select(_sessions).where(_sessions.c.id == session_id)).first()
    return session_from_row(row) if row else None


def load_asset(conn: Connection, asset_id: str) -> Asset | None:
    row = conn.execute(select(_assets).where(_assets.c.id == asset_id)).first()
    return asset_from_row(row) if row else None


def load_job(conn: Connection, job_id: str) -> Job | None:
    row = conn.execute(select(_jobs).where(_jobs.c.id == job_id)).first()
    return job_from_row(row) if row else None


def load_parts(conn: Connection, session_id: str) -> list[UploadedPart]:
    rows = conn.execute(
        select(_parts).where(_parts.c.session_id == session_id).order_by(_parts.c.part_number)
    )
    return [UploadedPart(r.part_number, r.etag, r.size) for r in rows]


def cas_session(
    conn: Connection,
    session_id: str,
    expected: SessionState,
    target: SessionState,
    now: dt.datetime,
    **values: object,
) -> UploadSession | None:
    """Move a session ``expected -> target`` if it is still in ``expected``.

    Returns the moved row, or None when the session was not in ``expected``.
    """
    transition(expected, target)
    result = conn.execute(
        update(_sessions)
        .where(_sessions.c.id == session_id, _sessions.c.state == expected.value)
        .values(state=target.value, updated_at=now, **values)
    )
    return load_session(conn, session_id) if result.rowcount == 1 else None


def cas_asset(
    conn: Connection,
    asset_id: str,
    expected: AssetState,
    target: AssetState,
    now: dt.datetime,
    **values: object,
) -> Asset | None:
    """Move an asset ``expected -> target`` if it is still in ``expected``.

    Returns the moved row, or None when the asset was not in ``expected``.
    """
    transition(expected, target)
    result = conn.execute(
        update(_assets)
        .where(_assets.c.id == asset_id, _assets.c.state == expected.value)
        .values(state=target.value, updated_at=now, **values)
    )
    return load_asset(conn, asset_id) if result.rowcount == 1 else None


def cas_job(
    conn: Connection,
    job_id: str,
    expected: JobState,
    target: JobState,
    now: dt.datetime,
    **values: object,
) -> Job | None:
    """Move a job ``expected -> target`` if it is still in ``expected``.

    Returns the moved row, or None when the job was not in ``expected``.
    """
    transition(expected, target)
    result = conn.execute(
        update(_jobs)
        .where(_jobs.c.id == job_id, _jobs.c.state == expected.value)
        .values(state=target.value, updated_at=now, **values)
    )
    return load_job(conn, job_id) if result.rowcount == 1 else None


def record_url_expiry(
    conn: Connection, session_id: str, expires: dt.datetime, now: dt.datetime
) -> bool:
    """Raise the session's ``urls_expire_at`` to *expires* while it is still live.

    False when the session has left the states in which URLs are signed.
    """
    live = (SessionState.INITIALIZED.value, SessionState.SIGNED.value, SessionState.UPLOADING.value)
    column = _sessions.c.urls_expire_at
    result = conn.execute(
        update(_sessions)
        .where(_sessions.c.id == session_id, _sessions.c.state.in_(live))
        .values(
            urls_expire_at=case((or_(column.is_(None), column < expires), expires), else_=column),
            updated_at=now,
        )
    )
    return result.rowcount == 1


def update_session_fields(
    conn: Connection, session_id: str, now: dt.datetime, **values: object
) -> None:
    """Update non-state bookkeeping columns (offsets, cleanup markers)."""
    if "state" in values:
        raise ValueError("state changes go through cas_session")
    conn.execute(
        update(_sessions).where(_sessions.c.id == session_id).values(updated_at=now, **values)
    )


def upsert_parts(conn: Connection, session_id: str, parts: Iterable[UploadedPart]) -> None:
    """Record parts in the ledger, replacing what was known for the same number."""
    rows: Sequence[dict[str, object]] = [
        {"session_id": session_id, "part_number": p.part_number, "etag": p.etag, "size": p.size}
        for p in parts
    ]
    if not rows:
        return
    dialect = conn.dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_fn(_parts).values(list(rows))
    stmt = stmt.on_conflict_do_update(
        index_elements=[_parts.c.session_id, _parts.c.part_number],
        set_={"etag": stmt.excluded.etag, "size": stmt.excluded.size},
    )
    conn.execute(stmt)


def replace_parts(conn: Connection, session_id: str, parts: Iterable[UploadedPart]) -> None:
    """Make the ledger hold exactly *parts* (what storage accepted at completion)."""
    conn.execute(delete(_parts).where(_parts.c.session_id == session_id))
    upsert_parts(conn, session_id, parts)
