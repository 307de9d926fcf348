"""The :class:`Broker`: rindle's public API for upload sessions.

Each method follows one pattern: validate (pure, in :mod:`._decisions`),
talk to storage with no transaction open, then commit one short transaction
of compare-and-set writes, then emit telemetry and run hooks. Nothing
half-done survives a failure in between: remote state created before a
failed commit is compensated, and remote cleanup after a commit is recorded
as pending until it succeeds.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

import attrs
import pluggy
import structlog
from sqlalchemy import Connection, insert, select

from . import _decisions as decide
from ._downloads import Disposition, content_disposition, is_active_type
from ._errors import (
    AssetNotAvailable,
    AssetNotFound,
    ConfigurationError,
    InvalidArgument,
    InvalidTransition,
    SessionExpired,
    SessionNotFound,
    StorageConflict,
    StorageError,
    StorageNotFound,
    StorageObjectMissing,
    UnknownProfile,
    UploadUnsupported,
)
from ._maintenance import Maintenance
from ._promotion import Promoter
from ._telemetry import (
    Event,
    Telemetry,
    asset_event,
    session_event,
    upload_start_event,
    upload_stop_event,
)
from .db import Database, assets_table, sessions_table
from .db._repo import (
    cas_asset,
    cas_session,
    load_asset,
    load_parts,
    load_session,
    record_url_expiry,
    replace_parts,
    session_from_row,
    update_session_fields,
    upsert_parts,
)
from .jobs import JobOutcome, JobRunner, enqueue
from .models import (
    Asset,
    MaintenanceReport,
    MultipartInfo,
    MultipartResult,
    MultipartStatusResult,
    ResumableInfo,
    ResumableResult,
    ResumableStatusResult,
    SignBatchResult,
    SignResult,
    UploadSession,
    UploadStrategy,
    VerifyResult,
)
from .plugins import get_plugin_manager
from .profiles import Profile
from .states import SESSION_TRANSITIONS, AssetState, SessionState, is_terminal
from .storage import (
    Capability,
    HeadResult,
    PresignedRequest,
    StorageAdapter,
    UploadedPart,
    choose_part_size,
    utcnow,
)

__all__ = ["Broker", "JobMode"]

JobMode = Literal["inline", "worker"]

_sessions = sessions_table
_assets = assets_table
_log = structlog.get_logger("rindle")

#: Session states from which a client may still upload and verify.
_VERIFIABLE = frozenset(
    {SessionState.SIGNED, SessionState.RESUMING, SessionState.UPLOADING, SessionState.UPLOADED}
)


class Broker:
    """Hands out upload sessions and keeps their lifecycle in the database.

    ``storages`` maps a storage name (what :attr:`Profile.storage` refers
    to) to its adapter. With ``job_mode="inline"`` the promotion job runs in
    the calling process right after the commit that enqueued it (the
    embedded default); with ``"worker"`` it waits for ``rindle worker`` or a
    queue that ``rindle_dispatch_job`` hands it to.
    """

    def __init__(
        self,
        database: Database,
        *,
        profiles: Iterable[Profile],
        storages: Mapping[str, StorageAdapter],
        plugin_manager: pluggy.PluginManager | None = None,
        job_mode: JobMode = "worker",
        job_max_attempts: int = 10,
        job_lease: float = 300.0,
        cleanup_grace: float = Maintenance.DEFAULT_CLEANUP_GRACE,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._database = database
        registered: dict[str, Profile] = {}
        for profile in profiles:
            if profile.name in registered:
                raise ConfigurationError(f"profile {profile.name!r} is defined twice")
            if profile.storage not in storages:
                raise ConfigurationError(
                    f"profile {profile.name!r} uses storage {profile.storage!r}, "
                    "which is not configured"
                )
            registered[profile.name] = profile
        if job_mode not in ("inline", "worker"):
            raise ConfigurationError(f"job_mode must be 'inline' or 'worker', not {job_mode!r}")
        self._profiles: Mapping[str, Profile] = MappingProxyType(registered)
        self._storages: Mapping[str, StorageAdapter] = MappingProxyType(dict(storages))
        self._job_mode: JobMode = job_mode
        self._closed = False
        self._job_max_attempts = job_max_attempts
        self._pm = plugin_manager or get_plugin_manager()
        self._clock = clock
        self._telemetry = Telemetry(self._pm)
        self._maintenance = Maintenance(
            database,
            storage_for=self._storage_of,
            telemetry=self._telemetry,
            clock=clock,
            cleanup_grace=cleanup_grace,
        )
        promoter = Promoter(
            database,
            profiles=self.profiles,
            storage_for=self._storage_of,
            pm=self._pm,
            telemetry=self._telemetry,
        )
        self._jobs = JobRunner(database, {"promote": promoter}, clock=clock, lease=job_lease)

    # -- the broker as a resource ---------------------------------------------------

    @property
    def database(self) -> Database:
        """The database the broker keeps its rows in."""
        return self._database

    @property
    def profiles(self) -> Mapping[str, Profile]:
        """The registered profiles by name (read-only)."""
        return self._profiles

    @property
    def storages(self) -> Mapping[str, StorageAdapter]:
        """The configured storage adapters by name (read-only)."""
        return self._storages

    @property
    def job_mode(self) -> JobMode:
        """``"inline"`` or ``"worker"``."""
        return self._job_mode

    @property
    def jobs(self) -> JobRunner:
        """The job runner (claims, runs and records outbox jobs)."""
        return self._jobs

    @property
    def maintenance(self) -> Maintenance:
        """Expiry and remote cleanup."""
        return self._maintenance

    def close(self) -> None:
        """Close the storage adapters' HTTP sessions and the database pool rindle
        created (an engine the host passed in is the host's to dispose). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for name, storage in self._storages.items():
            close = getattr(storage, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # one adapter must not keep the others open
                    _log.warning(
                        "rindle.storage.close_failed", storage=name, error=type(exc).__name__
                    )
        self._database.close()

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Broker({self.database!r}, profiles={sorted(self.profiles)!r}, "
            f"storages={sorted(self.storages)!r}, job_mode={self.job_mode!r})"
        )

    # =========================================================================
    # Single PUT
    # =========================================================================

    def initiate_session(
        self,
        profile: str | Profile,
        *,
        filename: str,
        content_type: str,
        size: int | None = None,
        expires_in: int | None = None,
    ) -> UploadSession:
        """Create a staged asset and an ``initialized`` session in one transaction.

        The storage key is generated, never taken from *filename*. Refuses
        what the profile forbids with :class:`PolicyViolation`.
        """
        prof, storage = self._resolve(profile)
        self._require(storage, Capability.PRESIGNED_PUT, prof)
        plan = self._plan(
            prof, filename=filename, content_type=content_type, size=size, expires_in=expires_in
        )
        return self._insert(prof, plan, strategy="presigned_put")

    def sign_url(self, session_id: str, *, expires_in: int | None = None) -> SignResult:
        """Sign the PUT for a session: ``initialized → signed`` (re-signing is allowed).

        The signature binds Content-Type, and Content-Length when the size
        was declared; the URL never outlives the session.
        """
        session = self._live_session(session_id, "presigned_put")
        prof, storage = self._resolve(session.profile)
        self._require(storage, Capability.PRESIGNED_PUT, prof)
        now = self._clock()
        presigned = storage.presign_put(
            session.upload_key,
            content_type=session.content_type,
            content_length=session.declared_size,
            expires_in=decide.signing_ttl(prof, now, session.expires_at, expires_in),
        )
        return SignResult(self._mark_signed(session), presigned)

    # =========================================================================
    # Verification
    # =========================================================================

    def verify_completion(self, session_id: str) -> VerifyResult:
        """Check the object is stored, complete the session, enqueue promotion.

        ``session → uploaded → verifying → completed`` and ``asset staged →
        validating`` (with the stored size, the served type and the object's
        fingerprint, :attr:`Asset.stored_version`) commit together with the
        promotion job, which promotion then binds its reads to. A missing
        object raises :class:`StorageObjectMissing` and changes nothing.
        Calling it again on a completed session returns the same result and
        enqueues nothing; under concurrent calls exactly one completes.
        """
        session = self._get_session(session_id)
        if session.state is SessionState.COMPLETED:
            return VerifyResult(session, self.get_asset(session.asset_id))
        self._check_verifiable(session)
        _, storage = self._resolve(session.profile)
        self._require(storage, Capability.HEAD, None)
        try:
            head = storage.head(session.upload_key)
        except StorageNotFound:
            raise StorageObjectMissing(session.upload_key) from None

        events: list[Event] = []
        with self.database.transaction() as conn:
            outcome = self._commit_completion(conn, session, head, events)
        if outcome is None:
            # Another caller moved the session first: converge on its outcome.
            current = self._get_session(session_id)
            if current.state is SessionState.COMPLETED:
                return VerifyResult(current, self.get_asset(current.asset_id))
            raise InvalidTransition(current.state.value, SessionState.VERIFYING.value)
        result, job_id = outcome
        self._telemetry.emit(events)
        if job_id is not None:
            self._after_enqueue(job_id)
            if self.job_mode == "inline":
                return VerifyResult(result.session, self.get_asset(result.asset.id))
        return result

    def _commit_completion(
        self, conn: Connection, session: UploadSession, head: HeadResult, events: list[Event]
    ) -> tuple[VerifyResult, str | None] | None:
        """In one transaction: session → verifying → completed, asset → validating,
        and the promotion job. None when another caller moved the session first."""
        now = self._clock()
        current = session.state
        for step in decide.verification_path(current):
            if not cas_session(conn, session.id, current, step, now):
                if current is session.state:
                    return None  # another caller moved the session first
                # After the first step the row is ours; anything else rolls back.
                raise InvalidTransition(current.value, step.value)
            events.append(session_event(self._reload(conn, session.id), current.value, step.value))
            current = step
        verifying = self._reload(conn, session.id)
        cas_session(
            conn,
            session.id,
            SessionState.VERIFYING,
            SessionState.COMPLETED,
            now,
            verified_at=now,
            committed_bytes=head.size,
            session_uri=None,  # a bearer secret no longer needed
        )
        completed = self._reload(conn, session.id)
        events.append(session_event(completed, "verifying", "completed"))
        job_id: str | None = None
        run_at = None
        if verifying.urls_expire_at is not None:
            # A URL that could still rewrite the object lives until then:
            # promotion waits until it has expired (and the clock-skew grace).
            run_at = verifying.urls_expire_at + self.maintenance.cleanup_grace
        if cas_asset(
            conn,
            session.asset_id,
            AssetState.STAGED,
            AssetState.VALIDATING,
            now,
            byte_size=head.size,
            content_type=head.content_type or session.content_type,
            stored_version=head.version,
            served_content_type=head.content_type,
        ):
            validating = self._reload_asset(conn, session.asset_id)
            events.append(asset_event(validating, "staged", "validating"))
            job_id = enqueue(
                conn,
                kind="promote",
                payload={"asset_id": validating.id},
                dedupe_key=f"promote:{validating.id}",
                now=now,
                max_attempts=self._job_max_attempts,
                run_at=run_at,
            )
        asset = self._reload_asset(conn, session.asset_id)
        events.append(upload_stop_event(completed, asset))
        return VerifyResult(completed, asset), job_id

    # =========================================================================
    # Multipart (S3 multipart, Azure blocks)
    # =========================================================================

    def initiate_multipart_session(
        self,
        profile: str | Profile,
        *,
        filename: str,
        content_type: str,
        size: int | None = None,
        part_size: int | None = None,
        expires_in: int | None = None,
    ) -> MultipartResult:
        """Create the remote multipart upload, then the session (strategy ``multipart``).

        If the database write fails, the remote upload is aborted. The part
        size respects the backend's limits for the declared size.
        """
        prof, storage = self._resolve(profile)
        self._require(storage, Capability.MULTIPART_UPLOAD, prof)
        limits = storage.part_limits
        if part_size is not None and (
            isinstance(part_size, bool) or not isinstance(part_size, int) or part_size < 1
        ):
            raise InvalidArgument("part_size must be a positive integer")
        if size is not None and isinstance(size, int) and size > limits.max_object_size:
            raise InvalidArgument(
                f"size {size} exceeds the backend's maximum object size {limits.max_object_size}"
            )
        chosen = choose_part_size(size, part_size or prof.part_size, limits)
        plan = self._plan(
            prof, filename=filename, content_type=content_type, size=size, expires_in=expires_in
        )
        init = storage.create_multipart(plan.key, content_type=plan.content_type)
        try:
            session = self._insert(
                prof,
                plan,
                strategy="multipart",
                multipart_upload_id=init.upload_id,
                part_size=chosen,
            )
        except BaseException:
            self._compensate(lambda: storage.abort_multipart(plan.key, init.upload_id))
            raise
        count = decide.part_count(size, chosen) if size is not None else None
        info = MultipartInfo(init.upload_id, plan.key, chosen, init.part_headers, count)
        return MultipartResult(session, info)

    def sign_multipart_part(
        self, session_id: str, part_number: int, *, expires_in: int | None = None
    ) -> SignResult:
        """Presign one part upload; the first signature moves ``initialized → signed``."""
        result = self.sign_multipart_parts(session_id, [part_number], expires_in=expires_in)
        return SignResult(result.session, result.parts[0])

    def sign_multipart_parts(
        self, session_id: str, part_numbers: Sequence[int], *, expires_in: int | None = None
    ) -> SignBatchResult:
        """Presign many parts in one call, so clients sign ahead without a round trip each."""
        session = self._live_session(session_id, "multipart")
        prof, storage = self._resolve(session.profile)
        self._require(storage, Capability.MULTIPART_UPLOAD, prof)
        if isinstance(part_numbers, str | bytes) or not isinstance(part_numbers, Sequence):
            raise InvalidArgument("part_numbers must be a list of integers")
        if not part_numbers or len(part_numbers) > 1000:
            raise InvalidArgument("sign between 1 and 1000 parts per call")
        limits = storage.part_limits
        numbers = [decide.check_part_number(n, limits) for n in part_numbers]
        upload_id, part_size = _multipart_of(session)
        now = self._clock()
        ttl = decide.signing_ttl(prof, now, session.expires_at, expires_in)
        signed: list[PresignedRequest] = []
        for number in numbers:
            length = decide.part_length(session.declared_size, part_size, number)
            signed.append(
                storage.presign_part(
                    session.upload_key, upload_id, number, expires_in=ttl, content_length=length
                )
            )
        urls_expire = now + dt.timedelta(seconds=ttl)
        current = self._mark_signed(
            session, urls_expire=urls_expire if limits.part_urls_outlive_completion else None
        )
        return SignBatchResult(current, tuple(signed))

    def multipart_status(self, session_id: str) -> MultipartStatusResult:
        """The parts the backend holds (recorded in the part ledger) and those missing."""
        session = self._get_session(session_id, "multipart")
        _, storage = self._resolve(session.profile)
        upload_id, _ = _multipart_of(session)
        if is_terminal(session.state):  # the remote upload is gone: the ledger remembers
            with self.database.read() as conn:
                parts = load_parts(conn, session.id)
        else:
            parts = storage.list_parts(session.upload_key, upload_id)
            committed = sum(p.size or 0 for p in parts)
            events: list[Event] = []
            with self.database.transaction() as conn:
                upsert_parts(conn, session.id, parts)
                session = self._record_progress(conn, session, committed, events)
            self._telemetry.emit(events)
        missing = decide.missing_parts(
            session.declared_size, session.part_size or 1, (p.part_number for p in parts)
        )
        return MultipartStatusResult(
            session, tuple(parts), missing, sum(p.size or 0 for p in parts)
        )

    def complete_multipart_upload(
        self, session_id: str, parts: Sequence[UploadedPart | Mapping[str, object]] | None = None
    ) -> VerifyResult:
        """Complete the remote upload, then converge into :meth:`verify_completion`.

        ``parts=None`` rebuilds the list from the backend (clients that lost
        their ETags). Retrying after a timeout, or after a crash between the
        remote completion and the database write, returns the same result.
        """
        session = self._get_session(session_id, "multipart")
        if session.state is SessionState.COMPLETED:
            return VerifyResult(session, self.get_asset(session.asset_id))
        self._check_verifiable(session)
        prof, storage = self._resolve(session.profile)
        self._require(storage, Capability.MULTIPART_UPLOAD, prof)
        upload_id, part_size = _multipart_of(session)
        limits = storage.part_limits
        if parts is None:
            try:
                listed = storage.list_parts(session.upload_key, upload_id)
            except StorageNotFound:
                listed = []
            if not listed and Capability.COMMITTED_PARTS in storage.capabilities:
                # Blocks a client committed itself (or a commit whose answer was
                # lost): take them through the same checks as a client's list.
                try:
                    listed = storage.committed_parts(session.upload_key, upload_id=upload_id)
                except StorageNotFound:
                    listed = []
            if not listed:
                return self._converge_completed(session, storage)
            parts = listed
        checked = decide.normalise_parts(parts, limits)
        decide.check_part_geometry(checked, session.declared_size, part_size)
        try:
            storage.complete_multipart(
                session.upload_key, upload_id, checked, content_type=session.content_type
            )
        except StorageNotFound:
            return self._converge_completed(session, storage, checked)
        except StorageConflict:
            # The key holds an object this upload did not complete: it can never
            # complete. The session fails; cleanup aborts the upload and removes
            # the foreign object from the asset's key.
            self._fail(
                session, "storage_conflict: the key holds an object this upload did not make"
            )
            raise
        # Storage accepted the list: only now does the ledger record it.
        self._record_parts(session, checked)
        return self.verify_completion(session_id)

    def _fail(self, session: UploadSession, reason: str) -> None:
        """``→ failed`` (asset abandoned, remote cleanup pending), then clean up."""
        if SessionState.FAILED not in SESSION_TRANSITIONS[session.state]:
            return
        moved = self.maintenance.settle(session, SessionState.FAILED, reason=reason)
        if moved is not None:
            self.maintenance.cleanup_remote(moved)

    def _record_parts(self, session: UploadSession, parts: Sequence[UploadedPart]) -> None:
        """Make the part ledger exactly the completed list (sizes filled from the
        declared geometry); parts a status poll saw but the list left out go."""
        part_size = session.part_size or 1
        sized = [
            p
            if p.size is not None
            else attrs.evolve(
                p, size=decide.part_length(session.declared_size, part_size, p.part_number)
            )
            for p in parts
        ]
        with self.database.transaction() as conn:
            replace_parts(conn, session.id, sized)

    def _converge_completed(
        self,
        session: UploadSession,
        storage: StorageAdapter,
        parts: Sequence[UploadedPart] = (),
    ) -> VerifyResult:
        """The remote upload is gone: if the object exists it was completed before."""
        try:
            storage.head(session.upload_key)
        except StorageNotFound:
            raise StorageObjectMissing(session.upload_key) from None
        if parts:
            self._record_parts(session, parts)
        return self.verify_completion(session.id)

    # =========================================================================
    # Resumable sessions (GCS)
    # =========================================================================

    def initiate_resumable_session(
        self,
        profile: str | Profile,
        *,
        filename: str,
        content_type: str,
        size: int | None = None,
        origin: str | None = None,
        expires_in: int | None = None,
    ) -> ResumableResult:
        """Create the remote resumable session, then the session row (``signed``).

        The backend enforces the declared size; *origin* is the browser's
        Origin (for CORS). If the database write fails, the remote session is
        cancelled. The returned ``session_uri`` is a bearer secret.
        """
        prof, storage = self._resolve(profile)
        self._require(storage, Capability.RESUMABLE_UPLOAD, prof)
        if origin is not None and (
            not isinstance(origin, str) or "\n" in origin or len(origin) > 255
        ):
            raise InvalidArgument("origin must be a single-line URL origin")
        plan = self._plan(
            prof, filename=filename, content_type=content_type, size=size, expires_in=expires_in
        )
        init = storage.create_resumable(
            plan.key, content_type=plan.content_type, size=size, origin=origin
        )
        try:
            session = self._insert(
                prof,
                plan,
                strategy="resumable",
                multipart_upload_id=init.upload_id,
                session_uri=init.session_uri,
                session_uri_expires_at=init.expires_at,
                expires_at=min(plan.expires_at, init.expires_at),
                signed=True,
            )
        except BaseException:
            self._compensate(lambda: storage.cancel_resumable(plan.key, init.session_uri))
            raise
        info = ResumableInfo(init.session_uri, init.upload_id, session.expires_at)
        return ResumableResult(session, info)

    def resumable_session_status(self, session_id: str) -> ResumableStatusResult:
        """Ask the backend how many bytes it holds; record it, keep the state.

        Works for resumable sessions, and for multipart sessions on backends
        that report progress (``RESUMABLE_STATUS``, e.g. Azure blocks).
        """
        session = self._get_session(session_id)
        prof, storage = self._resolve(session.profile)
        self._require(storage, Capability.RESUMABLE_STATUS, prof)
        if session.upload_strategy not in ("resumable", "multipart"):
            raise UploadUnsupported(Capability.RESUMABLE_STATUS, storage=session.storage)
        if is_terminal(session.state) or (
            session.upload_strategy == "resumable" and not session.session_uri
        ):
            # Nothing remote to ask: report the offset last seen, kept for operators.
            done = session.state is SessionState.COMPLETED
            return ResumableStatusResult(
                session, session.committed_bytes, "complete" if done else "expired"
            )
        state: Literal["in_progress", "complete", "expired"]
        if session.upload_strategy == "resumable" and session.session_uri:
            status = storage.resumable_status(session.upload_key, session.session_uri)
            committed, state = status.committed_bytes, status.state
        else:
            upload_id, _ = _multipart_of(session)
            parts = storage.list_parts(session.upload_key, upload_id)
            committed, state = sum(p.size or 0 for p in parts), "in_progress"
        if state == "expired":
            # An expired remote session reports nothing useful: keep the last offset.
            return ResumableStatusResult(session, session.committed_bytes, state)
        events: list[Event] = []
        with self.database.transaction() as conn:
            current = self._record_progress(conn, session, committed, events)
        self._telemetry.emit(events)
        return ResumableStatusResult(current, committed, state)

    def _record_progress(
        self, conn: Connection, session: UploadSession, committed: int, events: list[Event]
    ) -> UploadSession:
        """Record the bytes storage holds; a session with bytes is uploading (or resuming)."""
        now = self._clock()
        update_session_fields(conn, session.id, now, committed_bytes=committed)
        target = decide.progress_state(
            session.state, session.upload_strategy, committed, session.committed_bytes
        )
        if target is not None and cas_session(conn, session.id, session.state, target, now):
            moved = self._reload(conn, session.id)
            events.append(session_event(moved, session.state.value, target.value))
            return moved
        return self._reload(conn, session.id)

    def cancel_resumable_session(self, session_id: str) -> UploadSession:
        """Cancel a resumable session: ``→ aborted``, then the remote session is cancelled.

        Cancelling an already aborted or expired session returns it unchanged.
        """
        session = self._get_session(session_id, "resumable")
        _, storage = self._resolve(session.profile)
        self._require(storage, Capability.RESUMABLE_UPLOAD, None)
        if session.state in (SessionState.ABORTED, SessionState.EXPIRED):
            return session  # already cancelled, or expired by maintenance
        return self.abort_session(session_id)

    # =========================================================================
    # Abort, reads, maintenance, jobs
    # =========================================================================

    def abort_session(self, session_id: str) -> UploadSession:
        """Abort any non-terminal session and clean up its remote state.

        Idempotent on an aborted session. URLs already issued stay valid
        until the session's ``expires_at`` (no backend can revoke them), so
        the cleanup runs now and again at ``expires_at + cleanup_grace``,
        through :meth:`expire_sessions`; a cleanup that fails never raises
        here and is retried with backoff.
        """
        session = self._get_session(session_id)
        if session.state is SessionState.ABORTED:
            return session
        moved = self.maintenance.settle(session, SessionState.ABORTED, reason="aborted")
        if moved is None:
            current = self._get_session(session_id)
            if current.state is SessionState.ABORTED:
                return current
            raise InvalidTransition(current.state.value, SessionState.ABORTED.value)
        self.maintenance.cleanup_remote(moved)
        return self._get_session(session_id)

    def expire_sessions(
        self, *, now: dt.datetime | None = None, batch_size: int = 100, dry_run: bool = False
    ) -> MaintenanceReport:
        """One maintenance pass: expire sessions past ``expires_at``, then run due cleanups.

        To drain a backlog, repeat while ``report.progressed`` and add the
        reports (``a + b``), as ``rindle expire`` does.
        """
        return self.maintenance.expire(now=now, batch_size=batch_size, dry_run=dry_run)

    def run_jobs(self, limit: int = 100) -> list[JobOutcome]:
        """Run due jobs in this process (what ``rindle worker --once`` does)."""
        return self.jobs.run_due(limit)

    def get_session(self, session_id: str) -> UploadSession:
        """The session's current snapshot."""
        return self._get_session(session_id)

    def get_asset(self, asset_id: str) -> Asset:
        """The asset's current snapshot."""
        decide.check_id(asset_id, "asset id")
        with self.database.read() as conn:
            asset = load_asset(conn, asset_id)
        if asset is None:
            raise AssetNotFound(asset_id)
        return asset

    def list_sessions(
        self,
        *,
        state: SessionState | str | None = None,
        profile: str | None = None,
        limit: int = 100,
    ) -> list[UploadSession]:
        """Sessions, newest first, optionally filtered."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgument("limit must be an integer in 1..10000")
        query = select(_sessions).order_by(_sessions.c.created_at.desc()).limit(limit)
        if state is not None:
            try:
                query = query.where(_sessions.c.state == SessionState(state).value)
            except ValueError:
                raise InvalidArgument(f"unknown session state {state!r}") from None
        if profile is not None:
            query = query.where(_sessions.c.profile == profile)
        with self.database.read() as conn:
            return [session_from_row(r) for r in conn.execute(query)]

    def download_url(
        self,
        asset_id: str,
        *,
        expires_in: int | None = None,
        disposition: Disposition | None = None,
    ) -> PresignedRequest:
        """Sign a GET for an ``available`` asset, served as what was verified.

        The URL serves the verified type and a Content-Disposition carrying the
        original file name: ``attachment`` for types a browser would execute
        (HTML, SVG, XML, script) whatever *disposition* asks, else
        *disposition* (default ``inline``). It is bound to the verified
        fingerprint where the backend allows; where the backend lets the URL
        set response headers, nothing the client chose at upload is served.
        Any other state raises :class:`AssetNotAvailable`.
        """
        asset = self.get_asset(asset_id)
        if asset.state is not AssetState.AVAILABLE:
            raise AssetNotAvailable(asset.id, asset.state.value)
        if disposition not in (None, "inline", "attachment"):
            raise InvalidArgument("disposition must be 'inline' or 'attachment'")
        prof, storage = self._resolve(asset.profile)
        self._require(storage, Capability.SIGNED_GET, prof)
        ttl = decide.lifetime(prof.url_ttl if expires_in is None else expires_in)
        served = asset.content_type or asset.declared_content_type or "application/octet-stream"
        chosen: Disposition = disposition or "inline"
        if is_active_type(served):
            chosen = "attachment"
        return storage.presign_get(
            asset.storage_key,
            expires_in=ttl,
            version=asset.stored_version,
            content_type=served,
            content_disposition=content_disposition(asset.filename, chosen),
        )

    def storage_for(self, profile: str | Profile) -> StorageAdapter:
        """The adapter a profile's uploads go to."""
        return self._resolve(profile)[1]

    # =========================================================================
    # Internals
    # =========================================================================

    def _resolve(self, profile: str | Profile) -> tuple[Profile, StorageAdapter]:
        """The registered profile named *profile*, and its storage.

        Profiles are referred to by name. A :class:`Profile` object is still
        accepted (deprecated) when it is the registered one; one that differs
        is refused instead of being silently replaced by the registered one.
        """
        if isinstance(profile, Profile):
            warnings.warn(
                "pass the profile's name, not a Profile object",
                DeprecationWarning,
                stacklevel=3,
            )
            registered = self._profiles.get(profile.name)
            if registered is not None and registered != profile:
                raise InvalidArgument(
                    f"profile {profile.name!r} differs from the registered profile of that "
                    "name: register it with the broker and pass its name"
                )
            name: object = profile.name
        else:
            name = profile
        if not isinstance(name, str) or name not in self._profiles:
            raise UnknownProfile(str(name)[:80])
        prof = self._profiles[name]
        return prof, self._storages[prof.storage]

    def _storage_of(self, profile_name: str) -> StorageAdapter:
        return self._resolve(profile_name)[1]

    @staticmethod
    def _require(storage: StorageAdapter, capability: Capability, profile: Profile | None) -> None:
        if capability not in storage.capabilities:
            raise UploadUnsupported(capability, storage=profile.storage if profile else "")

    def _get_session(
        self, session_id: str, strategy: UploadStrategy | None = None
    ) -> UploadSession:
        decide.check_id(session_id)
        with self.database.read() as conn:
            session = load_session(conn, session_id)
        if session is None:
            raise SessionNotFound(session_id)
        if strategy is not None and session.upload_strategy != strategy:
            raise InvalidArgument(
                f"session {session_id} uses the {session.upload_strategy} strategy, not {strategy}"
            )
        return session

    def _live_session(self, session_id: str, strategy: UploadStrategy) -> UploadSession:
        """A session that may still be signed: not terminal, not past its deadline."""
        session = self._get_session(session_id, strategy)
        if is_terminal(session.state) or session.state not in (
            SessionState.INITIALIZED,
            SessionState.SIGNED,
            SessionState.UPLOADING,
        ):
            raise InvalidTransition(session.state.value, SessionState.SIGNED.value)
        if session.is_expired(self._clock()):
            raise SessionExpired(session.id)
        return session

    def _check_verifiable(self, session: UploadSession) -> None:
        if session.state not in _VERIFIABLE:
            raise InvalidTransition(session.state.value, SessionState.VERIFYING.value)
        if session.is_expired(self._clock()):
            raise SessionExpired(session.id)

    def _mark_signed(
        self, session: UploadSession, *, urls_expire: dt.datetime | None = None
    ) -> UploadSession:
        """``initialized → signed`` on the first signature, in one transaction with
        the record of when the last URL that could change the completed object
        expires (*urls_expire*). That record is guarded by the live states: once
        verification moved the session on, nothing is recorded and the URLs are
        not handed out (promotion was already scheduled after the expiries it saw).
        """
        if session.state is not SessionState.INITIALIZED and urls_expire is None:
            return session
        now = self._clock()
        events: list[Event] = []
        with self.database.transaction() as conn:
            moved = session.state is SessionState.INITIALIZED and cas_session(
                conn, session.id, SessionState.INITIALIZED, SessionState.SIGNED, now
            )
            if urls_expire is not None and not record_url_expiry(
                conn, session.id, urls_expire, now
            ):
                current = self._reload(conn, session.id)
                raise InvalidTransition(current.state.value, SessionState.SIGNED.value)
            signed = self._reload(conn, session.id)
            if moved:
                events.append(session_event(signed, "initialized", "signed"))
            elif signed.state is SessionState.INITIALIZED or is_terminal(signed.state):
                raise InvalidTransition(signed.state.value, SessionState.SIGNED.value)
        self._telemetry.emit(events)
        return signed

    def _plan(
        self,
        profile: Profile,
        *,
        filename: str,
        content_type: str,
        size: int | None,
        expires_in: int | None,
    ) -> _Plan:
        mime = decide.normalise_content_type(content_type)
        clean = decide.sanitize_filename(filename)
        decide.check_declared_upload(profile, filename=clean, content_type=mime, size=size)
        now = self._clock()
        asset_id = decide.new_id()
        return _Plan(
            asset_id=asset_id,
            session_id=decide.new_id(),
            key=decide.storage_key(profile, asset_id, clean),
            filename=clean,
            content_type=mime,
            size=size,
            now=now,
            expires_at=decide.session_deadline(profile, now, expires_in),
        )

    def _insert(
        self,
        profile: Profile,
        plan: _Plan,
        *,
        strategy: UploadStrategy,
        signed: bool = False,
        expires_at: dt.datetime | None = None,
        **columns: Any,
    ) -> UploadSession:
        events: list[Event] = []
        with self.database.transaction() as conn:
            conn.execute(
                insert(_assets).values(
                    id=plan.asset_id,
                    profile=profile.name,
                    state=AssetState.STAGED.value,
                    storage=profile.storage,
                    storage_key=plan.key,
                    filename=plan.filename,
                    declared_content_type=plan.content_type,
                    metadata={"declared_size": plan.size} if plan.size is not None else {},
                    created_at=plan.now,
                    updated_at=plan.now,
                )
            )
            conn.execute(
                insert(_sessions).values(
                    id=plan.session_id,
                    asset_id=plan.asset_id,
                    profile=profile.name,
                    storage=profile.storage,
                    state=SessionState.INITIALIZED.value,
                    upload_key=plan.key,
                    upload_strategy=strategy,
                    content_type=plan.content_type,
                    declared_size=plan.size,
                    expires_at=expires_at or plan.expires_at,
                    committed_bytes=0,
                    created_at=plan.now,
                    updated_at=plan.now,
                    **columns,
                )
            )
            session = self._reload(conn, plan.session_id)
            events.append(upload_start_event(session))
            if signed:
                cas_session(
                    conn, session.id, SessionState.INITIALIZED, SessionState.SIGNED, plan.now
                )
                session = self._reload(conn, plan.session_id)
                events.append(session_event(session, "initialized", "signed"))
        self._telemetry.emit(events)
        return session

    @staticmethod
    def _reload(conn: Connection, session_id: str) -> UploadSession:
        session = load_session(conn, session_id)
        if session is None:
            raise SessionNotFound(session_id)
        return session

    @staticmethod
    def _reload_asset(conn: Connection, asset_id: str) -> Asset:
        asset = load_asset(conn, asset_id)
        if asset is None:
            raise AssetNotFound(asset_id)
        return asset

    def _compensate(self, undo: Callable[[], None]) -> None:
        try:
            undo()
        except StorageError as exc:
            _log.warning("rindle.compensation.failed", error=type(exc).__name__)

    def _after_enqueue(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            try:
                self._pm.hook.rindle_dispatch_job(job=job)
            except Exception as exc:
                _log.warning("rindle.dispatch.failed", job_id=job_id, error=type(exc).__name__)
        if self.job_mode == "inline":
            self.jobs.run_job(job_id)


@attrs.frozen(kw_only=True)
class _Plan:
    """Everything decided about a new session before any I/O."""

    asset_id: str
    session_id: str
    key: str
    filename: str
    content_type: str
    size: int | None
    now: dt.datetime
    expires_at: dt.datetime


def _multipart_of(session: UploadSession) -> tuple[str, int]:
    """The remote upload id and part size a multipart session row must carry."""
    if session.multipart_upload_id is None or session.part_size is None:
        raise InvalidArgument(f"session {session.id} has no multipart upload")
    return session.multipart_upload_id, session.part_size
