"""What the upload strategies share: the opening of a session, capability
checks, and the guards on a session's state."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import attrs

from .. import _decisions as decide
from .._client_metadata import check_metadata, check_owner
from .._errors import (
    InvalidArgument,
    InvalidTransition,
    SessionExpired,
    StorageError,
    UploadUnsupported,
)
from .._maintenance import Maintenance
from .._session_store import NewSession, SessionStore
from .._telemetry import log_event
from ..models import UploadSession, UploadStrategy
from ..profiles import Profile
from ..states import SESSION_TRANSITIONS, SessionState
from ..storage import (
    Capability,
    MultipartStorage,
    ResumableStatus,
    ResumableStorage,
    StorageAdapter,
    capabilities_of,
    supports_multipart,
    supports_resumable,
)

__all__ = [
    "Opening",
    "Resolve",
    "abort",
    "as_multipart",
    "as_resumable",
    "check_url_ttl",
    "check_verifiable",
    "fail",
    "last_status",
    "live_session",
    "multipart_of",
    "plan_session",
    "require",
]

R = TypeVar("R")

#: The registered profile of that name, and its storage adapter.
Resolve = Callable[[str], tuple[Profile, StorageAdapter]]

_log = logging.getLogger("rindle.broker")

#: Session states from which a client may still upload and verify.
_VERIFIABLE = frozenset(
    {SessionState.SIGNED, SessionState.RESUMING, SessionState.UPLOADING, SessionState.UPLOADED}
)
#: Session states from which URLs may still be signed.
_SIGNABLE = frozenset({SessionState.INITIALIZED, SessionState.SIGNED, SessionState.UPLOADING})


def _nothing() -> None:
    """Undo for a strategy that creates nothing remote before the rows."""


@attrs.frozen
class Opening(Generic[R]):
    """A new session decided, with whatever storage created for it.

    ``new`` is the rows to write; ``undo`` removes the remote state if writing
    them fails; ``finish`` turns the written session into the caller's result.
    """

    new: NewSession
    finish: Callable[[UploadSession], R]
    undo: Callable[[], None] = _nothing

    def compensate(self) -> None:
        """Run ``undo``; a storage failure is logged, not raised over the error
        that made the compensation necessary."""
        try:
            self.undo()
        except StorageError as exc:
            log_event(_log, logging.WARNING, "rindle.compensation.failed", error=type(exc).__name__)


def plan_session(
    profile: Profile,
    strategy: UploadStrategy,
    *,
    filename: str,
    content_type: str,
    size: int | None,
    expires_in: int | None,
    now: dt.datetime,
    owner: str | None = None,
    metadata: Mapping[str, object] | None = None,
) -> NewSession:
    """Validate a new upload against *profile* and decide its ids, key and deadline.

    The storage key is generated, never taken from *filename*. Refuses what
    the profile forbids with :class:`PolicyViolation`, and an unusable
    *owner* or *metadata* with :class:`InvalidArgument`.
    """
    checked_owner = check_owner(owner)
    checked_metadata = check_metadata(metadata)
    mime = decide.normalise_content_type(content_type)
    clean = decide.sanitize_filename(filename)
    decide.check_declared_upload(profile, filename=clean, content_type=mime, size=size)
    asset_id = decide.new_id()
    return NewSession(
        profile=profile.name,
        storage=profile.storage,
        strategy=strategy,
        asset_id=asset_id,
        session_id=decide.new_id(),
        key=decide.storage_key(profile, asset_id, clean),
        filename=clean,
        content_type=mime,
        size=size,
        now=now,
        expires_at=decide.session_deadline(profile, now, expires_in),
        owner=checked_owner,
        metadata=checked_metadata,
    )


def require(storage: StorageAdapter, capability: Capability, profile: Profile | None) -> None:
    """Raise :class:`UploadUnsupported` unless *storage* has *capability*."""
    if capability not in capabilities_of(storage):
        raise UploadUnsupported(capability, storage=profile.storage if profile else "")


def as_multipart(storage: StorageAdapter, profile: Profile | None) -> MultipartStorage:
    """*storage* as a multipart backend, or :class:`UploadUnsupported`."""
    if not supports_multipart(storage):
        raise UploadUnsupported(
            Capability.MULTIPART_UPLOAD, storage=profile.storage if profile else ""
        )
    return storage


def as_resumable(storage: StorageAdapter, profile: Profile | None) -> ResumableStorage:
    """*storage* as a resumable backend, or :class:`UploadUnsupported`."""
    if not supports_resumable(storage):
        raise UploadUnsupported(
            Capability.RESUMABLE_UPLOAD, storage=profile.storage if profile else ""
        )
    return storage


def live_session(session: UploadSession, now: dt.datetime) -> UploadSession:
    """*session*, if URLs may still be signed for it: not past signing, not past
    its deadline."""
    if session.state not in _SIGNABLE:
        raise InvalidTransition(session.state.value, SessionState.SIGNED.value)
    if session.is_expired(now):
        raise SessionExpired(session.id)
    return session


def check_url_ttl(expires_in: object) -> None:
    """Refuse a bad *expires_in* for a URL before anything is written (the
    check :func:`rindle_core._decisions.signing_ttl` makes when it signs)."""
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in < 1
    ):
        raise InvalidArgument("expires_in must be a positive number of seconds")


def check_verifiable(
    session: UploadSession, now: dt.datetime, *, at_deadline: bool = False
) -> None:
    """Raise unless *session* may still be verified (*at_deadline*: past its
    deadline too, for maintenance settling a form POST that landed)."""
    if session.state not in _VERIFIABLE:
        raise InvalidTransition(session.state.value, SessionState.VERIFYING.value)
    if session.is_expired(now) and not at_deadline:
        raise SessionExpired(session.id)


def multipart_of(session: UploadSession) -> tuple[str, int]:
    """The remote upload id and part size a multipart session row must carry."""
    if session.remote_upload_id is None or session.part_size is None:
        raise InvalidArgument(f"session {session.id} has no multipart upload")
    return session.remote_upload_id, session.part_size


def last_status(session: UploadSession) -> ResumableStatus:
    """The offset last recorded, for a session with nothing remote left to ask."""
    done = session.state is SessionState.COMPLETED
    return ResumableStatus("complete" if done else "expired", session.committed_bytes)


def abort(store: SessionStore, maintenance: Maintenance, session_id: str) -> UploadSession:
    """Abort a live session (idempotent on an aborted one) and clean up its
    remote state now; a cleanup that fails is retried by maintenance."""
    session = store.get(session_id)
    if session.state is SessionState.ABORTED:
        return session
    moved = maintenance.settle(session, SessionState.ABORTED, reason="aborted")
    if moved is None:
        current = store.get(session_id)
        if current.state is SessionState.ABORTED:
            return current
        raise InvalidTransition(current.state.value, SessionState.ABORTED.value)
    maintenance.cleanup_remote(moved)
    return store.get(session_id)


def fail(maintenance: Maintenance, session: UploadSession, reason: str) -> None:
    """``→ failed`` (asset abandoned, remote cleanup pending), then clean up."""
    if SessionState.FAILED not in SESSION_TRANSITIONS[session.state]:
        return
    moved = maintenance.settle(session, SessionState.FAILED, reason=reason)
    if moved is not None:
        maintenance.cleanup_remote(moved)
