"""Maintenance's set-based statements: a whole batch of rows per statement.

Every statement that moves rows is guarded by what it expects of them (a
compare-and-set on many rows at once). Rows are picked ``FOR UPDATE SKIP
LOCKED`` where the database has it (PostgreSQL, MariaDB 10.6+), so
concurrent passes split the work instead of queueing behind one another;
SQLite serialises writers (``BEGIN IMMEDIATE``), so a batch is picked and
moved under one write lock there. ``UPDATE … RETURNING`` hands the moved
rows back where the database has it (PostgreSQL, SQLite); MariaDB reads
them back under the row locks its transaction holds.

The indexes of schema revision 0004 serve the candidate queries: each
batch reads the head of a (partial) index in order, never the whole table.
When no observer wants snapshots, PostgreSQL picks, expires and abandons a
batch in one statement (:func:`expire_moved`) that returns plain columns only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, Final

import attrs
from sqlalchemy import (
    ARRAY,
    Connection,
    Row,
    Select,
    String,
    Table,
    Update,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    update,
)

from .db import assets_table, sessions_table
from .db._repo import asset_from_row, session_from_row
from .models import Asset, UploadSession
from .states import SESSION_TRANSITIONS, AssetState, SessionState, transition

__all__ = [
    "EXPIRABLE",
    "Claimed",
    "Expired",
    "Moved",
    "abandon_assets",
    "among",
    "candidates",
    "claim_due",
    "count_pending",
    "due_cleanups",
    "expire_batch",
    "expire_moved",
    "expire_moved_statement",
    "load_sessions",
    "record_cleanups",
    "skip_locked",
    "updated_rows",
]

_sessions = sessions_table
_assets = assets_table

#: Session states that may still expire (the table allows ``-> expired``).
EXPIRABLE: Final = tuple(
    s.value for s, targets in SESSION_TRANSITIONS.items() if SessionState.EXPIRED in targets
)
PENDING: Final = "pending"
DONE: Final = "done"
#: Dialects with ``SELECT … FOR UPDATE SKIP LOCKED``.
_SKIP_LOCKED: Final = frozenset({"postgresql", "mysql", "mariadb"})


@attrs.frozen
class Expired:
    """A session this batch expired: its new snapshot, the state it left, and
    whether its remote cleanup is now claimed by the pass (it may have
    remote state) or already done (it never signed a URL nor opened an upload)."""

    session: UploadSession
    from_state: SessionState
    claimed: bool


@attrs.frozen
class Claimed:
    """A pending cleanup this pass holds until ``cleanup_at`` moves on."""

    session: UploadSession
    attempts: int


@attrs.frozen
class Moved:
    """A session a batch expired, without its snapshot: what the report, the
    log records and the cleanup need (:func:`expire_moved`)."""

    id: str
    asset_id: str
    profile: str
    strategy: str
    from_state: SessionState
    claimed: bool
    #: The asset's ``(profile, quarantine_reason)`` if the batch abandoned it.
    asset: tuple[str, str | None] | None


def skip_locked(query: Select[Any], conn: Connection) -> Select[Any]:
    if conn.dialect.name in _SKIP_LOCKED:
        return query.with_for_update(skip_locked=True)
    return query


def among(conn: Connection, column: Any, ids: Collection[str]) -> Any:
    """``column IN ids``; one array parameter on PostgreSQL, not one per id.

    On PostgreSQL the array is unnested (``column IN (SELECT unnest(…))``):
    the planner then probes the primary key row by row, where ``column =
    ANY(array)`` on a large table is estimated as a sequential scan.
    """
    if conn.dialect.name == "postgresql":
        return column.in_(select(func.unnest(literal(list(ids), ARRAY(String())))))
    return column.in_(list(ids))


def _may_have_remote_state() -> Any:
    """Whether the session may have left anything in storage.

    An ``initialized`` session never handed out a URL (the first signature
    moves it to ``signed`` in the transaction that hands the URL out, and a
    URL never outlives ``expires_at``) and, without an upload id or session
    URI, opened nothing remote: there is nothing to clean.
    """
    return or_(
        _sessions.c.state != SessionState.INITIALIZED.value,
        _sessions.c.multipart_upload_id.is_not(None),
        _sessions.c.session_uri.is_not(None),
    )


def updated_rows(
    conn: Connection, stmt: Update, table: Table, ids: Sequence[str]
) -> list[Row[Any]]:
    """Run *stmt*, guarded to the locked *ids*, and return the rows it moved.

    Without ``UPDATE … RETURNING`` (MariaDB) the rows are read back: the
    transaction holds their locks, so every id the guard let through moved.
    """
    if conn.dialect.update_returning:
        return list(conn.execute(stmt.returning(*table.c)))
    if conn.execute(stmt).rowcount == 0:
        return []
    return list(conn.execute(select(table).where(among(conn, table.c.id, ids))))


# -- expiry -----------------------------------------------------------------------------


def candidates(now: dt.datetime, limit: int, spare: Collection[str]) -> Select[Any]:
    """Sessions due to expire, oldest deadline first (index ``expiry_due``)."""
    query = select(_sessions).where(
        _sessions.c.state.in_(bindparam("expirable", EXPIRABLE, literal_execute=True)),
        _sessions.c.expires_at <= now,
    )
    if spare:
        query = query.where(_sessions.c.id.not_in(list(spare)))
    return query.order_by(_sessions.c.expires_at, _sessions.c.id).limit(limit)


def expire_batch(
    conn: Connection,
    now: dt.datetime,
    limit: int,
    spare: Collection[str],
    claim_until: dt.datetime,
) -> list[Expired]:
    """Expire up to *limit* due sessions, oldest deadline first.

    A session that may have remote state comes out with its cleanup pending
    and claimed by the caller until *claim_until*; one that cannot is done.
    """
    values = _expiry_values(claim_until, now)
    pick = skip_locked(
        candidates(now, limit, spare).with_only_columns(_sessions.c.id, _sessions.c.state), conn
    )
    guard = _sessions.c.state.in_(EXPIRABLE)
    if conn.dialect.name == "postgresql":
        # One statement: pick (locking), move, and return the old state too.
        picked = pick.cte("picked")
        stmt = (
            update(_sessions)
            .where(_sessions.c.id == picked.c.id, guard)
            .ordered_values(*values)
            .returning(*_sessions.c, picked.c.state.label("rindle_from_state"))
        )
        rows = sorted(conn.execute(stmt), key=lambda r: (r.expires_at, r.id))
        return [
            Expired(
                session_from_row(r),
                SessionState(r.rindle_from_state),
                claimed=r.remote_cleanup == PENDING,
            )
            for r in rows
        ]
    picked_rows = conn.execute(pick).all()
    if not picked_rows:
        return []
    from_states = {r.id: SessionState(r.state) for r in picked_rows}
    ids = [r.id for r in picked_rows]
    moving = update(_sessions).where(among(conn, _sessions.c.id, ids), guard)
    moved = {r.id: r for r in updated_rows(conn, moving.ordered_values(*values), _sessions, ids)}
    return [
        Expired(
            session_from_row(moved[sid]),
            from_states[sid],
            claimed=moved[sid].remote_cleanup == PENDING,
        )
        for sid in ids
        if sid in moved
    ]


def _expiry_values(claim_until: dt.datetime, now: dt.datetime) -> tuple[tuple[Any, Any], ...]:
    for state in EXPIRABLE:
        transition(SessionState(state), SessionState.EXPIRED)
    remote = _may_have_remote_state()
    # MariaDB assigns in order, each SET seeing the ones before it: the
    # cleanup columns read ``state`` before it changes.
    return (
        (_sessions.c.remote_cleanup, case((remote, PENDING), else_=DONE)),
        (_sessions.c.cleanup_at, case((remote, claim_until), else_=None)),
        (_sessions.c.cleanup_attempts, 0),
        (_sessions.c.state, SessionState.EXPIRED.value),
        (_sessions.c.failure_reason, "expired"),
        (_sessions.c.updated_at, now),
    )


def expire_moved_statement(
    conn: Connection,
    now: dt.datetime,
    limit: int,
    spare: Collection[str],
    claim_until: dt.datetime,
) -> Select[Any]:
    """PostgreSQL: the one statement of :func:`expire_moved`.

    ``WITH picked AS (… FOR UPDATE SKIP LOCKED), moved AS (UPDATE sessions …
    FROM picked RETURNING …), abandoned AS (UPDATE assets … FROM moved
    RETURNING …) SELECT …``: the guards of :func:`expire_batch` and
    :func:`abandon_assets`, the assets reached through their primary key,
    and only the plain columns the events need (no JSON column is read).
    """
    transition(AssetState.STAGED, AssetState.ABANDONED)
    picked = skip_locked(
        candidates(now, limit, spare).with_only_columns(_sessions.c.id, _sessions.c.state), conn
    ).cte("picked")
    moved = (
        update(_sessions)
        .where(_sessions.c.id == picked.c.id, _sessions.c.state.in_(EXPIRABLE))
        .ordered_values(*_expiry_values(claim_until, now))
        .returning(
            _sessions.c.id,
            _sessions.c.asset_id,
            _sessions.c.profile,
            _sessions.c.upload_strategy,
            _sessions.c.remote_cleanup,
            _sessions.c.expires_at,
            picked.c.state.label("from_state"),
        )
        .cte("moved")
    )
    abandoned = (
        update(_assets)
        .where(_assets.c.id == moved.c.asset_id, _assets.c.state == AssetState.STAGED.value)
        .values(state=AssetState.ABANDONED.value, updated_at=now)
        .returning(_assets.c.id, _assets.c.profile, _assets.c.quarantine_reason)
        .cte("abandoned")
    )
    return (
        select(
            moved,
            abandoned.c.id.label("abandoned_id"),
            abandoned.c.profile.label("asset_profile"),
            abandoned.c.quarantine_reason,
        )
        .select_from(moved.outerjoin(abandoned, abandoned.c.id == moved.c.asset_id))
        .order_by(moved.c.expires_at, moved.c.id)
    )


def expire_moved(
    conn: Connection,
    now: dt.datetime,
    limit: int,
    spare: Collection[str],
    claim_until: dt.datetime,
) -> list[Moved]:
    """PostgreSQL, when nobody observes the snapshots: expire up to *limit*
    due sessions and abandon their staged assets in **one statement**
    (:func:`expire_moved_statement`), one round trip per batch.
    """
    rows = conn.execute(expire_moved_statement(conn, now, limit, spare, claim_until))
    return [
        Moved(
            r.id,
            r.asset_id,
            r.profile,
            r.upload_strategy,
            SessionState(r.from_state),
            claimed=r.remote_cleanup == PENDING,
            asset=None if r.abandoned_id is None else (r.asset_profile, r.quarantine_reason),
        )
        for r in rows
    ]


def load_sessions(conn: Connection, ids: Sequence[str]) -> list[UploadSession]:
    """Snapshots of the sessions *ids*, in that order (those that exist)."""
    if not ids:
        return []
    rows = {
        r.id: r for r in conn.execute(select(_sessions).where(among(conn, _sessions.c.id, ids)))
    }
    return [session_from_row(rows[sid]) for sid in ids if sid in rows]


def abandon_assets(conn: Connection, asset_ids: Collection[str], now: dt.datetime) -> list[Asset]:
    """``staged → abandoned`` for those of *asset_ids* still staged; the moved assets."""
    if not asset_ids:
        return []
    transition(AssetState.STAGED, AssetState.ABANDONED)
    ids = sorted(set(asset_ids))
    guard = (among(conn, _assets.c.id, ids), _assets.c.state == AssetState.STAGED.value)
    if not conn.dialect.update_returning:
        ids = list(conn.execute(select(_assets.c.id).where(*guard).with_for_update()).scalars())
        if not ids:
            return []
        guard = (_assets.c.id.in_(ids), _assets.c.state == AssetState.STAGED.value)
    stmt = update(_assets).where(*guard).values(state=AssetState.ABANDONED.value, updated_at=now)
    return [asset_from_row(r) for r in updated_rows(conn, stmt, _assets, ids)]


# -- remote cleanup ---------------------------------------------------------------------


def _due(now: dt.datetime) -> Any:
    # Every pending row has a due time (revision 0004 gave one to older rows).
    return (_sessions.c.remote_cleanup == PENDING) & (_sessions.c.cleanup_at <= now)


def due_cleanups(now: dt.datetime, limit: int) -> Select[Any]:
    """Ids of the cleanups due at *now*, oldest due first (index ``cleanup_due``)."""
    return (
        select(_sessions.c.id)
        .where(_due(now))
        .order_by(_sessions.c.cleanup_at, _sessions.c.id)
        .limit(limit)
    )


def claim_due(
    conn: Connection,
    now: dt.datetime,
    until: dt.datetime,
    limit: int,
    *,
    ids: Collection[str] | None = None,
) -> list[Claimed]:
    """Claim up to *limit* due cleanups (oldest due first) until *until*.

    The claim is a compare-and-set on ``cleanup_at``: a row another pass
    holds is not due, so never taken twice within a lease.
    """
    query = due_cleanups(now, limit)
    if ids is not None:
        query = query.where(_sessions.c.id.in_(list(ids)))
    picked = list(conn.execute(skip_locked(query, conn)).scalars())
    if not picked:
        return []
    stmt = (
        update(_sessions)
        .where(among(conn, _sessions.c.id, picked), _due(now))
        .values(cleanup_at=until)
    )
    rows = {r.id: r for r in updated_rows(conn, stmt, _sessions, picked)}
    return [
        Claimed(session_from_row(rows[sid]), rows[sid].cleanup_attempts or 0)
        for sid in picked
        if sid in rows
    ]


def record_cleanups(
    conn: Connection,
    until: dt.datetime,
    now: dt.datetime,
    *,
    finished: Sequence[str] = (),
    scheduled: Sequence[tuple[str, dt.datetime]] = (),
    failed: Sequence[tuple[str, dt.datetime, int]] = (),
) -> None:
    """Write the outcomes of rows claimed until *until*, where the claim still holds.

    *finished* rows are done; *scheduled* ones are due again at the given
    time (the final sweep); *failed* ones back off with their attempt count.
    """
    held = (_sessions.c.remote_cleanup == PENDING, _sessions.c.cleanup_at == until)
    if finished:
        conn.execute(
            update(_sessions)
            .where(among(conn, _sessions.c.id, finished), *held)
            .values(
                remote_cleanup=DONE,
                cleanup_at=None,
                cleanup_attempts=0,
                session_uri=None,
                updated_at=now,
            )
        )
    one_row = _sessions.c.id == bindparam("b_id")
    if scheduled:
        conn.execute(
            update(_sessions)
            .where(one_row, *held)
            .values(
                cleanup_at=bindparam("b_at"), cleanup_attempts=0, session_uri=None, updated_at=now
            ),
            [{"b_id": sid, "b_at": at} for sid, at in scheduled],
        )
    if failed:
        conn.execute(
            update(_sessions)
            .where(one_row, *held)
            .values(
                cleanup_at=bindparam("b_at"),
                cleanup_attempts=bindparam("b_attempts"),
                updated_at=now,
            ),
            [{"b_id": sid, "b_at": at, "b_attempts": n} for sid, at, n in failed],
        )


def count_pending(conn: Connection, due_at: dt.datetime | None) -> int:
    """Rows whose cleanup is pending (only those due at *due_at* if given)."""
    condition = _due(due_at) if due_at else _sessions.c.remote_cleanup == PENDING
    count = conn.execute(select(func.count()).select_from(_sessions).where(condition))
    return int(count.scalar_one())
