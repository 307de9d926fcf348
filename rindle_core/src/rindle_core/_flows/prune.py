"""Pruning: delete old session, part and job rows nobody needs any more, in batches.

A session row goes once it is over (``completed``, ``aborted``, ``expired``
or ``failed``), its deadline is older than the age asked for, its remote
cleanup is not pending (so no final sweep is still owed) and its asset has
settled (no promotion can still read the session). Its part ledger goes in
the same transaction. A job row goes once it ``succeeded`` longer ago than
the age; failed jobs stay for an operator to look at (and to retry).

Each batch is picked oldest first, ``FOR UPDATE SKIP LOCKED`` where the
database has it, and deleted by a statement guarded by the same conditions,
so concurrent runs split the work and a row is deleted once. Deleting what
is gone already is a no-op: a run can be repeated or interrupted at will.
Nothing here talks to storage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Final

import attrs
from sqlalchemy import Connection, Select, delete, func, select

from .._errors import InvalidArgument
from ..db import Database, jobs_table, parts_table, sessions_table
from ..db._tables import assets_table
from ..models import _jsonable
from ..states import AssetState, JobState, SessionState, is_terminal

__all__ = ["PruneReport", "Pruner"]

_sessions = sessions_table
_parts = parts_table
_jobs = jobs_table
_assets = assets_table

#: Sessions that are over.
_OVER: Final = tuple(s.value for s in SessionState if is_terminal(s))
#: Assets no promotion or verification will move on from by itself.
_SETTLED: Final = (
    AssetState.AVAILABLE.value,
    AssetState.READY.value,
    AssetState.DEGRADED.value,
    AssetState.QUARANTINED.value,
    AssetState.ABANDONED.value,
    AssetState.DELETED.value,
)
_SKIP_LOCKED: Final = frozenset({"postgresql", "mysql", "mariadb"})
#: The oldest age that may be asked for (days), and the youngest.
_MAX_DAYS: Final = 3650
_MIN_AGE: Final = dt.timedelta(hours=1)


@attrs.frozen
class PruneReport:
    """What a prune run deleted (or, in a dry run, would delete)."""

    dry_run: bool
    sessions: int = 0
    parts: int = 0
    jobs: int = 0
    batches: int = 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return _jsonable(attrs.asdict(self, recurse=False))


class Pruner:
    """Deletes old rows in batches; see the module's docstring for which."""

    def __init__(self, database: Database, *, clock: Callable[[], dt.datetime]) -> None:
        self._db = database
        self._clock = clock

    def prune(
        self,
        *,
        older_than: dt.timedelta,
        batch_size: int = 1000,
        dry_run: bool = False,
        now: dt.datetime | None = None,
    ) -> PruneReport:
        """Delete every row older than *older_than*, *batch_size* rows per transaction."""
        if not isinstance(older_than, dt.timedelta) or not (
            _MIN_AGE <= older_than <= dt.timedelta(days=_MAX_DAYS)
        ):
            raise InvalidArgument(f"older_than must be between 1 hour and {_MAX_DAYS} days")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument("batch_size must be a positive integer")
        cutoff = (now or self._clock()) - older_than
        if dry_run:
            with self._db.read() as conn:
                return PruneReport(
                    dry_run=True,
                    sessions=_count(conn, _old_sessions(cutoff)),
                    parts=_count(
                        conn,
                        select(_parts.c.session_id).where(
                            _parts.c.session_id.in_(_old_sessions(cutoff).scalar_subquery())
                        ),
                    ),
                    jobs=_count(conn, _old_jobs(cutoff)),
                )
        report = PruneReport(dry_run=False)
        while True:
            with self._db.transaction() as conn:
                sessions, parts = _prune_sessions(conn, cutoff, batch_size)
                jobs = _prune_jobs(conn, cutoff, batch_size)
            report = attrs.evolve(
                report,
                sessions=report.sessions + sessions,
                parts=report.parts + parts,
                jobs=report.jobs + jobs,
                batches=report.batches + 1,
            )
            if not (sessions or jobs):
                return report


def _old_sessions(cutoff: dt.datetime) -> Select[Any]:
    return select(_sessions.c.id).where(
        _sessions.c.state.in_(_OVER),
        _sessions.c.expires_at < cutoff,
        (_sessions.c.remote_cleanup.is_(None)) | (_sessions.c.remote_cleanup != "pending"),
        _sessions.c.asset_id.in_(select(_assets.c.id).where(_assets.c.state.in_(_SETTLED))),
    )


def _old_jobs(cutoff: dt.datetime) -> Select[Any]:
    return select(_jobs.c.id).where(
        _jobs.c.state == JobState.SUCCEEDED.value, _jobs.c.run_at < cutoff
    )


def _count(conn: Connection, query: Select[Any]) -> int:
    return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def _pick(conn: Connection, query: Select[Any], limit: int) -> list[str]:
    query = query.limit(limit)
    if conn.dialect.name in _SKIP_LOCKED:
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).scalars())


def _prune_sessions(conn: Connection, cutoff: dt.datetime, limit: int) -> tuple[int, int]:
    picked = _pick(conn, _old_sessions(cutoff).order_by(_sessions.c.expires_at), limit)
    if not picked:
        return 0, 0
    parts = conn.execute(delete(_parts).where(_parts.c.session_id.in_(picked))).rowcount
    gone = conn.execute(
        delete(_sessions).where(
            _sessions.c.id.in_(picked),
            _sessions.c.state.in_(_OVER),
            (_sessions.c.remote_cleanup.is_(None)) | (_sessions.c.remote_cleanup != "pending"),
        )
    ).rowcount
    return gone, parts


def _prune_jobs(conn: Connection, cutoff: dt.datetime, limit: int) -> int:
    picked = _pick(conn, _old_jobs(cutoff).order_by(_jobs.c.run_at), limit)
    if not picked:
        return 0
    return int(
        conn.execute(
            delete(_jobs).where(_jobs.c.id.in_(picked), _jobs.c.state == JobState.SUCCEEDED.value)
        ).rowcount
    )
