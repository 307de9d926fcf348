"""Maintenance: expire abandoned sessions and clean up what they left remotely.

Expiry moves a batch of sessions per transaction with set-based statements
(``_maintenance_batch``), guarded by state, so two passes at once never
expire one session twice; it commits **before** any storage call. The same
transaction marks the remote cleanup of each session that may have left
something in storage ``pending`` and claims it for this pass; a session
that never handed out a URL nor opened an upload is done at once, and
storage never hears of it.

Remote cleanup (abort the multipart upload or cancel the resumable session,
delete a stray object) then runs row by row, with no transaction open, and
its outcomes are written for the whole batch at once:

* **claimed** first: a compare-and-set moves ``cleanup_at`` a lease ahead,
  so concurrent passes never clean one row at once and a pass that dies
  mid-batch leaves its rows to a later pass, never in front of the others;
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

from . import _maintenance_batch as batch
from ._errors import InvalidArgument, StorageNotFound
from ._telemetry import (
    Event,
    Telemetry,
    asset_event,
    asset_log_event,
    maintenance_event,
    session_event,
    session_log_event,
)
from .db import Database, sessions_table
from .db._repo import cas_asset, cas_session, session_from_row
from .models import MaintenanceReport, UploadSession
from .states import AssetState, SessionState
from .storage import (
    Capability,
    MultipartStorage,
    ResumableStorage,
    StorageAdapter,
    implemented_capabilities,
)

__all__ = ["Maintenance"]

_sessions = sessions_table

#: The longest any maintenance setting may be (seconds).
_MAX_SECONDS: Final = 7 * 24 * 3600


class _Outcome(enum.Enum):
    FINISHED = "finished"  # cleaned for good
    SCHEDULED = "scheduled"  # cleaned; the final sweep is still owed
    FAILED = "failed"  # backs off


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
            moved = cas_session(
                conn,
                session.id,
                session.state,
                target,
                now,
                remote_cleanup=batch.PENDING,
                cleanup_at=cleanup_due or now,
                cleanup_attempts=0,
                failure_reason=reason or _sessions.c.failure_reason,
            )
            if moved is None:
                return None
            events.append(session_event(moved, session.state.value, target.value))
            asset = cas_asset(conn, session.asset_id, AssetState.STAGED, AssetState.ABANDONED, now)
            if asset is not None:
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
        now = now or self._clock()
        until = now + self.claim_lease
        effects = _Effects()
        try:
            with self._db.transaction() as conn:
                claims = batch.claim_due(conn, now, until, 1, ids=[session.id])
        except Exception as exc:  # the database failed around the row
            self._telemetry.log(
                "rindle.maintenance.cleanup_failed", session_id=session.id, error=type(exc).__name__
            )
            return 0, 0, False
        outcomes = self._clean(claims, now, until, effects)
        return effects.aborted, effects.deleted, _Outcome.FAILED not in outcomes

    # -- a pass --------------------------------------------------------------------

    def expire(
        self,
        *,
        now: dt.datetime | None = None,
        batch_size: int = 100,
        dry_run: bool = False,
        spare: Collection[str] = (),
    ) -> MaintenanceReport:
        """One pass: expire up to *batch_size* sessions and clean up after them,
        then run up to *batch_size* other due cleanups.

        Sessions in *spare* are left for a later pass.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument("batch_size must be a positive integer")
        now = now or self._clock()
        if dry_run:
            with self._db.read() as conn:
                ids = conn.execute(
                    batch.candidates(now, batch_size, spare).with_only_columns(_sessions.c.id)
                ).scalars()
                report = MaintenanceReport(
                    dry_run=True,
                    expired_session_ids=tuple(ids),
                    cleanup_due=batch.count_pending(conn, now),
                    cleanup_pending=batch.count_pending(conn, None),
                )
        else:
            report = self._run(now, batch_size, spare)
        self._telemetry.emit([maintenance_event(report)])
        return report

    def _run(self, now: dt.datetime, batch_size: int, spare: Collection[str]) -> MaintenanceReport:
        until = now + self.claim_lease
        expired, expiry_failures, claims = self._expire(now, batch_size, spare, until)
        effects = _Effects()
        outcomes = self._clean(claims, now, until, effects)
        with self._db.read() as conn:
            pending = batch.count_pending(conn, None)
        return MaintenanceReport(
            dry_run=False,
            expired_session_ids=tuple(expired),
            remote_aborted=effects.aborted,
            objects_deleted=effects.deleted,
            cleanup_failures=outcomes.count(_Outcome.FAILED),
            cleanups_finished=outcomes.count(_Outcome.FINISHED),
            final_sweeps_scheduled=outcomes.count(_Outcome.SCHEDULED),
            expiry_failures=expiry_failures,
            cleanup_pending=pending,
        )

    def _expire(
        self, now: dt.datetime, limit: int, spare: Collection[str], until: dt.datetime
    ) -> tuple[list[str], int, list[batch.Claimed]]:
        """Expire one batch and claim up to *limit* other due cleanups, in one
        transaction; events after the commit. Returns the ids of the sessions
        expired, the expiries that failed and the cleanups claimed (the
        expired sessions' own first).

        Snapshots (and the JSON columns they parse) are built only when an
        observer hook would receive them; otherwise PostgreSQL moves the batch
        in one statement and the log records are built from plain columns,
        and only if the log is enabled.

        Should the batch fail as a whole (a lock timeout, a bad row), its
        sessions are expired one by one instead, so one row never stops the pass.
        """
        snapshots = self._telemetry.listening(
            "rindle_session_transitioned", "rindle_asset_transitioned"
        )
        try:
            if not snapshots and self._db.dialect == "postgresql":
                return self._expire_moved(now, limit, spare, until)
            with self._db.transaction() as conn:
                expired = batch.expire_batch(conn, now, limit, spare, until)
                assets = batch.abandon_assets(conn, [e.session.asset_id for e in expired], now)
                claims = batch.claim_due(conn, now, until, limit)
        except Exception as exc:
            self._telemetry.log("rindle.maintenance.expire_batch_failed", error=type(exc).__name__)
            one_by_one, failures = self._expire_one_by_one(now, limit, spare)
            with self._db.transaction() as conn:
                claims = batch.claim_due(conn, now, until, limit)
            return [e.session.id for e in one_by_one], failures, claims
        by_asset = {a.id: a for a in assets}
        events: list[Event] = []
        for e in expired:
            events.append(session_event(e.session, e.from_state.value, "expired"))
            asset = by_asset.pop(e.session.asset_id, None)
            if asset is not None:
                events.append(asset_event(asset, "staged", "abandoned"))
        self._telemetry.emit(events)
        claims[:0] = [batch.Claimed(e.session, 0) for e in expired if e.claimed]
        return [e.session.id for e in expired], 0, claims

    def _expire_moved(
        self, now: dt.datetime, limit: int, spare: Collection[str], until: dt.datetime
    ) -> tuple[list[str], int, list[batch.Claimed]]:
        """:meth:`_expire` on PostgreSQL with no snapshot wanted: one statement
        moves the batch; only the sessions claimed for cleanup are loaded."""
        with self._db.transaction() as conn:
            moved = batch.expire_moved(conn, now, limit, spare, until)
            mine = batch.load_sessions(conn, [m.id for m in moved if m.claimed])
            claims = batch.claim_due(conn, now, until, limit)
        if self._telemetry.logging():
            events: list[Event] = []
            for m in moved:
                events.append(
                    session_log_event(
                        m.id, m.asset_id, m.profile, m.strategy, m.from_state.value, "expired"
                    )
                )
                if m.asset is not None:
                    events.append(asset_log_event(m.asset_id, *m.asset, "staged", "abandoned"))
            self._telemetry.emit(events)
        return [m.id for m in moved], 0, [batch.Claimed(s, 0) for s in mine] + claims

    def _expire_one_by_one(
        self, now: dt.datetime, limit: int, spare: Collection[str]
    ) -> tuple[list[batch.Expired], int]:
        with self._db.read() as conn:
            candidates = [
                session_from_row(r) for r in conn.execute(batch.candidates(now, limit, spare))
            ]
        expired: list[batch.Expired] = []
        failures = 0
        for session in candidates:
            try:
                moved = self.settle(
                    session, SessionState.EXPIRED, reason="expired", cleanup_due=now
                )
            except Exception as exc:  # one row never stops the pass
                failures += 1
                self._telemetry.log(
                    "rindle.maintenance.expire_failed",
                    session_id=session.id,
                    error=type(exc).__name__,
                )
                continue
            if moved is not None:
                # Its cleanup is due now (not claimed): the pass claims it next.
                expired.append(batch.Expired(moved, session.state, claimed=False))
        return expired, failures

    # -- cleanup of claimed rows -----------------------------------------------------

    def _clean(
        self,
        claims: list[batch.Claimed],
        now: dt.datetime,
        until: dt.datetime,
        effects: _Effects,
    ) -> list[_Outcome]:
        """Clean each claimed row remotely (no transaction open), then record
        every outcome in one transaction while the claims hold."""
        if not claims:
            return []
        finished: list[str] = []
        scheduled: list[tuple[str, dt.datetime]] = []
        failed: list[tuple[str, dt.datetime, int]] = []
        storages: dict[str, StorageAdapter] = {}
        for claim in claims:
            session = claim.session
            try:
                storage = storages.get(session.profile)
                if storage is None:
                    storage = storages[session.profile] = self._storage_for(session.profile)
                self._remote_steps(storage, session, effects)
            except Exception as exc:  # the row backs off, the pass goes on
                attempts = claim.attempts + 1
                self._telemetry.log(
                    "rindle.maintenance.cleanup_failed",
                    session_id=session.id,
                    error=type(exc).__name__,
                    attempts=attempts,
                )
                failed.append((session.id, now + self.backoff(attempts), attempts))
                continue
            final_sweep = session.expires_at + self.cleanup_grace
            if now >= final_sweep:
                finished.append(session.id)
            else:
                # Cleaned, but a URL issued before may still store an object: sweep again.
                scheduled.append((session.id, final_sweep))
        try:
            with self._db.transaction() as conn:
                batch.record_cleanups(
                    conn,
                    until,
                    self._clock(),
                    finished=finished,
                    scheduled=scheduled,
                    failed=failed,
                )
        except Exception as exc:  # the claims run out and a later pass retries
            self._telemetry.log("rindle.maintenance.cleanup_failed", error=type(exc).__name__)
            return [_Outcome.FAILED] * len(claims)
        return (
            [_Outcome.FINISHED] * len(finished)
            + [_Outcome.SCHEDULED] * len(scheduled)
            + [_Outcome.FAILED] * len(failed)
        )

    def _remote_steps(
        self, storage: StorageAdapter, session: UploadSession, effects: _Effects
    ) -> None:
        """Abort/cancel the remote upload, then delete the object if it exists.

        Storage I/O only (no transaction is open). Probes before each step
        make the counts exact: an abort counts when the upload was found
        open, a delete when HEAD found the object.
        """
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
