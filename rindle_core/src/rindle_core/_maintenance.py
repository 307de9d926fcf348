"""Maintenance: expire abandoned sessions and clean up what they left remotely.

Expiry is a compare-and-set per session (two passes at once never expire
one session twice), committed **before** any storage call; the same
transaction marks the session ``remote_cleanup = "pending"``, due now.

Remote cleanup (abort the multipart upload or cancel the resumable session,
delete a stray object) then runs row by row, each row on its own:

* **claimed** first: a compare-and-set moves ``cleanup_at`` a lease ahead,
  so concurrent passes never clean one row at once and a pass that dies
  mid-row leaves it to a later pass, never in front of the others;
* **isolated**: any ``Exception`` fails that row only (logged by type);
* **backed off** on failure: ``cleanup_at = now + backoff(attempts)``,
  doubling up to a cap, and rows are taken oldest *due* first, so failing
  rows never block the rest;
* **swept again** after success: URLs cannot be revoked, and every URL
  rindle signs for a session stops at its ``expires_at`` (resumable session
  URIs are cancelled), so the row stays pending until a final sweep at
  ``expires_at + cleanup_grace`` removes what a late PUT stored.

Reports count effects: uploads found open and then aborted, objects found
(HEAD) and then deleted.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Collection
from typing import Final, TypeGuard

import attrs
from sqlalchemy import ColumnElement, func, or_, select, update

from ._errors import InvalidArgument, StorageNotFound
from ._telemetry import Event, Telemetry, asset_event, maintenance_event, session_event
from .db import Database, sessions_table
from .db._repo import cas_asset, cas_session, load_asset, load_session, session_from_row
from .models import MaintenanceReport, UploadSession
from .states import SESSION_TRANSITIONS, AssetState, SessionState
from .storage import (
    Capability,
    MultipartStorage,
    ResumableStorage,
    StorageAdapter,
    implemented_capabilities,
)

__all__ = ["Maintenance"]

_sessions = sessions_table

#: Session states that may still expire (the table allows ``-> expired``).
EXPIRABLE = tuple(
    s.value for s, targets in SESSION_TRANSITIONS.items() if SessionState.EXPIRED in targets
)
_PENDING: Final = "pending"
#: The longest any maintenance setting may be (seconds).
_MAX_SECONDS: Final = 7 * 24 * 3600


class _Outcome(enum.Enum):
    FINISHED = "finished"  # cleaned for good
    SCHEDULED = "scheduled"  # cleaned; the final sweep is still owed
    FAILED = "failed"  # backs off
    SKIPPED = "skipped"  # another pass holds it, or it is not due


@attrs.define
class _Effects:
    aborted: int = 0
    deleted: int = 0


class Maintenance:
    """Expiry and remote cleanup, shared by the broker's abort and cancel.

    ``cleanup_grace`` (seconds) is the margin after a session's
    ``expires_at`` before its final sweep: clock skew between rindle and the
    storage, plus the rounding of URL lifetimes. ``backoff_base`` and
    ``backoff_max`` shape the wait after failed cleanups; ``claim_lease``
    is how long a claimed row is left alone before another pass may retry it.
    """

    DEFAULT_CLEANUP_GRACE: Final = 300
    DEFAULT_BACKOFF_BASE: Final = 30
    DEFAULT_BACKOFF_MAX: Final = 3600
    DEFAULT_CLAIM_LEASE: Final = 300

    def __init__(
        self,
        database: Database,
        *,
        storage_for: Callable[[str], StorageAdapter],
        telemetry: Telemetry,
        clock: Callable[[], dt.datetime],
        cleanup_grace: float = DEFAULT_CLEANUP_GRACE,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        claim_lease: float = DEFAULT_CLAIM_LEASE,
    ) -> None:
        self._db = database
        self._storage_for = storage_for
        self._telemetry = telemetry
        self._clock = clock
        self.cleanup_grace = _seconds("cleanup_grace", cleanup_grace, minimum=0)
        self.backoff_base = _seconds("backoff_base", backoff_base, minimum=1)
        self.backoff_max = _seconds("backoff_max", backoff_max, minimum=1)
        if self.backoff_max < self.backoff_base:
            raise InvalidArgument("backoff_max must not be shorter than backoff_base")
        self.claim_lease = _seconds("claim_lease", claim_lease, minimum=1)

    def backoff(self, attempts: int) -> dt.timedelta:
        """The wait after *attempts* failed cleanups in a row: doubling, capped."""
        # 2**20 s is past the 7-day cap on any setting: no overflow, same result.
        exponent = min(max(attempts, 1) - 1, 20)
        return min(self.backoff_max, self.backoff_base * (1 << exponent))

    # -- one session ---------------------------------------------------------------

    def settle(
        self,
        session: UploadSession,
        target: SessionState,
        *,
        reason: str | None = None,
        cleanup_due: dt.datetime | None = None,
    ) -> UploadSession | None:
        """Move a live session to ``aborted``/``expired``, abandon its asset.

        The same transaction marks its remote cleanup pending, due at
        *cleanup_due* (default: now). Returns the new snapshot, or None when
        another writer moved the session first.
        """
        now = self._clock()
        events: list[Event] = []
        with self._db.transaction() as conn:
            values: dict[str, object] = {
                "remote_cleanup": _PENDING,
                "cleanup_at": cleanup_due or now,
                "cleanup_attempts": 0,
            }
            if reason:
                values["failure_reason"] = reason
            if not cas_session(conn, session.id, session.state, target, now, **values):
                return None
            moved = load_session(conn, session.id)
            assert moved is not None
            events.append(session_event(moved, session.state.value, target.value))
            if cas_asset(conn, session.asset_id, AssetState.STAGED, AssetState.ABANDONED, now):
                asset = load_asset(conn, session.asset_id)
                assert asset is not None
                events.append(asset_event(asset, "staged", "abandoned"))
        self._telemetry.emit(events)
        return moved

    def cleanup_remote(
        self, session: UploadSession, *, now: dt.datetime | None = None
    ) -> tuple[int, int, bool]:
        """Run the session's remote cleanup now if it is due (right after :meth:`settle`).

        Returns ``(remote_aborted, objects_deleted, ok)``; ``ok`` is False
        when the attempt failed (the row backs off and a later pass retries).
        Never raises for a failed cleanup.
        """
        effects = _Effects()
        outcome = self._clean_isolated(session.id, now or self._clock(), effects)
        return effects.aborted, effects.deleted, outcome is not _Outcome.FAILED

    # -- a pass --------------------------------------------------------------------

    def expire(
        self,
        *,
        now: dt.datetime | None = None,
        batch_size: int = 100,
        dry_run: bool = False,
        spare: Collection[str] = (),
    ) -> MaintenanceReport:
        """One pass: expire up to *batch_size* sessions, then run as many due cleanups.

        Sessions in *spare* are left for a later pass.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument("batch_size must be a positive integer")
        now = now or self._clock()
        query = (
            select(_sessions)
            .where(_sessions.c.state.in_(EXPIRABLE), _sessions.c.expires_at <= now)
            .where(_sessions.c.id.not_in(list(spare)))
            .order_by(_sessions.c.expires_at, _sessions.c.id)
            .limit(batch_size)
        )
        with self._db.read() as conn:
            candidates = [session_from_row(r) for r in conn.execute(query)]
        if dry_run:
            report = MaintenanceReport(
                dry_run=True,
                expired_session_ids=tuple(s.id for s in candidates),
                cleanup_due=self._count_pending(now),
                cleanup_pending=self._count_pending(None),
            )
        else:
            report = self._run(candidates, now, batch_size)
        self._telemetry.emit([maintenance_event(report)])
        return report

    def _run(
        self, candidates: list[UploadSession], now: dt.datetime, batch_size: int
    ) -> MaintenanceReport:
        expired: list[str] = []
        expiry_failures = 0
        for session in candidates:
            try:
                moved = self.settle(
                    session, SessionState.EXPIRED, reason="expired", cleanup_due=now
                )
            except Exception as exc:  # one row never stops the pass
                expiry_failures += 1
                self._telemetry.log(
                    "rindle.maintenance.expire_failed",
                    session_id=session.id,
                    error=type(exc).__name__,
                )
                continue
            if moved is not None:
                expired.append(moved.id)
        effects = _Effects()
        outcomes = [self._clean_isolated(sid, now, effects) for sid in self._due(now, batch_size)]
        return MaintenanceReport(
            dry_run=False,
            expired_session_ids=tuple(expired),
            remote_aborted=effects.aborted,
            objects_deleted=effects.deleted,
            cleanup_failures=outcomes.count(_Outcome.FAILED),
            cleanups_finished=outcomes.count(_Outcome.FINISHED),
            final_sweeps_scheduled=outcomes.count(_Outcome.SCHEDULED),
            expiry_failures=expiry_failures,
            cleanup_pending=self._count_pending(None),
        )

    # -- cleanup of one row ----------------------------------------------------------

    def _clean_isolated(self, session_id: str, now: dt.datetime, effects: _Effects) -> _Outcome:
        try:
            return self._clean(session_id, now, effects)
        except Exception as exc:  # the database failed around the row
            self._telemetry.log(
                "rindle.maintenance.cleanup_failed", session_id=session_id, error=type(exc).__name__
            )
            return _Outcome.FAILED

    def _clean(self, session_id: str, now: dt.datetime, effects: _Effects) -> _Outcome:
        claim = self._claim(session_id, now)
        if claim is None:
            return _Outcome.SKIPPED
        session, attempts, until = claim
        try:
            self._remote_steps(session, effects)
        except Exception as exc:  # the row backs off, the pass goes on
            attempts += 1
            self._telemetry.log(
                "rindle.maintenance.cleanup_failed",
                session_id=session_id,
                error=type(exc).__name__,
                attempts=attempts,
            )
            self._record(
                session_id,
                until,
                cleanup_at=now + self.backoff(attempts),
                cleanup_attempts=attempts,
            )
            return _Outcome.FAILED
        final_sweep = session.expires_at + self.cleanup_grace
        if now >= final_sweep:
            self._record(
                session_id,
                until,
                remote_cleanup="done",
                cleanup_at=None,
                cleanup_attempts=0,
                session_uri=None,
            )
            return _Outcome.FINISHED
        # Cleaned, but a URL issued before may still store an object: sweep again.
        self._record(
            session_id, until, cleanup_at=final_sweep, cleanup_attempts=0, session_uri=None
        )
        return _Outcome.SCHEDULED

    def _claim(
        self, session_id: str, now: dt.datetime
    ) -> tuple[UploadSession, int, dt.datetime] | None:
        """Take a due row for one lease (compare-and-set on ``cleanup_at``)."""
        until = now + self.claim_lease
        with self._db.transaction() as conn:
            claimed = conn.execute(
                update(_sessions)
                .where(_sessions.c.id == session_id, _is_due(now))
                .values(cleanup_at=until)
            )
            if claimed.rowcount != 1:
                return None
            row = conn.execute(select(_sessions).where(_sessions.c.id == session_id)).one()
        return session_from_row(row), row.cleanup_attempts or 0, until

    def _record(self, session_id: str, until: dt.datetime, **values: object) -> None:
        """Write the outcome, unless the claim ran out and another pass took the row."""
        with self._db.transaction() as conn:
            conn.execute(
                update(_sessions)
                .where(
                    _sessions.c.id == session_id,
                    _sessions.c.remote_cleanup == _PENDING,
                    _sessions.c.cleanup_at == until,
                )
                .values(updated_at=self._clock(), **values)
            )

    def _remote_steps(self, session: UploadSession, effects: _Effects) -> None:
        """Abort/cancel the remote upload, then delete the object if it exists.

        Storage I/O only (no transaction is open). Probes before each step
        make the counts exact: an abort counts when the upload was found
        open, a delete when HEAD found the object.
        """
        storage = self._storage_for(session.profile)
        key = session.storage_key
        if (
            session.upload_strategy == "multipart"
            and session.remote_upload_id
            and _implements_multipart(storage)
        ):
            upload_id, multipart = session.remote_upload_id, storage
            was_open = _found(lambda: multipart.list_parts(key, upload_id))
            multipart.abort_multipart(key, upload_id)
            effects.aborted += was_open
        elif (
            session.upload_strategy == "resumable"
            and session.session_uri
            and _implements_resumable(storage)
        ):
            uri, resumable = session.session_uri, storage
            was_open = _found(lambda: resumable.resumable_status(key, uri).state == "in_progress")
            resumable.cancel_resumable(key, uri)
            effects.aborted += was_open
        if _found(lambda: storage.head(key)):
            storage.delete(key)
            effects.deleted += 1

    # -- queries ---------------------------------------------------------------------

    def _due(self, now: dt.datetime, limit: int) -> list[str]:
        query = (
            select(_sessions.c.id)
            .where(_is_due(now))
            .order_by(_sessions.c.cleanup_at.asc().nulls_first(), _sessions.c.id)
            .limit(limit)
        )
        with self._db.read() as conn:
            return list(conn.execute(query).scalars())

    def _count_pending(self, due_at: dt.datetime | None) -> int:
        """Rows whose cleanup is pending (only those due at *due_at* if given)."""
        condition = _is_due(due_at) if due_at else _sessions.c.remote_cleanup == _PENDING
        with self._db.read() as conn:
            count = conn.execute(select(func.count()).select_from(_sessions).where(condition))
            return int(count.scalar_one())


def _is_due(now: dt.datetime) -> ColumnElement[bool]:
    # NULL: a row left pending by a rindle before the cleanup schedule existed.
    return (_sessions.c.remote_cleanup == _PENDING) & or_(
        _sessions.c.cleanup_at.is_(None), _sessions.c.cleanup_at <= now
    )


def _implements_multipart(storage: StorageAdapter) -> TypeGuard[MultipartStorage]:
    """Whether *storage* can abort multipart uploads, even with new ones withheld.

    A capability withheld by configuration (no signing credentials) stops new
    uploads, never the cleanup of old ones.
    """
    return Capability.MULTIPART_UPLOAD in implemented_capabilities(type(storage))


def _implements_resumable(storage: StorageAdapter) -> TypeGuard[ResumableStorage]:
    """Whether *storage* can cancel resumable sessions, even with new ones withheld."""
    return Capability.RESUMABLE_UPLOAD in implemented_capabilities(type(storage))


def _found(probe: Callable[[], object]) -> bool:
    """Run *probe*: False when it raises StorageNotFound, else whether its result is truthy."""
    try:
        result = probe()
    except StorageNotFound:
        return False
    return result is not False


def _seconds(name: str, value: object, *, minimum: int) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not minimum <= value <= _MAX_SECONDS
    ):
        raise InvalidArgument(
            f"{name} must be a number of seconds within {minimum}..{_MAX_SECONDS}"
        )
    return dt.timedelta(seconds=value)
