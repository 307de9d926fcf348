"""Reads and compare-and-set writes. Every state write goes through here.

Each write first checks the state machine (:func:`rindle_core.states.transition`)
and is then ``UPDATE … WHERE id = :id AND state = :expected``. A write that
changed the row returns the new snapshot; ``None`` means another writer moved
the row first, and the caller decides. Where the dialect has ``UPDATE …
RETURNING`` (PostgreSQL, SQLite) the snapshot comes back with the write;
elsewhere (MySQL, MariaDB) a ``SELECT`` in the same transaction reads it.

On PostgreSQL, the writes that span tables (a session and its staged asset;
the verified session, its asset and the promotion job) are one statement of
data-modifying CTEs, atomic without an explicit transaction (ADR 0112).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from sqlalchemy import (
    Connection,
    Insert,
    Interval,
    Row,
    Select,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.sql.selectable import CTE

from ..models import Asset, Job, UploadSession
from ..states import AssetState, JobState, SessionState, transition
from ..storage import UploadedPart
from ._tables import UTCDateTime, assets_table, jobs_table, parts_table, sessions_table
from ._upserts import upsert

__all__ = [
    "Verified",
    "asset_from_row",
    "cas_asset",
    "cas_job",
    "cas_session",
    "complete_verified",
    "insert_session",
    "job_from_row",
    "load_asset",
    "load_job",
    "load_parts",
    "load_session",
    "one_statement_writes",
    "record_url_expiry",
    "replace_parts",
    "session_from_row",
    "sign_or_current",
    "update_session_fields",
    "upsert_parts",
]

_sessions = sessions_table
_assets = assets_table
_jobs = jobs_table
_parts = parts_table


def session_from_row(row: Row[tuple[object, ...]]) -> UploadSession:
    return _session(row._mapping)


def _session(m: Mapping[Any, Any]) -> UploadSession:
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
        checksum_algorithm=m["checksum_algorithm"],
        committed_bytes=m["committed_bytes"] or 0,
        session_uri=m["session_uri"],
        session_uri_expires_at=m["session_uri_expires_at"],
        urls_expire_at=m["urls_expire_at"],
        owner=m["owner"],
        metadata=m["client_metadata"] or {},
    )


def asset_from_row(row: Row[tuple[object, ...]]) -> Asset:
    return _asset(row._mapping)


def _asset(m: Mapping[Any, Any]) -> Asset:
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
    return _job(row._mapping)


def _job(m: Mapping[Any, Any]) -> Job:
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


#: Statements built once: each call only binds its values (building a
#: statement costs more than the round trip it makes).
_LOAD_SESSION = select(_sessions).where(_sessions.c.id == bindparam("session_id"))
_LOAD_ASSET = select(_assets).where(_assets.c.id == bindparam("asset_id"))


def load_session(conn: Connection, session_id: str) -> UploadSession | None:
    row = conn.execute(_LOAD_SESSION, {"session_id": session_id}).first()
    return session_from_row(row) if row else None


def load_asset(conn: Connection, asset_id: str) -> Asset | None:
    row = conn.execute(_LOAD_ASSET, {"asset_id": asset_id}).first()
    return asset_from_row(row) if row else None


def load_job(conn: Connection, job_id: str) -> Job | None:
    row = conn.execute(select(_jobs).where(_jobs.c.id == job_id)).first()
    return job_from_row(row) if row else None


def load_parts(conn: Connection, session_id: str) -> list[UploadedPart]:
    rows = conn.execute(
        select(_parts).where(_parts.c.session_id == session_id).order_by(_parts.c.part_number)
    )
    return [UploadedPart(r.part_number, r.etag, r.size) for r in rows]


def one_statement_writes(conn: Connection) -> bool:
    """True where a write spanning tables is one statement of data-modifying CTEs
    (PostgreSQL): atomic on an autocommit connection, one round trip."""
    return conn.dialect.name == "postgresql"


def cas_session(
    conn: Connection,
    session_id: str,
    expected: SessionState,
    target: SessionState,
    now: dt.datetime,
    *,
    via: Sequence[SessionState] = (),
    **values: object,
) -> UploadSession | None:
    """Move a session ``expected -> target`` if it is still in ``expected``.

    *via* names the states the row passes through on the way: each hop is
    checked against the state machine, and the row is written once.
    Returns the moved row, or None when the session was not in ``expected``.
    """
    _check_path(expected, (*via, target))
    stmt = (
        update(_sessions)
        .where(_sessions.c.id == session_id, _sessions.c.state == expected.value)
        .values(state=target.value, updated_at=now, **values)
    )
    if conn.dialect.update_returning:
        row = conn.execute(stmt.returning(*_sessions.c)).first()
        return session_from_row(row) if row else None
    result = conn.execute(stmt)
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
    stmt = (
        update(_assets)
        .where(_assets.c.id == asset_id, _assets.c.state == expected.value)
        .values(state=target.value, updated_at=now, **values)
    )
    if conn.dialect.update_returning:
        row = conn.execute(stmt.returning(*_assets.c)).first()
        return asset_from_row(row) if row else None
    result = conn.execute(stmt)
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
    stmt = (
        update(_jobs)
        .where(_jobs.c.id == job_id, _jobs.c.state == expected.value)
        .values(state=target.value, updated_at=now, **values)
    )
    if conn.dialect.update_returning:
        row = conn.execute(stmt.returning(*_jobs.c)).first()
        return job_from_row(row) if row else None
    result = conn.execute(stmt)
    return load_job(conn, job_id) if result.rowcount == 1 else None


def _check_path(expected: SessionState, path: Sequence[SessionState]) -> None:
    """Raise :class:`InvalidTransition` unless each hop of *path* is allowed."""
    current = expected
    for step in path:
        transition(current, step)
        current = step


def insert_session(
    conn: Connection, asset: Mapping[str, object], session: Mapping[str, object]
) -> UploadSession:
    """Insert the *asset* row ``staged`` and its *session* row ``initialized``;
    the session as written.

    One statement on PostgreSQL; elsewhere two, which the caller's
    transaction must hold together.
    """
    if one_statement_writes(conn):
        stmt = _insert_both(tuple(asset), tuple(session))
        params = {**_prefix(asset, "a_"), **_prefix(session, "s_")}
        return session_from_row(conn.execute(stmt, params).one())
    conn.execute(insert(_assets).values(**asset, state=AssetState.STAGED.value))
    session_insert = insert(_sessions).values(**session, state=SessionState.INITIALIZED.value)
    if conn.dialect.insert_returning:
        return session_from_row(conn.execute(session_insert.returning(*_sessions.c)).one())
    conn.execute(session_insert)
    written = load_session(conn, str(session["id"]))
    if written is None:  # pragma: no cover - the insert above either wrote it or raised
        raise LookupError("the inserted session is not visible in its own transaction")
    return written


@functools.cache
def _insert_both(asset: tuple[str, ...], session: tuple[str, ...]) -> Insert:
    """``WITH new_asset AS (INSERT …) INSERT … RETURNING *``, binding ``a_<column>``
    and ``s_<column>``."""
    new_asset = (
        insert(_assets)
        .values(_binds(_assets, asset, "a_", state=AssetState.STAGED.value))
        .cte("rindle_new_asset")
    )
    return (
        insert(_sessions)
        .values(_binds(_sessions, session, "s_", state=SessionState.INITIALIZED.value))
        .add_cte(new_asset)
        .returning(*_sessions.c)
    )


def _binds(table: Table, columns: Iterable[str], prefix: str, **fixed: object) -> dict[str, Any]:
    """A bind parameter ``<prefix><column>`` per column, and the *fixed* values."""
    binds: dict[str, Any] = {c: bindparam(prefix + c, type_=table.c[c].type) for c in columns}
    return {**binds, **fixed}


def _prefix(values: Mapping[str, object], prefix: str) -> dict[str, object]:
    return {prefix + k: v for k, v in values.items()}


def sign_or_current(
    conn: Connection, session_id: str, strategy: str, now: dt.datetime
) -> tuple[UploadSession | None, bool]:
    """``initialized → signed`` for a live session of *strategy*, or the row as it is.

    Returns the session (None when there is none) and whether this call moved
    it. A session already signed, or not signable, is read, never written.
    One statement on PostgreSQL and, when the row moves, on SQLite.
    """
    transition(SessionState.INITIALIZED, SessionState.SIGNED)
    params = {"session_id": session_id, "strategy": strategy, "now": now}
    if one_statement_writes(conn):
        found = conn.execute(_sign_or_read(), params).first()
        if found is None:
            return None, False
        return _session(found._mapping), bool(found._mapping["rindle_moved"])
    if conn.dialect.update_returning:
        row = conn.execute(_SIGN.returning(*_sessions.c), params).first()
        if row is not None:
            return _session(row._mapping), True
        return load_session(conn, session_id), False
    result = conn.execute(_SIGN, params)
    return load_session(conn, session_id), result.rowcount == 1


#: The first signature's compare-and-set: a live, unsigned session of the strategy.
_SIGN = (
    update(_sessions)
    .where(
        _sessions.c.id == bindparam("session_id"),
        _sessions.c.state == SessionState.INITIALIZED.value,
        _sessions.c.upload_strategy == bindparam("strategy"),
        _sessions.c.expires_at > bindparam("now", type_=UTCDateTime()),
    )
    .values(state=SessionState.SIGNED.value, updated_at=bindparam("now"))
)


@functools.cache
def _sign_or_read() -> Select[Any]:
    """``_SIGN … RETURNING *``, or else the row as it is, in one statement."""
    moved = _SIGN.returning(*_sessions.c).cte("rindle_signed")
    return select(*moved.c, literal(True).label("rindle_moved")).union_all(
        select(*_sessions.c, literal(False).label("rindle_moved")).where(
            _sessions.c.id == bindparam("session_id"), ~exists(select(moved.c.id))
        )
    )  # type: ignore[return-value]


@attrs.frozen
class Verified:
    """What :func:`complete_verified` wrote: the completed session, the asset
    if it moved ``staged → validating``, and the promotion job if one was added."""

    session: UploadSession
    asset: Asset | None
    job: Job | None


def complete_verified(
    conn: Connection,
    *,
    session_id: str,
    asset_id: str,
    expected: SessionState,
    via: Sequence[SessionState],
    now: dt.datetime,
    session_values: Mapping[str, object],
    asset_values: Mapping[str, object],
    job_values: Mapping[str, object],
    job_delay: dt.timedelta,
) -> Verified | None:
    """In one PostgreSQL statement: the session ``expected → completed`` (through
    *via*), its asset ``staged → validating`` and the promotion job.

    The job (*job_values*: every column but ``run_at``) is due once the last URL
    that could rewrite the object expired: ``urls_expire_at + job_delay`` as the
    completed row holds it, never before *now*; a job with the same dedupe key
    makes it a no-op. None when the session was no longer in *expected*.
    """
    if not one_statement_writes(conn):
        raise ValueError("complete_verified is PostgreSQL's one-statement path")
    _check_path(expected, (*via, SessionState.COMPLETED))
    transition(AssetState.STAGED, AssetState.VALIDATING)
    stmt = _complete(tuple(session_values), tuple(asset_values), tuple(job_values))
    params = {
        "session_id": session_id,
        "expected": expected.value,
        "staged_asset": asset_id,
        "now": now,
        "job_delay": job_delay,
        **_prefix(session_values, "s_"),
        **_prefix(asset_values, "a_"),
        **_prefix(job_values, "j_"),
    }
    row = conn.execute(stmt, params).first()
    if row is None:
        return None
    m = row._mapping
    asset = _asset(_unprefixed(m, "a_")) if m["a_id"] is not None else None
    job = _job(_unprefixed(m, "j_")) if m["j_id"] is not None else None
    return Verified(_session(_unprefixed(m, "s_")), asset, job)


@functools.cache
def _complete(
    session: tuple[str, ...], asset: tuple[str, ...], job: tuple[str, ...]
) -> Select[Any]:
    """The statement :func:`complete_verified` runs, binding the given columns."""
    now = bindparam("now", type_=UTCDateTime())
    s = (
        update(_sessions)
        .where(
            _sessions.c.id == bindparam("session_id"), _sessions.c.state == bindparam("expected")
        )
        .values(
            _binds(_sessions, session, "s_", state=SessionState.COMPLETED.value, updated_at=now)
        )
        .returning(*_sessions.c)
        .cte("rindle_completed")
    )
    a = (
        update(_assets)
        .where(
            # Not named after a column of either table: SQLAlchemy would
            # make a parameter so named part of an UPDATE's SET clause.
            _assets.c.id == bindparam("staged_asset"),
            _assets.c.state == AssetState.STAGED.value,
            exists(select(s.c.id)),
        )
        .values(_binds(_assets, asset, "a_", state=AssetState.VALIDATING.value, updated_at=now))
        .returning(*_assets.c)
        .cte("rindle_validating")
    )
    run_at = func.greatest(
        now,
        func.coalesce(s.c.urls_expire_at + bindparam("job_delay", type_=Interval()), now),
        type_=UTCDateTime(),
    )
    values = [bindparam("j_" + k, type_=_jobs.c[k].type) for k in job]
    from sqlalchemy.dialects import postgresql  # built for PostgreSQL only

    j = (
        postgresql.insert(_jobs)
        .from_select(
            [*job, "run_at"],
            select(*values, run_at).select_from(s).where(exists(select(a.c.id))),
        )
        .on_conflict_do_nothing(index_elements=[_jobs.c.dedupe_key])
        .returning(*_jobs.c)
        .cte("rindle_job")
    )
    return select(*_prefixed(s, "s_"), *_prefixed(a, "a_"), *_prefixed(j, "j_")).select_from(
        s.outerjoin(a, true()).outerjoin(j, true())
    )


def _prefixed(cte: CTE, prefix: str) -> list[Any]:
    return [c.label(prefix + c.name) for c in cte.c]


def _unprefixed(m: Mapping[Any, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in m.items() if k.startswith(prefix)}


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
    upsert(conn, _parts, rows, keys=["session_id", "part_number"], update=["etag", "size"])


def replace_parts(conn: Connection, session_id: str, parts: Iterable[UploadedPart]) -> None:
    """Make the ledger hold exactly *parts* (what storage accepted at completion)."""
    conn.execute(delete(_parts).where(_parts.c.session_id == session_id))
    upsert_parts(conn, session_id, parts)
