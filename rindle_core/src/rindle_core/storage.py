"""The storage-adapter seam: capabilities, value objects and the adapter protocols.

A storage adapter is one object per configured backend, built by a factory
that a plugin registers through :func:`rindle_core.hookspecs.rindle_register_storage`.
Every adapter implements :class:`StorageAdapter` (head, ranged read, delete,
signed GET and PUT, close). A backend that can do more implements the
protocol of that capability as well: :class:`MultipartStorage`,
:class:`ResumableStorage`, :class:`CommittedPartsStorage`,
:class:`PostPolicyStorage`. What an adapter implements is what it can
do: :func:`capabilities_of` reads it, and the broker raises
:class:`~rindle_core.UploadUnsupported` for the rest, never falling back to
another flow.

:class:`rindle_core.adapters.BaseStorage` and its siblings implement the
checks every adapter needs once; building on them is the easy way to write
an adapter (see *Write a storage adapter* in the docs).

Adapters translate their SDK's exceptions into
:class:`~rindle_core.StorageError`, :class:`~rindle_core.StorageNotFound`
(always, for a missing object or remote upload) and
:class:`~rindle_core.StorageUnavailable` (transient: retry later).
"""

from __future__ import annotations

import datetime as dt
import enum
import inspect
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Literal, Protocol, TypeGuard, runtime_checkable

import attrs

from . import _redaction
from ._checksums import PartChecksum
from ._frozen import FrozenMapping

__all__ = [
    "Capability",
    "CommittedPartsStorage",
    "HeadResult",
    "MultipartStorage",
    "MultipartUpload",
    "PartChecksum",
    "PartLimits",
    "PostPolicyStorage",
    "PresignedPost",
    "PresignedRequest",
    "ResumableStatus",
    "ResumableStorage",
    "ResumableUpload",
    "StorageAdapter",
    "StorageFactory",
    "UploadedPart",
    "capabilities_of",
    "supports_committed_parts",
    "supports_multipart",
    "supports_post_policy",
    "supports_resumable",
]


class Capability(enum.StrEnum):
    """What a storage backend can do; :func:`capabilities_of` tells an adapter's."""

    PRESIGNED_PUT = "presigned_put"
    MULTIPART_UPLOAD = "multipart_upload"
    RESUMABLE_UPLOAD = "resumable_upload"
    RESUMABLE_STATUS = "resumable_status"
    HEAD = "head"
    RANGE_READ = "range_read"
    DELETE = "delete"
    SIGNED_GET = "signed_get"
    #: The backend can list the parts a stored object was assembled from
    #: (Azure's committed block list), so verification can compare them with
    #: the part ledger.
    COMMITTED_PARTS = "committed_parts"
    #: The backend takes an HTML form POST under a signed policy that binds
    #: the key, the content type and a size range (S3 and GCS POST Object).
    PRESIGNED_POST = "presigned_post"


# -- value objects ------------------------------------------------------------


def _headers(headers: Mapping[str, str] | None) -> FrozenMapping[str]:
    """A header map as a hashable read-only mapping (an attrs converter)."""
    return headers if isinstance(headers, FrozenMapping) else FrozenMapping(headers)


@attrs.frozen(repr=False)
class PresignedRequest:
    """An HTTP request a client may send without credentials.

    ``headers`` are exactly the headers the client must send (they are bound
    into the signature). The repr never shows the URL's query (the signature).
    """

    url: str
    method: str
    headers: FrozenMapping[str] = attrs.field(factory=FrozenMapping, converter=_headers)
    expires_at: dt.datetime | None = None
    part_number: int | None = None
    upload_id: str | None = None

    def __repr__(self) -> str:
        extra = f", part_number={self.part_number}" if self.part_number is not None else ""
        url = _redaction.redact_url(self.url)
        headers = _redaction.redacted_headers(self.headers)
        return (
            f"PresignedRequest(method={self.method!r}, url={url!r}, "
            f"headers={headers!r}, expires_at={self.expires_at!r}{extra})"
        )


@attrs.frozen(repr=False)
class PresignedPost:
    """An HTML form upload a client may send without credentials.

    The client sends a ``multipart/form-data`` POST to ``url`` with every
    entry of ``fields`` as a form field, in this order, and the file last
    (field ``file``). The signed policy in ``fields`` binds the key, the
    content type and the size range; it expires at ``expires_at``.
    ``create_only`` says whether the backend refuses the POST when the key
    already holds an object (S3 and GCS: no, their POST replaces it; the
    broker then promotes only once the policy has expired). The repr shows
    the field names, never the policy or its signature.
    """

    url: str
    fields: FrozenMapping[str] = attrs.field(converter=_headers)
    expires_at: dt.datetime
    create_only: bool = False

    def __repr__(self) -> str:
        return (
            f"PresignedPost(url={_redaction.redact_url(self.url)!r}, "
            f"fields={sorted(self.fields)!r}, expires_at={self.expires_at!r}, "
            f"create_only={self.create_only!r})"
        )


@attrs.frozen
class HeadResult:
    """What a HEAD on a stored object tells.

    ``content_type`` is the type storage will serve the object with.
    ``version`` is an opaque fingerprint that changes whenever the object is
    replaced (S3: the version id or ETag; GCS: the generation; Azure: the
    ETag; local: a digest of the file's identity): verification records it,
    and promotion reads with it as a precondition.
    """

    size: int
    content_type: str | None = None
    etag: str | None = None
    version: str | None = None


def _names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


@attrs.frozen
class PartLimits:
    """A backend's multipart limits; the broker picks part sizes within them."""

    min_part_size: int
    max_part_size: int
    max_parts: int
    max_object_size: int
    #: Whether completing needs each part's ETag (S3: yes; Azure blocks: no).
    etag_required: bool = True
    #: Whether a part URL can still rewrite the completed object (Azure: Put
    #: Block needs write permission, which also allows Put Block List and Put
    #: Blob). The broker then records when the last part URL expires and
    #: promotes only after that, so nothing can change an available asset.
    part_urls_outlive_completion: bool = False
    #: Checksum algorithms a part URL can bind, so the backend refuses a part
    #: whose bytes do not match (S3: ``{"crc32"}``; empty: none). A session
    #: opened with one of them signs every part with its checksum.
    checksum_algorithms: frozenset[str] = attrs.field(default=frozenset(), converter=_names)


@attrs.frozen
class UploadedPart:
    """One uploaded part: its number, the ETag the backend returned, its size if
    known, and its checksum when the upload binds part checksums."""

    part_number: int
    etag: str | None = None
    size: int | None = None
    checksum: PartChecksum | None = None


@attrs.frozen
class MultipartUpload:
    """A multipart upload: what the backend created and what a client needs.

    An adapter's :meth:`MultipartStorage.create_multipart` fills
    ``upload_id`` and ``part_headers`` (headers every part upload must carry,
    bound into each part signature); the broker's
    :meth:`~rindle_core.Broker.initiate_multipart_session` adds where the
    parts go (``storage_key``), their size and, for a declared size, how many,
    and ``checksum_algorithm`` when every part must be signed with its
    checksum (:class:`PartChecksum`).
    """

    upload_id: str
    part_headers: FrozenMapping[str] = attrs.field(factory=FrozenMapping, converter=_headers)
    storage_key: str | None = None
    part_size: int | None = None
    part_count: int | None = None
    checksum_algorithm: str | None = None

    @property
    def upload_key(self) -> str | None:
        """Deprecated: use :attr:`storage_key`."""
        _renamed("MultipartUpload.upload_key", "storage_key")
        return self.storage_key


@attrs.frozen(repr=False)
class ResumableUpload:
    """A resumable upload session created on the backend.

    ``session_uri`` is a bearer secret: whoever holds it can upload. It is
    never shown in the repr.
    """

    session_uri: str = attrs.field(eq=False)
    upload_id: str
    expires_at: dt.datetime

    def __repr__(self) -> str:
        return (
            f"ResumableUpload(session_uri='[REDACTED]', upload_id={self.upload_id!r}, "
            f"expires_at={self.expires_at!r})"
        )


@attrs.frozen
class ResumableStatus:
    """The backend's view of a resumable session."""

    state: Literal["in_progress", "complete", "expired"]
    committed_bytes: int


# -- the protocols --------------------------------------------------------------


@runtime_checkable
class StorageAdapter(Protocol):
    """What every storage backend implements.

    Every method that touches a missing object raises
    :class:`~rindle_core.StorageNotFound`, except ``delete``, which treats
    "already gone" as success. A missing bucket or container is never
    ``StorageNotFound``: it is a :class:`~rindle_core.StorageError`
    (configuration).

    **Create-only.** No signed upload may replace an existing object:
    ``presign_put`` (and each multipart part and complete) refuses an
    existing key (S3 ``If-None-Match: *``, GCS
    ``x-goog-if-generation-match: 0``, Azure create-only SAS and
    ``If-None-Match: *`` on the commit, local refuses an existing file).

    **Versions.** ``read_range(..., version=v)`` raises
    :class:`~rindle_core.StorageConflict` when the stored object's
    :attr:`HeadResult.version` is not *v*. ``presign_get`` serves the object
    with *content_type* and *content_disposition* where the backend lets a
    URL set response headers, and binds *version* where it can.

    ``capabilities`` lists what the adapter can do now; an adapter built
    without signing credentials leaves out ``PRESIGNED_PUT`` and
    ``SIGNED_GET`` (and refuses those calls with
    :class:`~rindle_core.UploadUnsupported`).
    """

    #: The backend type this adapter was built for (``"local"``, ``"s3"``…).
    backend: str

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    def head(self, key: str) -> HeadResult: ...

    def read_range(
        self, key: str, start: int, length: int, *, version: str | None = None
    ) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest: ...

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest: ...

    def close(self) -> None:
        """Release connections (HTTP sessions); :meth:`Broker.close` calls it. Idempotent."""
        ...


@runtime_checkable
class MultipartStorage(StorageAdapter, Protocol):
    """A backend that assembles an object from parts uploaded in parallel.

    ``complete_multipart`` on a key that holds an object raises
    :class:`~rindle_core.StorageConflict`, a part list the service rejects
    (a part missing, an ETag that does not match, a part too small)
    :class:`~rindle_core.InvalidParts`, and an unknown upload
    :class:`~rindle_core.StorageNotFound`; ``abort_multipart`` treats an
    unknown upload as aborted.

    Part checksums are optional: an adapter whose
    :attr:`PartLimits.checksum_algorithms` names an algorithm takes
    ``checksum_algorithm`` in ``create_multipart`` and a part's ``checksum``
    in ``presign_part`` (bound into the signature), and completes with each
    part's checksum. The broker passes neither to an adapter that names none.
    """

    @property
    def part_limits(self) -> PartLimits: ...

    def create_multipart(
        self, key: str, *, content_type: str, checksum_algorithm: str | None = None
    ) -> MultipartUpload: ...

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
        checksum: PartChecksum | None = None,
    ) -> PresignedRequest: ...

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]: ...

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...


@runtime_checkable
class CommittedPartsStorage(StorageAdapter, Protocol):
    """A backend that can list the parts a stored object was committed from."""

    def committed_parts(self, key: str, *, upload_id: str | None = None) -> list[UploadedPart]: ...


@runtime_checkable
class ResumableStorage(StorageAdapter, Protocol):
    """A backend with resumable sessions a client uploads to sequentially.

    ``cancel_resumable`` treats an unknown, cancelled or expired session as
    cancelled; ``resumable_status`` reports an expired one, and raises
    :class:`~rindle_core.StorageNotFound` for an unknown one.
    """

    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableUpload: ...

    def resumable_status(self, key: str, session_uri: str) -> ResumableStatus: ...

    def cancel_resumable(self, key: str, session_uri: str) -> None: ...


@runtime_checkable
class PostPolicyStorage(StorageAdapter, Protocol):
    """A backend that takes HTML form POSTs under a signed policy.

    The policy binds exactly *key*, *content_type* and a body of
    ``min_size..max_size`` bytes (``0 <= min_size <= max_size <=
    max_post_size``), and expires after *expires_in* seconds.
    """

    #: The largest body a POST may carry, in bytes.
    max_post_size: int

    def presign_post(
        self, key: str, *, content_type: str, min_size: int, max_size: int, expires_in: int
    ) -> PresignedPost: ...


#: A factory a plugin registers: ``create_storage(options, /, *, base_dir)``.
StorageFactory = Callable[..., StorageAdapter]


# -- capabilities ---------------------------------------------------------------

_BASE: Final = frozenset(
    {
        Capability.HEAD,
        Capability.RANGE_READ,
        Capability.DELETE,
        Capability.SIGNED_GET,
        Capability.PRESIGNED_PUT,
    }
)
#: Each optional protocol: the members that implement it, the capabilities it gives.
_OPTIONAL: Final[tuple[tuple[tuple[str, ...], frozenset[Capability]], ...]] = (
    (
        (
            "part_limits",
            "create_multipart",
            "presign_part",
            "list_parts",
            "complete_multipart",
            "abort_multipart",
        ),
        frozenset({Capability.MULTIPART_UPLOAD}),
    ),
    (("committed_parts",), frozenset({Capability.COMMITTED_PARTS})),
    (("max_post_size", "presign_post"), frozenset({Capability.PRESIGNED_POST})),
    (
        ("create_resumable", "resumable_status", "cancel_resumable"),
        frozenset({Capability.RESUMABLE_UPLOAD, Capability.RESUMABLE_STATUS}),
    ),
)
_MISSING: Final = object()


def implemented_capabilities(adapter_type: type) -> frozenset[Capability]:
    """The capabilities the protocols *adapter_type* implements give.

    Read from the class without calling anything: a protocol counts only
    when every one of its members is there.
    """
    found = set(_BASE)
    for members, gives in _OPTIONAL:
        if all(inspect.getattr_static(adapter_type, m, _MISSING) is not _MISSING for m in members):
            found |= gives
    return frozenset(found)


def capabilities_of(adapter: StorageAdapter) -> frozenset[Capability]:
    """What *adapter* can do: what it declares, limited to what it implements."""
    declared = frozenset(adapter.capabilities)
    return declared & implemented_capabilities(type(adapter))


def supports_multipart(adapter: StorageAdapter) -> TypeGuard[MultipartStorage]:
    """Whether *adapter* can take multipart uploads now."""
    return Capability.MULTIPART_UPLOAD in capabilities_of(adapter)


def supports_resumable(adapter: StorageAdapter) -> TypeGuard[ResumableStorage]:
    """Whether *adapter* can open resumable sessions now."""
    return Capability.RESUMABLE_UPLOAD in capabilities_of(adapter)


def supports_post_policy(adapter: StorageAdapter) -> TypeGuard[PostPolicyStorage]:
    """Whether *adapter* can sign form POST policies now."""
    return Capability.PRESIGNED_POST in capabilities_of(adapter)


def supports_committed_parts(adapter: StorageAdapter) -> TypeGuard[CommittedPartsStorage]:
    """Whether *adapter* can list the parts a stored object was committed from."""
    return Capability.COMMITTED_PARTS in capabilities_of(adapter)


# -- deprecated names -------------------------------------------------------------


def _renamed(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


#: Names that moved: ``storage.<old>`` still works, with a DeprecationWarning.
_MOVED: Final[Mapping[str, tuple[str, str]]] = {
    "MultipartInit": ("rindle_core.storage", "MultipartUpload"),
    "ResumableInit": ("rindle_core.storage", "ResumableUpload"),
    "redact_url": ("rindle_core.adapters", "redact_url"),
    "utcnow": ("rindle_core.adapters", "utcnow"),
    "expiry": ("rindle_core.adapters", "expiry"),
    "map_exceptions": ("rindle_core.adapters", "map_exceptions"),
    "describe_http_error": ("rindle_core.adapters", "describe_http_error"),
    "content_range_parts": ("rindle_core.adapters", "content_range_parts"),
    "choose_part_size": ("rindle_core.adapters", "choose_part_size"),
}


def __getattr__(name: str) -> object:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, new = _MOVED[name]
    warnings.warn(
        f"rindle_core.storage.{name} is deprecated: use {module}.{new}",
        DeprecationWarning,
        stacklevel=2,
    )
    import importlib

    return getattr(importlib.import_module(module), new)
