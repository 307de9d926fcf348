"""Immutable snapshots the broker hands back, and its result types.

These are never live ORM rows: reading an attribute never touches the
database, and changing one is impossible. Every one is frozen and hashable
(mapping fields are read-only :class:`~collections.abc.Mapping` views).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping
from typing import Final, Literal

import attrs

from ._frozen import FrozenMapping, freeze, thaw
from .states import AssetState, JobState, SessionState
from .storage import (
    MultipartUpload,
    PresignedPost,
    PresignedRequest,
    ResumableStatus,
    ResumableUpload,
    UploadedPart,
)

__all__ = [
    "Asset",
    "Job",
    "MaintenanceReport",
    "MultipartResult",
    "MultipartStatusResult",
    "ResumableResult",
    "ResumableStatusResult",
    "SignBatchResult",
    "SignPostResult",
    "SignResult",
    "UploadSession",
    "UploadStrategy",
    "VerifyResult",
]

UploadStrategy = Literal["presigned_put", "multipart", "resumable", "presigned_post"]


@attrs.frozen
class Asset:
    """A stored object and where it is in its lifecycle."""

    id: str
    profile: str
    state: AssetState
    storage_key: str
    filename: str
    declared_content_type: str | None
    content_type: str | None
    byte_size: int | None
    quarantine_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    metadata: Mapping[str, object] = attrs.field(factory=FrozenMapping, converter=freeze)
    #: The stored object's fingerprint recorded at verification.
    stored_version: str | None = None
    #: The type storage serves the object with, seen at verification.
    served_content_type: str | None = None
    #: Who the upload was for, as given at initiate (the session's owner).
    owner: str | None = None
    #: The caller's metadata given at initiate (the session's ``metadata``);
    #: :attr:`metadata` is rindle's own. Left out of the repr.
    client_metadata: Mapping[str, object] = attrs.field(
        factory=FrozenMapping, converter=freeze, repr=False
    )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return _jsonable(attrs.asdict(self, recurse=False))


@attrs.frozen(repr=False)
class UploadSession:
    """An upload session: the durable record of one upload attempt.

    The resumable ``session_uri`` is a bearer secret; it is excluded from the
    repr and from :meth:`to_dict`. The caller's ``metadata`` is in
    :meth:`to_dict` but not in the repr.
    """

    id: str
    asset_id: str
    profile: str
    storage: str
    state: SessionState
    storage_key: str
    upload_strategy: UploadStrategy
    content_type: str
    declared_size: int | None
    expires_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    verified_at: dt.datetime | None = None
    failure_reason: str | None = None
    #: The backend's id of the multipart upload or resumable session.
    remote_upload_id: str | None = None
    part_size: int | None = None
    #: The checksum algorithm every part is signed with (``"crc32"``), or None.
    checksum_algorithm: str | None = None
    committed_bytes: int = 0
    session_uri: str | None = attrs.field(default=None, eq=False)
    session_uri_expires_at: dt.datetime | None = None
    #: When the last URL that could change the completed object expires
    #: (recorded only for backends whose part URLs outlive completion).
    urls_expire_at: dt.datetime | None = None
    #: Who the upload is for (the host's id of its user or tenant), given at initiate.
    owner: str | None = None
    #: The caller's own data given at initiate: a frozen JSON object (not in the repr).
    metadata: Mapping[str, object] = attrs.field(factory=FrozenMapping, converter=freeze)

    def __repr__(self) -> str:
        return (
            f"UploadSession(id={self.id!r}, state={self.state.value!r}, "
            f"profile={self.profile!r}, owner={self.owner!r}, strategy={self.upload_strategy!r}, "
            f"storage_key={self.storage_key!r}, expires_at={self.expires_at.isoformat()!r})"
        )

    @property
    def upload_key(self) -> str:
        """Deprecated: use :attr:`storage_key` (the same value as ``Asset.storage_key``)."""
        _renamed("UploadSession.upload_key", "storage_key")
        return self.storage_key

    @property
    def multipart_upload_id(self) -> str | None:
        """Deprecated: use :attr:`remote_upload_id` (it holds resumable ids too)."""
        _renamed("UploadSession.multipart_upload_id", "remote_upload_id")
        return self.remote_upload_id

    def is_expired(self, now: dt.datetime) -> bool:
        """True when *now* is past the session's deadline."""
        return now >= self.expires_at

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict, without the session URI."""
        data = attrs.asdict(self, recurse=False)
        data.pop("session_uri")
        return _jsonable(data)


@attrs.frozen
class Job:
    """An outbox job."""

    id: str
    kind: str
    payload: Mapping[str, object] = attrs.field(converter=freeze)
    state: JobState
    attempts: int
    max_attempts: int
    run_at: dt.datetime
    last_error: str | None = None


@attrs.frozen
class SignResult:
    """Result of ``sign_url`` and ``sign_multipart_part``."""

    session: UploadSession
    presigned: PresignedRequest


@attrs.frozen
class SignPostResult:
    """Result of ``sign_post``: the form a client POSTs the object with."""

    session: UploadSession
    post: PresignedPost


@attrs.frozen
class SignBatchResult:
    """Result of ``sign_multipart_parts``: one presigned request per part."""

    session: UploadSession
    parts: tuple[PresignedRequest, ...]


@attrs.frozen
class VerifyResult:
    """Result of ``verify_completion`` and ``complete_multipart_upload``."""

    session: UploadSession
    asset: Asset


@attrs.frozen
class MultipartResult:
    """Result of ``initiate_multipart_session``."""

    session: UploadSession
    #: Where and how the client uploads the parts.
    multipart: MultipartUpload


@attrs.frozen
class MultipartStatusResult:
    """Result of ``multipart_status``: parts the backend holds, and those missing."""

    session: UploadSession
    parts: tuple[UploadedPart, ...]
    missing_part_numbers: tuple[int, ...]
    committed_bytes: int


@attrs.frozen
class ResumableResult:
    """Result of ``initiate_resumable_session``."""

    session: UploadSession
    #: The session URI (a bearer secret) the client uploads to.
    resumable: ResumableUpload


@attrs.frozen
class ResumableStatusResult:
    """Result of ``resumable_session_status``: the session and the backend's view of it."""

    session: UploadSession
    status: ResumableStatus

    @property
    def committed_bytes(self) -> int:
        """Deprecated: use ``status.committed_bytes``."""
        _renamed("ResumableStatusResult.committed_bytes", "status.committed_bytes")
        return self.status.committed_bytes

    @property
    def state(self) -> Literal["in_progress", "complete", "expired"]:
        """Deprecated: use ``status.state``."""
        _renamed("ResumableStatusResult.state", "status.state")
        return self.status.state


@attrs.frozen
class MaintenanceReport:
    """What a maintenance pass did (or, in a dry run, would do); ``a + b`` totals two.

    Counts are effects, not calls: ``remote_aborted`` counts remote uploads
    found open and then aborted, ``objects_deleted`` objects found and then
    deleted. ``cleanups_finished`` rows are done for good;
    ``final_sweeps_scheduled`` rows were cleaned and are swept once more
    after their last URL expired; ``cleanup_failures`` rows failed and back
    off; ``expiry_failures`` sessions could not be expired (retried next
    pass). ``cleanup_due`` (dry run: due now) and ``cleanup_pending`` (rows
    still waiting after the pass) are snapshots, not sums.
    """

    dry_run: bool
    expired_session_ids: tuple[str, ...] = ()
    remote_aborted: int = 0
    objects_deleted: int = 0
    cleanup_failures: int = 0
    cleanups_finished: int = 0
    final_sweeps_scheduled: int = 0
    expiry_failures: int = 0
    cleanup_due: int = 0
    cleanup_pending: int = 0
    batches: int = 1

    @property
    def failures(self) -> int:
        """Rows that failed in this run (cleanups and expiries); retried later."""
        return self.cleanup_failures + self.expiry_failures

    @property
    def progressed(self) -> bool:
        """Whether the pass moved any row (a failed cleanup backs off: it moved too).

        Drain with passes until one did not progress.
        """
        return bool(
            self.expired_session_ids
            or self.cleanups_finished
            or self.final_sweeps_scheduled
            or self.cleanup_failures
        )

    def __add__(self, later: MaintenanceReport) -> MaintenanceReport:
        """The total of this run and the *later* one (snapshots: the later one's)."""
        return MaintenanceReport(
            dry_run=self.dry_run or later.dry_run,
            expired_session_ids=self.expired_session_ids + later.expired_session_ids,
            remote_aborted=self.remote_aborted + later.remote_aborted,
            objects_deleted=self.objects_deleted + later.objects_deleted,
            cleanup_failures=self.cleanup_failures + later.cleanup_failures,
            cleanups_finished=self.cleanups_finished + later.cleanups_finished,
            final_sweeps_scheduled=self.final_sweeps_scheduled + later.final_sweeps_scheduled,
            expiry_failures=self.expiry_failures + later.expiry_failures,
            cleanup_due=later.cleanup_due,
            cleanup_pending=later.cleanup_pending,
            batches=self.batches + later.batches,
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return _jsonable(attrs.asdict(self, recurse=False))


def _jsonable(data: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, SessionState | AssetState | JobState):
            value = value.value
        elif isinstance(value, tuple | Mapping):
            value = thaw(value)
        out[key] = value
    return out


def _renamed(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


#: Result types merged into the adapter seam's: the old names still work, deprecated.
_MERGED: Final = {"MultipartInfo": MultipartUpload, "ResumableInfo": ResumableUpload}


def __getattr__(name: str) -> object:
    if name not in _MERGED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    new = _MERGED[name]
    warnings.warn(
        f"{name} is deprecated: use rindle_core.{new.__name__}", DeprecationWarning, stacklevel=2
    )
    return new
