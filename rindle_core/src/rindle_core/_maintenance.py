"""Maintenance: expire abandoned sessions and clean up what they left remotely.

Expiry is a compare-and-set per session (so two passes at once never expire
one session twice), committed **before** any storage call; the session is
marked ``remote_cleanup = "pending"`` in that same transaction and only
marked done once the remote abort / cancel / delete succeeded (or found
nothing). A failed cleanup is retried by the next pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select

from ._errors import InvalidArgument, RindleError, StorageNotFound
from ._telemetry import Event, Telemetry, asset_event, maintenance_event, session_event
from .db import Database, sessions_table
from .db._repo import (
    cas_asset,
    cas_session,
    load_asset,
    load_session,
    session_from_row,
    update_session_fields,
)
from .models import MaintenanceReport, UploadSession
from .states import SESSION_TRANSITIONS, AssetState, SessionState
from .storage import Capability, StorageAdapter

__all__ = ["Maintenance"]

_sessions = sessions_table

#: Session states that may still expire (the table allows ``-> expired``).
EXPIRABLE = tuple(
    s.value for s, targets in SESSION_TRANSITIONS.items() if SessionState.EXPIRED in targets
)


class Maintenance:
    """Expiry and remote cleanup, shared by the broker's abort and cancel."""

    def __init__(
        self,
        database: Database,
        *,
        storage_for: Callable[[str], StorageAdapter],
        telemetry: Telemetry,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._db = database
        self._storage_for = storage_for
        self._telemetry = telemetry
        self._clock = clock

    def settle(
        self, session: UploadSession, target: SessionState, *, reason: str | None = None
    ) -> UploadSession | None:
        """Move a live session to ``aborted``/``expired``, abandon its asset.

        Returns the new snapshot, or None when another writer moved it first.
        """
        now = self._clock()
        events: list[Event] = []
        with self._db.transaction() as conn:
            values: dict[str, object] = {"remote_cleanup": "pending"}
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

    def cleanup_remote(self, session: UploadSession) -> tuple[int, int, bool]:
        """Abort/cancel the remote upload and delete any stray object.

        Returns ``(remote_aborted, objects_deleted, ok)``; storage I/O runs
        outside any transaction, and the row is marked done only on success.
        """
        done = {"abort": 0, "delete": 0}
        try:
            for name, step in self._cleanup_steps(session):
                try:
                    step()
                except StorageNotFound:
                    continue  # already gone: what cleanup wanted, but nothing was done
                done[name] = 1
        except (RindleError, NotImplementedError) as exc:
            # A storage error, an adapter refusing the key, or a profile that no
            # longer exists: keep the row pending, count it, go on with the rest.
            self._telemetry.log(
                "rindle.maintenance.cleanup_failed",
                session_id=session.id,
                error=type(exc).__name__,
            )
            return done["abort"], done["delete"], False
        aborted, deleted = done["abort"], done["delete"]
        with self._db.transaction() as conn:
            update_session_fields(
                conn, session.id, self._clock(), remote_cleanup="done", session_uri=None
            )
        return aborted, deleted, True

    def _cleanup_steps(self, session: UploadSession) -> list[tuple[str, Callable[[], None]]]:
        storage = self._storage_for(session.profile)
        steps: list[tuple[str, Callable[[], None]]] = []
        if session.upload_strategy == "multipart" and session.multipart_upload_id:
            upload_id = session.multipart_upload_id
            steps.append(("abort", lambda: storage.abort_multipart(session.upload_key, upload_id)))
        elif session.upload_strategy == "resumable" and session.session_uri:
            uri = session.session_uri
            steps.append(("abort", lambda: storage.cancel_resumable(session.upload_key, uri)))
        if Capability.DELETE in storage.capabilities:
            steps.append(("delete", lambda: storage.delete(session.upload_key)))
        return steps

    def expire(
        self, *, now: dt.datetime | None = None, batch_size: int = 100, dry_run: bool = False
    ) -> MaintenanceReport:
        """Expire up to *batch_size* sessions past their deadline, then clean up."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument("batch_size must be a positive integer")
        now = now or self._clock()
        query = (
            select(_sessions)
            .where(_sessions.c.state.in_(EXPIRABLE), _sessions.c.expires_at <= now)
            .order_by(_sessions.c.expires_at)
            .limit(batch_size)
        )
        with self._db.read() as conn:
            candidates = [session_from_row(r) for r in conn.execute(query)]
        if dry_run:
            report = MaintenanceReport(
                dry_run=True, expired_session_ids=tuple(s.id for s in candidates)
            )
            self._telemetry.emit([maintenance_event(report)])
            return report
        expired = [
            moved
            for s in candidates
            if (moved := self.settle(s, SessionState.EXPIRED, reason="expired")) is not None
        ]
        aborted = deleted = failures = 0
        for session in self._pending_cleanup(batch_size):
            a, d, ok = self.cleanup_remote(session)
            aborted, deleted, failures = aborted + a, deleted + d, failures + (not ok)
        report = MaintenanceReport(
            dry_run=False,
            expired_session_ids=tuple(s.id for s in expired),
            remote_aborted=aborted,
            objects_deleted=deleted,
            cleanup_failures=failures,
        )
        self._telemetry.emit([maintenance_event(report)])
        return report

    def _pending_cleanup(self, limit: int) -> list[UploadSession]:
        query = (
            select(_sessions)
            .where(_sessions.c.remote_cleanup == "pending")
            .order_by(_sessions.c.updated_at)
            .limit(limit)
        )
        with self._db.read() as conn:
            return [session_from_row(r) for r in conn.execute(query)]
