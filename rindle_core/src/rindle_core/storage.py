"""The storage-adapter seam: capabilities, value objects and the adapter protocol.

A storage adapter is one object per configured backend, built by a factory
that a plugin registers through :func:`rindle_core.hookspecs.rindle_register_storage`.
It declares :attr:`StorageAdapter.capabilities` and implements the methods
that go with each capability. The broker checks the capability first and
raises :class:`~rindle_core.UploadUnsupported`; it never falls back to
another flow.

Adapters translate their SDK's exceptions into :class:`StorageError`,
:class:`StorageNotFound` (always, for a missing object or remote upload) and
:class:`StorageUnavailable` (transient: retry later).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs

from ._errors import StorageError, StorageNotFound, StorageUnavailable

__all__ = [
    "Capability",
    "HeadResult",
    "MultipartInit",
    "PartLimits",
    "PresignedRequest",
    "ResumableInit",
    "ResumableStatus",
    "StorageAdapter",
    "StorageFactory",
    "UploadedPart",
    "choose_part_size",
    "content_range_parts",
    "describe_http_error",
    "expiry",
    "map_exceptions",
    "redact_url",
    "utcnow",
]


class Capability(enum.StrEnum):
    """What a storage backend can do. Adapters declare a frozen set of these."""

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


def redact_url(url: str) -> str:
    """Return *url* without its query string or credentials (safe to log)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    suffix = "?[REDACTED]" if parts.query else ""
    return f"{parts.scheme}://{host}{parts.path}{suffix}"


#: Words that mark a header as a credential, whatever the backend.
_SECRET_HEADER_WORDS: Final = ("authorization", "token", "signature", "credential", "secret", "key")


def _redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        k: ("[REDACTED]" if any(w in k.lower() for w in _SECRET_HEADER_WORDS) else v)
        for k, v in headers.items()
    }


def _header_dict(headers: Mapping[str, str]) -> dict[str, str]:
    """A typed ``dict`` converter (``converter=dict`` defeats mypy's attrs plugin)."""
    return dict(headers)


@attrs.frozen(repr=False)
class PresignedRequest:
    """An HTTP request a client may send without credentials.

    ``headers`` are exactly the headers the client must send (they are bound
    into the signature). The repr never shows the URL's query (the signature).
    """

    url: str
    method: str
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_header_dict)
    expires_at: dt.datetime | None = None
    part_number: int | None = None
    upload_id: str | None = None

    def __repr__(self) -> str:
        extra = f", part_number={self.part_number}" if self.part_number is not None else ""
        return (
            f"PresignedRequest(method={self.method!r}, url={redact_url(self.url)!r}, "
            f"headers={_redacted_headers(self.headers)!r}, expires_at={self.expires_at!r}{extra})"
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


@attrs.frozen
class MultipartInit:
    """A remote multipart upload the backend has created."""

    upload_id: str
    #: Headers every part upload must carry (bound into each part signature).
    part_headers: Mapping[str, str] = attrs.field(factory=dict, converter=_header_dict)


@attrs.frozen
class UploadedPart:
    """One uploaded part: its number and the ETag the backend returned."""

    part_number: int
    etag: str | None = None
    size: int | None = None


@attrs.frozen(repr=False)
class ResumableInit:
    """A resumable upload session created on the backend.

    ``session_uri`` is a bearer secret: whoever holds it can upload. It is
    never shown in the repr.
    """

    session_uri: str
    upload_id: str
    expires_at: dt.datetime

    def __repr__(self) -> str:
        return (
            f"ResumableInit(session_uri='[REDACTED]', upload_id={self.upload_id!r}, "
            f"expires_at={self.expires_at!r})"
        )


@attrs.frozen
class ResumableStatus:
    """The backend's view of a resumable session."""

    state: Literal["in_progress", "complete", "expired"]
    committed_bytes: int


@runtime_checkable
class StorageAdapter(Protocol):
    """The protocol every storage backend implements.

    Only the methods matching a declared :class:`Capability` are called; the
    others may raise :class:`NotImplementedError`. Every method that touches a
    missing object or remote upload raises :class:`StorageNotFound`, except
    ``delete``, ``abort_multipart`` and ``cancel_resumable``, which treat
    "already gone" as success. A missing bucket or container is never
    :class:`StorageNotFound`: it is a :class:`StorageError` (configuration).

    **Create-only.** No signed upload may replace an existing object:
    ``presign_put``, each part and ``complete_multipart`` refuse an existing
    key (S3 ``If-None-Match: *``, GCS ``x-goog-if-generation-match: 0``,
    Azure create-only SAS and ``If-None-Match: *`` on the commit, local
    refuses an existing file). ``complete_multipart`` on an existing object
    raises :class:`StorageConflict`.

    **Versions.** ``read_range(..., version=v)`` raises
    :class:`StorageConflict` when the stored object's
    :attr:`HeadResult.version` is not *v*. ``presign_get`` serves the object
    with *content_type* and *content_disposition* where the backend lets a
    URL set response headers, and binds *version* where it can.
    """

    #: The backend type this adapter was built for (``"local"``, ``"s3"``…).
    backend: str
    capabilities: frozenset[Capability]

    # HEAD / RANGE_READ / DELETE / SIGNED_GET
    def head(self, key: str) -> HeadResult: ...

    def read_range(
        self, key: str, start: int, length: int, *, version: str | None = None
    ) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def close(self) -> None:
        """Release connections (HTTP sessions); :meth:`Broker.close` calls it. Idempotent."""
        ...

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest: ...

    # PRESIGNED_PUT
    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest: ...

    # MULTIPART_UPLOAD
    @property
    def part_limits(self) -> PartLimits: ...

    def create_multipart(self, key: str, *, content_type: str) -> MultipartInit: ...

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
    ) -> PresignedRequest: ...

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]: ...

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    # COMMITTED_PARTS
    def committed_parts(self, key: str, *, upload_id: str | None = None) -> list[UploadedPart]: ...

    # RESUMABLE_UPLOAD / RESUMABLE_STATUS
    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableInit: ...

    def resumable_status(self, key: str, session_uri: str) -> ResumableStatus: ...

    def cancel_resumable(self, key: str, session_uri: str) -> None: ...


#: A factory a plugin registers: ``factory(**options) -> StorageAdapter``.
StorageFactory = Callable[..., StorageAdapter]


@contextlib.contextmanager
def map_exceptions(
    mapping: Mapping[type[BaseException], type[StorageError]],
    *,
    is_not_found: Callable[[BaseException], bool] = lambda exc: False,
    is_transient: Callable[[BaseException], bool] = lambda exc: False,
    describe: Callable[[BaseException], str] = lambda exc: type(exc).__name__,
) -> Iterator[None]:
    """Translate an SDK's exceptions into rindle's storage errors.

    The most specific match wins: ``is_not_found`` gives
    :class:`StorageNotFound`, ``is_transient`` gives
    :class:`StorageUnavailable`, otherwise the first entry of *mapping* the
    exception is an instance of. ``describe`` must return a message free of
    secrets; the original exception is chained as ``__cause__`` only when it
    is one of rindle's own types, never an SDK exception whose text may quote
    a signed URL.
    """
    try:
        yield
    except StorageError:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        target: type[StorageError] | None
        if is_not_found(exc):
            target = StorageNotFound
        elif is_transient(exc):
            target = StorageUnavailable
        else:
            target = next((t for s, t in mapping.items() if isinstance(exc, s)), None)
        if target is None:
            raise
        raise target(describe(exc)) from None


def content_range_parts(size: int, part_size: int) -> list[tuple[int, int, int]]:
    """Split *size* bytes into ``(part_number, offset, length)`` triples."""
    if size == 0:
        return [(1, 0, 0)]
    return [
        (index + 1, offset, min(part_size, size - offset))
        for index, offset in enumerate(range(0, size, part_size))
    ]


def choose_part_size(size: int | None, requested: int | None, limits: PartLimits) -> int:
    """Pick a part size within *limits* so that *size* fits in ``max_parts``.

    *requested* (a profile's or caller's preference) is raised when it would
    need too many parts, and clamped to the backend's limits.
    """
    part = requested or 8 * 1024 * 1024
    part = max(part, limits.min_part_size)
    if size is not None and size > 0:
        needed = -(-size // limits.max_parts)  # ceil division
        part = max(part, needed)
    return min(part, limits.max_part_size)


def expiry(now: dt.datetime, expires_in: int) -> dt.datetime:
    """``now + expires_in`` seconds, for adapters filling ``expires_at``."""
    return now + dt.timedelta(seconds=expires_in)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def describe_http_error(status: int, code: str | None = None) -> str:
    """A secret-free one-line message for an HTTP error from a backend."""
    return f"HTTP {status}" + (f" {code}" if code else "")
