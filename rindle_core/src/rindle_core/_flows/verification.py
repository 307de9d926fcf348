"""Verification: the step every strategy ends with.

Storage holds the object, so in one transaction the session moves on to
``completed``, the asset to ``validating`` (with what storage reports) and
the promotion job is enqueued; after the commit the job is handed off.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import pluggy
from sqlalchemy import Connection

from .. import _decisions as decide
from .._errors import InvalidTransition, StorageNotFound, StorageObjectMissing
from .._maintenance import Maintenance
from .._session_store import SessionStore
from .._telemetry import (
    Event,
    Telemetry,
    asset_event,
    log_event,
    session_event,
    upload_stop_event,
)
from ..db import Database
from ..db._repo import cas_asset
from ..jobs import JobRunner, enqueue
from ..models import UploadSession, VerifyResult
from ..states import AssetState, SessionState
from ..storage import Capability, HeadResult
from ._common import Resolve, check_verifiable, require

__all__ = ["Verification"]

_log = logging.getLogger("rindle.broker")


class Verification:
    """Completes sessions whose object storage holds, and hands promotion off.

    With *inline*, the promotion job runs in this process right after the
    commit that enqueued it.
    """

    def __init__(
        self,
        database: Database,
        store: SessionStore,
        *,
        resolve: Resolve,
        maintenance: Maintenance,
        jobs: JobRunner,
        pm: pluggy.PluginManager,
        telemetry: Telemetry,
        clock: Callable[[], dt.datetime],
        job_max_attempts: int,
        inline: bool,
    ) -> None:
        self._db = database
        self._store = store
        self._resolve = resolve
        self._maintenance = maintenance
        self._jobs = jobs
        self._pm = pm
        self._telemetry = telemetry
        self._clock = clock
        self._job_max_attempts = job_max_attempts
        self._inline = inline

    def verify(self, session_id: str, *, at_deadline: bool = False) -> VerifyResult:
        """Check the object is stored, complete the session, enqueue promotion.

        Idempotent on a completed session; under concurrent calls exactly one
        completes and the others converge on its result. *at_deadline* lets
        maintenance verify a session past its deadline (a form POST that
        landed: nothing else tells rindle it did).
        """
        session = self._store.get(session_id)
        if session.state is SessionState.COMPLETED:
            return VerifyResult(session, self._store.get_asset(session.asset_id))
        check_verifiable(session, self._clock(), at_deadline=at_deadline)
        _, storage = self._resolve(session.profile)
        require(storage, Capability.HEAD, None)
        try:
            head = storage.head(session.storage_key)
        except StorageNotFound:
            raise StorageObjectMissing(session.storage_key) from None

        events: list[Event] = []
        with self._db.transaction() as conn:
            outcome = self._commit(conn, session, head, events)
        if outcome is None:
            # Another caller moved the session first: converge on its outcome.
            current = self._store.get(session_id)
            if current.state is SessionState.COMPLETED:
                return VerifyResult(current, self._store.get_asset(current.asset_id))
            raise InvalidTransition(current.state.value, SessionState.VERIFYING.value)
        result, job_id = outcome
        self._telemetry.emit(events)
        if job_id is None:
            return result
        self._hand_off(job_id)
        if self._inline:
            return VerifyResult(result.session, self._store.get_asset(result.asset.id))
        return result

    def _commit(
        self, conn: Connection, session: UploadSession, head: HeadResult, events: list[Event]
    ) -> tuple[VerifyResult, str | None] | None:
        """session → verifying → completed, asset → validating, and the promotion
        job. None when another caller moved the session first."""
        now = self._clock()
        current = session.state
        for step in decide.verification_path(current):
            moved = self._store.cas(conn, session.id, current, step, now)
            if moved is None:
                if current is session.state:
                    return None  # another caller moved the session first
                # After the first step the row is ours; anything else rolls back.
                raise InvalidTransition(current.value, step.value)
            events.append(session_event(moved, current.value, step.value))
            current = step
        completed = self._store.cas(
            conn,
            session.id,
            SessionState.VERIFYING,
            SessionState.COMPLETED,
            now,
            verified_at=now,
            committed_bytes=head.size,
            session_uri=None,  # a bearer secret no longer needed
        )
        if completed is None:
            raise InvalidTransition(current.value, SessionState.COMPLETED.value)
        events.append(session_event(completed, "verifying", "completed"))
        validating = cas_asset(
            conn,
            session.asset_id,
            AssetState.STAGED,
            AssetState.VALIDATING,
            now,
            byte_size=head.size,
            content_type=head.content_type or session.content_type,
            stored_version=head.version,
            served_content_type=head.content_type,
        )
        job_id: str | None = None
        if validating is not None:
            events.append(asset_event(validating, "staged", "validating"))
            job_id = enqueue(
                conn,
                kind="promote",
                payload={"asset_id": validating.id},
                dedupe_key=f"promote:{validating.id}",
                now=now,
                max_attempts=self._job_max_attempts,
                run_at=self._promotion_due(completed),
            )
        asset = validating or self._store.load_asset(conn, session.asset_id)
        events.append(upload_stop_event(completed, asset))
        return VerifyResult(completed, asset), job_id

    def _promotion_due(self, session: UploadSession) -> dt.datetime | None:
        """A URL that could still rewrite the object lives until ``urls_expire_at``:
        promotion waits until it has expired (and the clock-skew grace)."""
        if session.urls_expire_at is None:
            return None
        return session.urls_expire_at + self._maintenance.cleanup_grace

    def _hand_off(self, job_id: str) -> None:
        """Give the committed job to the dispatch hook, then run it here if inline."""
        job = self._jobs.get(job_id)
        if job is not None:
            try:
                self._pm.hook.rindle_dispatch_job(job=job)
            except Exception as exc:
                log_event(
                    _log,
                    logging.WARNING,
                    "rindle.dispatch.failed",
                    job_id=job_id,
                    error=type(exc).__name__,
                )
        if self._inline:
            self._jobs.run_job(job_id)
