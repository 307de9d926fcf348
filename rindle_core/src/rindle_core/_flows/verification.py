"""Verification: the step every strategy ends with.

Storage holds the object, so atomically the session moves on to
``completed``, the asset to ``validating`` (with what storage reports) and
the promotion job is enqueued: one statement on PostgreSQL, one transaction
elsewhere. After the commit the job is handed off.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

import attrs
import pluggy

from .. import _decisions as decide
from .._errors import InvalidTransition, StorageNotFound, StorageObjectMissing
from .._maintenance import Maintenance
from .._session_store import SessionStore
from .._telemetry import (
    Event,
    Telemetry,
    asset_event,
    session_event,
    upload_stop_event,
)
from ..db import Database
from ..db._repo import cas_asset, complete_verified, load_job
from ..jobs import JobRunner, enqueue, new_job_row
from ..models import Job, UploadSession, VerifyResult
from ..relays._dispatch import dispatch_job
from ..states import AssetState, SessionState
from ..storage import Capability, HeadResult
from ._common import Resolve, check_verifiable, require

__all__ = ["Verification"]


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
        outcome = self._commit(session, head, events)
        if outcome is None:
            # Another caller moved the session first: converge on its outcome.
            current = self._store.get(session_id)
            if current.state is SessionState.COMPLETED:
                return VerifyResult(current, self._store.get_asset(current.asset_id))
            raise InvalidTransition(current.state.value, SessionState.VERIFYING.value)
        result, job = outcome
        if not self._db.in_atomic_block():
            self._telemetry.emit(events)
            if job is None:
                return result
            self._hand_off(job)
            if self._inline:
                return VerifyResult(result.session, self._store.get_asset(result.asset.id))
            return result
        # Inside Database.atomic(): all of it waits for the block's commit.
        self._db.after_commit(functools.partial(self._telemetry.emit, events))
        if job is not None:
            self._db.after_commit(functools.partial(self._hand_off, job))
        return result

    def _commit(
        self, session: UploadSession, head: HeadResult, events: list[Event]
    ) -> tuple[VerifyResult, Job | None] | None:
        """session → (uploaded →) verifying → completed, asset → validating, and
        the promotion job, atomically; None when another caller moved the
        session first.

        The session row is written once, by one compare-and-set over the
        whole path (each hop checked, each reported). On PostgreSQL the three
        writes are one statement; elsewhere one transaction.
        """
        now = self._clock()
        path = decide.verification_path(session.state)
        session_values: dict[str, object] = {
            "verified_at": now,
            "committed_bytes": head.size,
            "session_uri": None,  # a bearer secret no longer needed
        }
        asset_values: dict[str, object] = {
            "byte_size": head.size,
            "content_type": head.content_type or session.content_type,
            "stored_version": head.version,
            "served_content_type": head.content_type,
        }
        if self._db.dialect == "postgresql":
            with self._db.autocommit() as conn:
                verified = complete_verified(
                    conn,
                    session_id=session.id,
                    asset_id=session.asset_id,
                    expected=session.state,
                    via=path,
                    now=now,
                    session_values=session_values,
                    asset_values=asset_values,
                    job_values=self._job_row(session.asset_id, now),
                    job_delay=self._maintenance.cleanup_grace,
                )
            if verified is None:
                return None
            completed, validating, job = verified.session, verified.asset, verified.job
            asset = validating or self._store.get_asset(session.asset_id)
        else:
            with self._db.transaction() as conn:
                moved = self._store.cas(
                    conn,
                    session.id,
                    session.state,
                    SessionState.COMPLETED,
                    now,
                    via=path,
                    **session_values,
                )
                if moved is None:
                    return None
                completed = moved
                validating = cas_asset(
                    conn,
                    session.asset_id,
                    AssetState.STAGED,
                    AssetState.VALIDATING,
                    now,
                    **asset_values,
                )
                job = None
                if validating is not None:
                    job_id = enqueue(
                        conn,
                        kind="promote",
                        payload={"asset_id": validating.id},
                        dedupe_key=f"promote:{validating.id}",
                        now=now,
                        max_attempts=self._job_max_attempts,
                        run_at=self._promotion_due(completed),
                    )
                    job = load_job(conn, job_id) if job_id is not None else None
                asset = validating or self._store.load_asset(conn, session.asset_id)
        previous = session.state
        for step in (*path, SessionState.COMPLETED):
            snapshot = (
                completed
                if step is SessionState.COMPLETED
                else attrs.evolve(session, state=step, updated_at=now)
            )
            events.append(session_event(snapshot, previous.value, step.value))
            previous = step
        if validating is not None:
            events.append(asset_event(validating, "staged", "validating"))
        events.append(upload_stop_event(completed, asset))
        return VerifyResult(completed, asset), job

    def _job_row(self, asset_id: str, now: dt.datetime) -> dict[str, object]:
        """The promotion job's row, but for ``run_at`` (decided with the session's
        ``urls_expire_at`` in the statement that completes it)."""
        return new_job_row(
            kind="promote",
            payload={"asset_id": asset_id},
            dedupe_key=f"promote:{asset_id}",
            now=now,
            max_attempts=self._job_max_attempts,
        )

    def _promotion_due(self, session: UploadSession) -> dt.datetime | None:
        """A URL that could still rewrite the object lives until ``urls_expire_at``:
        promotion waits until it has expired (and the clock-skew grace)."""
        if session.urls_expire_at is None:
            return None
        return session.urls_expire_at + self._maintenance.cleanup_grace

    def _hand_off(self, job: Job) -> None:
        """Give the committed job (as it was written) to the dispatch hook, then
        run it here if inline."""
        dispatch_job(self._pm, job)  # each relay on its own: a failing one stops no other
        if self._inline:
            self._jobs.run_job(job.id)
