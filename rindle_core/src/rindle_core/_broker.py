"""The :class:`Broker`: rindle's public API for upload sessions, and their lifecycle.

A session is opened (the strategy checks the request, decides the session
and creates any remote state; then its rows are written, or that remote
state is undone), signed, verified into promotion, or aborted and expired
by maintenance. Each upload strategy has its module in ``_flows``, over the
shared session store (``_session_store``). Throughout, storage is never
called inside an open transaction, every state change is a compare-and-set,
and telemetry is emitted after the commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal, TypeVar

import pluggy

from . import _decisions as decide
from ._clock import utcnow
from ._downloads import Disposition, content_disposition, is_active_type
from ._errors import (
    AssetNotAvailable,
    ConfigurationError,
    InvalidArgument,
    InvalidTransition,
    RindleError,
    StorageObjectMissing,
    UnknownProfile,
)
from ._flows import Multipart, Opening, Resumable, SinglePut, Verification, abort, require
from ._flows.asset_lifecycle import AssetLifecycle, AssetSweepReport
from ._flows.post import Post
from ._flows.prune import Pruner, PruneReport
from ._maintenance import Maintenance
from ._operations import observed
from ._promotion import Promoter
from ._session_store import NewSession, SessionStore
from ._telemetry import Telemetry, log_event
from .db import Database
from .jobs import JobOutcome, JobRunner
from .models import (
    Asset,
    MaintenanceReport,
    MultipartResult,
    MultipartStatusResult,
    ResumableResult,
    ResumableStatusResult,
    SignBatchResult,
    SignPostResult,
    SignResult,
    UploadSession,
    VerifyResult,
)
from .plugins import get_plugin_manager
from .profiles import Profile
from .states import AssetState, SessionState
from .storage import Capability, PresignedRequest, StorageAdapter, UploadedPart

__all__ = ["Broker", "JobMode"]

JobMode = Literal["inline", "worker"]

R = TypeVar("R")

_log = logging.getLogger("rindle.broker")


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
        pm = plugin_manager or get_plugin_manager()
        telemetry = Telemetry(pm)
        self._telemetry = telemetry  # operations (``@observed``) report through it
        self._maintenance = Maintenance(
            database,
            storage_for=self._storage_of,
            telemetry=telemetry,
            clock=clock,
            cleanup_grace=cleanup_grace,
        )
        promoter = Promoter(
            database,
            profiles=self.profiles,
            storage_for=self._storage_of,
            pm=pm,
            telemetry=telemetry,
        )
        self._jobs = JobRunner(
            database, {"promote": promoter}, clock=clock, lease=job_lease, plugin_manager=pm
        )
        self._clock = clock
        self._store = SessionStore(database, telemetry=telemetry, clock=clock)
        self._verification = Verification(
            database,
            self._store,
            resolve=self._resolve,
            maintenance=self._maintenance,
            jobs=self._jobs,
            pm=pm,
            telemetry=telemetry,
            clock=clock,
            job_max_attempts=job_max_attempts,
            inline=job_mode == "inline",
        )
        self._single_put = SinglePut(self._store, resolve=self._resolve, clock=clock)
        self._post = Post(self._store, resolve=self._resolve, clock=clock)
        self._multipart = Multipart(
            self._store,
            resolve=self._resolve,
            clock=clock,
            maintenance=self._maintenance,
            verification=self._verification,
        )
        self._resumable = Resumable(
            self._store, resolve=self._resolve, clock=clock, maintenance=self._maintenance
        )

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
                    log_event(
                        _log,
                        logging.WARNING,
                        "rindle.storage.close_failed",
                        storage=name,
                        error=type(exc).__name__,
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

    # -- opening a session: one per strategy --------------------------------------

    @observed("profile")
    def initiate_session(
        self,
        profile: str | Profile,
        *,
        filename: str,
        content_type: str,
        size: int | None = None,
        expires_in: int | None = None,
        owner: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> UploadSession:
        """Create a staged asset and an ``initialized`` session in one transaction.

        The storage key is generated, never taken from *filename*. Refuses
        what the profile forbids with :class:`PolicyViolation`. *owner* (the
        host's id of whom the upload is for) and *metadata* (the caller's own
        JSON object) are stored on the session and its asset; a bad value
        raises :class:`InvalidArgument` and nothing is written.
        """
        prof, storage = self._resolve(profile)
        return self._open(
            self._single_put.open(
                prof,
                storage,
                filename=filename,
                content_type=content_type,
                size=size,
                expires_in=expires_in,
                owner=owner,
                metadata=metadata,
            )
        )

    @observed("profile")
    def initiate_multipart_session(
        self,
        profile: str | Profile,
        *,
        filename: str,
        content_type: str,
        size: int | None = None,
        part_size: int | None = None,
        expires_in: int | None = None,
        owner: str | None = None,
        metadata: Mapping[str, object] | None = None,
        checksum_algorithm: str | None = None,
    ) -> MultipartResult:
        """Create the remote multipart upload, then the session (strategy ``multipart``).

        If the database write fails, the remote upload is aborted. The part
        size respects the backend's limits for the declared size. *owner* and
        *metadata* are checked before the remote upload is created, as for
        :meth:`initiate_session`. With *checksum_algorithm* (``"crc32"``, where
        the storage's ``part_limits.checksum_algorithms`` has it) every part is
        signed with its checksum, and storage refuses a part whose bytes differ.
        """
        prof, storage = self._resolve(profile)
        return self._open(
            self._multipart.open(
                prof,
                storage,
                filename=filename,
                content_type=content_type,
                size=size,
                part_size=part_size,
                expires_in=expires_in,
                owner=owner,
                metadata=metadata,
                checksum_algorithm=checksum_algorithm,
            )
        )

    @observed("profile")
    def initiate_resumable_session(
        self,
        profile: str | Profile,
        *,
        filename: str,
        content_type: str,
        size: int | None = None,
        origin: str | None = None,
        expires_in: int | None = None,
        owner: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> ResumableResult:
        """Create the remote resumable session, then the session row (``signed``).

        The backend enforces the declared size; *origin* is the browser's
        Origin (for CORS). If the database write fails, the remote session is
        cancelled. The returned ``session_uri`` is a bearer secret. *owner*
        and *metadata* are checked before the remote session is created, as
        for :meth:`initiate_session`.
        """
        prof, storage = self._resolve(profile)
        return self._open(
            self._resumable.open(
                prof,
                storage,
                filename=filename,
                content_type=content_type,
                size=size,
                origin=origin,
                expires_in=expires_in,
                owner=owner,
                metadata=metadata,
            )
        )

    @observed("profile")
    def initiate_post_session(
        self,
        profile: str | Profile,
        *,
        filename: str,
        content_type: str,
        size: int | None = None,
        expires_in: int | None = None,
        owner: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> UploadSession:
        """Create a staged asset and an ``initialized`` session (strategy ``presigned_post``).

        For clients that upload with an HTML form POST (Uppy's single-file
        path): :meth:`sign_post` signs the form, :meth:`verify_completion`
        completes it. Checked like :meth:`initiate_session`; a declared size
        above the backend's largest POST raises :class:`InvalidArgument`.
        """
        prof, storage = self._resolve(profile)
        return self._open(
            self._post.open(
                prof,
                storage,
                filename=filename,
                content_type=content_type,
                size=size,
                expires_in=expires_in,
                owner=owner,
                metadata=metadata,
            )
        )

    # -- signing and progress -----------------------------------------------------

    @observed("session_id")
    def sign_post(self, session_id: str, *, expires_in: int | None = None) -> SignPostResult:
        """Sign the form POST for a session: ``initialized → signed`` (re-signing is allowed).

        The policy binds the key, the content type and a size range: the
        declared size exactly, else the profile's ``min_bytes..max_bytes``
        (at most the backend's largest POST). It never outlives the session.
        Where the backend's POST can replace an existing object (S3, GCS),
        promotion waits until the last policy expired.
        """
        return self._post.sign(session_id, expires_in=expires_in)

    @observed("session_id")
    def sign_url(self, session_id: str, *, expires_in: int | None = None) -> SignResult:
        """Sign the PUT for a session: ``initialized → signed`` (re-signing is allowed).

        The signature binds Content-Type, and Content-Length when the size
        was declared; the URL never outlives the session.
        """
        return self._single_put.sign(session_id, expires_in=expires_in)

    @observed("session_id")
    def sign_multipart_part(
        self,
        session_id: str,
        part_number: int,
        *,
        expires_in: int | None = None,
        checksum: str | None = None,
    ) -> SignResult:
        """Presign one part upload; the first signature moves ``initialized → signed``.

        A session opened with a ``checksum_algorithm`` needs the part's
        *checksum* (base64), which the URL then binds.
        """
        result = self.sign_multipart_parts(
            session_id,
            [part_number],
            expires_in=expires_in,
            checksums=None if checksum is None else [checksum],
        )
        return SignResult(result.session, result.parts[0])

    @observed("session_id")
    def sign_multipart_parts(
        self,
        session_id: str,
        part_numbers: Sequence[int],
        *,
        expires_in: int | None = None,
        checksums: Sequence[str] | None = None,
    ) -> SignBatchResult:
        """Presign many parts in one call, so clients sign ahead without a round trip each.

        *checksums* (one base64 value per part, in order) are required where
        the session binds part checksums, and refused where it does not.
        """
        return self._multipart.sign_parts(
            session_id, part_numbers, expires_in=expires_in, checksums=checksums
        )

    @observed("session_id")
    def multipart_status(self, session_id: str) -> MultipartStatusResult:
        """The parts the backend holds (recorded in the part ledger) and those missing."""
        return self._multipart.status(session_id)

    @observed("session_id")
    def resumable_session_status(self, session_id: str) -> ResumableStatusResult:
        """Ask the backend how many bytes it holds; record it, keep the state.

        Works for resumable sessions, and for multipart sessions (the bytes
        of the parts the backend holds).
        """
        session = self._store.get(session_id)
        if session.upload_strategy == "multipart":
            return self._multipart.byte_status(session)
        return self._resumable.status(session)

    # -- completion ---------------------------------------------------------------

    @observed("session_id")
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
        return self._verification.verify(session_id)

    @observed("session_id")
    def complete_multipart_upload(
        self, session_id: str, parts: Sequence[UploadedPart | Mapping[str, object]] | None = None
    ) -> VerifyResult:
        """Complete the remote upload, then converge into :meth:`verify_completion`.

        ``parts=None`` rebuilds the list from the backend (clients that lost
        their ETags). Retrying after a timeout, or after a crash between the
        remote completion and the database write, returns the same result.
        """
        return self._multipart.complete(session_id, parts)

    # -- ending early -------------------------------------------------------------

    @observed("session_id")
    def cancel_resumable_session(self, session_id: str) -> UploadSession:
        """Cancel a resumable session: ``→ aborted``, then the remote session is cancelled.

        Cancelling an already aborted or expired session returns it unchanged.
        """
        return self._resumable.cancel(session_id)

    @observed("session_id")
    def abort_session(self, session_id: str) -> UploadSession:
        """Abort any non-terminal session and clean up its remote state.

        Idempotent on an aborted session. URLs already issued stay valid
        until the session's ``expires_at`` (no backend can revoke them), so
        the cleanup runs now and again at ``expires_at + cleanup_grace``,
        through :meth:`expire_sessions`; a cleanup that fails never raises
        here and is retried with backoff.
        """
        return abort(self._store, self._maintenance, session_id)

    @observed()
    def expire_sessions(
        self, *, now: dt.datetime | None = None, batch_size: int = 100, dry_run: bool = False
    ) -> MaintenanceReport:
        """One maintenance pass: expire sessions past ``expires_at``, then run due cleanups.

        To drain a backlog, repeat while ``report.progressed`` and add the
        reports (``a + b``), as ``rindle expire`` does.

        A form POST tells nobody it landed (Uppy calls nothing after it), so
        first a signed ``presigned_post`` session past its deadline whose
        object is stored is verified, as if its client had called
        :meth:`verify_completion`, instead of being expired and its upload
        deleted. Its policy has expired by then, so nothing can replace the
        object any more.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument("batch_size must be a positive integer")
        spare = () if dry_run else self._verify_landed_posts(now or self._clock(), batch_size)
        return self.maintenance.expire(now=now, batch_size=batch_size, dry_run=dry_run, spare=spare)

    def _verify_landed_posts(self, now: dt.datetime, limit: int) -> list[str]:
        """Verify the form POSTs that landed; the ids that could not be checked
        (storage down), which expiry must spare until a later pass."""
        unsure: list[str] = []
        for session in self._store.posts_at_deadline(now, limit):
            try:
                self._verification.verify(session.id, at_deadline=True)
            except StorageObjectMissing:
                continue  # nothing landed: expiry handles it
            except InvalidTransition:
                continue  # another process moved it first
            except RindleError as exc:
                unsure.append(session.id)
                log_event(
                    _log,
                    logging.WARNING,
                    "rindle: a form POST could not be verified at its deadline",
                    session_id=session.id,
                    error=type(exc).__name__,
                )
        return unsure

    @observed()
    def run_jobs(self, limit: int = 100) -> list[JobOutcome]:
        """Run due jobs in this process (what ``rindle worker --once`` does)."""
        return self.jobs.run_due(limit)

    def delete_asset(self, asset_id: str) -> Asset:
        """Move an available, quarantined or abandoned asset to ``deleted``, then
        delete its stored object.

        The state change is committed first; a storage error is raised after
        it, and calling again retries the object's delete (idempotent). An
        asset still on its way raises :class:`InvalidTransition`.
        """
        return self._asset_lifecycle().delete(asset_id)

    def sweep_assets(
        self,
        *,
        quarantined_after: dt.timedelta | None = None,
        abandoned_after: dt.timedelta | None = None,
        batch_size: int = 1000,
    ) -> AssetSweepReport:
        """Delete quarantined and abandoned assets untouched for longer than the
        ages given (``None``: not that state), with the quarantined ones' objects,
        in batches; then retry the object deletes still owed. What
        ``rindle prune --quarantined-after/--abandoned-after`` does.
        """
        return self._asset_lifecycle().sweep(
            quarantined_after=quarantined_after,
            abandoned_after=abandoned_after,
            batch_size=batch_size,
        )

    def _asset_lifecycle(self) -> AssetLifecycle:
        return AssetLifecycle(
            self._database,
            self._store,
            storage_for=self.storage_for,
            telemetry=self._telemetry,
            clock=self._clock,
        )

    def prune(
        self, *, older_than: dt.timedelta, batch_size: int = 1000, dry_run: bool = False
    ) -> PruneReport:
        """Delete finished session rows (with their part ledgers) and succeeded
        job rows older than *older_than*, in batches (what ``rindle prune`` does).

        A session goes once it is over, no cleanup is pending and its asset
        has settled; assets and stored objects are left alone.
        """
        return Pruner(self._database, clock=self._clock).prune(
            older_than=older_than, batch_size=batch_size, dry_run=dry_run
        )

    # -- reads --------------------------------------------------------------------

    def get_session(self, session_id: str) -> UploadSession:
        """The session's current snapshot."""
        return self._store.get(session_id)

    def get_asset(self, asset_id: str) -> Asset:
        """The asset's current snapshot."""
        return self._store.get_asset(asset_id)

    def list_sessions(
        self,
        *,
        state: SessionState | str | None = None,
        profile: str | None = None,
        limit: int = 100,
        owner: str | None = None,
        storage_key: str | None = None,
    ) -> list[UploadSession]:
        """Sessions, newest first, optionally filtered by state, profile, owner
        and the storage key they upload to."""
        return self._store.find(
            state=state, profile=profile, limit=limit, owner=owner, storage_key=storage_key
        )

    @observed("asset_id")
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
        require(storage, Capability.SIGNED_GET, prof)
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

    # -- internals ----------------------------------------------------------------

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

    def _open(self, opening: Opening[R]) -> R:
        """Write the new session's rows; if that fails, undo what storage
        created for it (nothing else could find it) and re-raise."""
        try:
            session = self._insert(opening.new)
        except BaseException:
            opening.compensate()
            raise
        return opening.finish(session)

    def _insert(self, new: NewSession) -> UploadSession:
        """The one database write that opens a session."""
        return self._store.insert(new)
