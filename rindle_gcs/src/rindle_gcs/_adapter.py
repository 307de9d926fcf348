"""``GCSStorage``: the rindle storage adapter for Google Cloud Storage."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, Final

from google.api_core import exceptions as api_exceptions

from rindle_core import (
    Capability,
    HeadResult,
    InvalidArgument,
    PresignedPost,
    PresignedRequest,
    ResumableStatus,
    ResumableUpload,
    StorageConflict,
    StorageError,
    StorageNotFound,
    UploadUnsupported,
)
from rindle_core.adapters import (
    BasePostPolicyStorage,
    BaseResumableStorage,
    RangeNotSatisfiable,
    expiry,
    install_redaction,
    utcnow,
)

from ._bucket import BUCKET_CHECK_TTL, BucketCheck
from ._errors import gcs_errors
from ._post_policy import sign_post_policy
from ._resumable import ResumableProtocol
from ._sdk import Bucket, Timeout
from ._signing import MAX_EXPIRES_IN, V4Signer

if TYPE_CHECKING:
    from google.api_core.retry import Retry

__all__ = ["CREATE_ONLY_HEADER", "GCSStorage"]

#: Signed into every PUT: GCS refuses it (412) when the key holds a live object.
CREATE_ONLY_HEADER: Final = ("x-goog-if-generation-match", "0")
#: Loggers that print request URLs or headers at DEBUG.
_REDACTED_LOGGERS: Final = ("urllib3", "google", "requests")
#: A GCS generation: a positive 64-bit decimal, ASCII digits only.
_GENERATION: Final = re.compile(r"[1-9][0-9]{0,18}")
#: What a storage without a signer cannot offer.
_SIGNED: Final = frozenset(
    {Capability.PRESIGNED_PUT, Capability.PRESIGNED_POST, Capability.SIGNED_GET}
)


class GCSStorage(BaseResumableStorage, BasePostPolicyStorage):
    """Stores objects in one GCS bucket.

    Capabilities: resumable sessions (create / status / cancel), head,
    ranged read, delete, and, when a signer is available (an HMAC key, a
    service-account key, or IAM ``signBlob`` for keyless credentials), V4 signed PUT and
    GET URLs and V4 POST policies; without one, those three are withheld
    and refused with :class:`~rindle_core.UploadUnsupported`. GCS's XML multipart API is not
    implemented: resumable sessions cover large files.

    Resumable status: an unknown session (HTTP 404) or a cancelled one (499)
    raises :class:`~rindle_core.StorageNotFound`; an expired one (410) is
    reported as ``ResumableStatus("expired", 0)``, not raised. Cancelling an
    unknown, cancelled or expired session succeeds.

    Create-only: signed PUTs bind ``x-goog-if-generation-match: 0`` and
    resumable sessions are created with ``ifGenerationMatch=0``. A form POST
    cannot be: GCS's POST takes no precondition and replaces an existing
    object, so the broker promotes only after its policy expired (ADR 0103). Versions are
    generations: ``head`` reports it, ``read_range(version=)`` and
    ``presign_get(version=)`` bind to it. A missing bucket raises
    :class:`~rindle_core.StorageError`, never ``StorageNotFound``.

    Build it with :func:`rindle_gcs.create_storage` (the ``gcs`` factory);
    the constructor takes ready-made collaborators so tests can swap them.
    """

    backend = "gcs"
    #: V4 signatures live at most seven days.
    max_expires_in: ClassVar[int] = MAX_EXPIRES_IN

    def __init__(
        self,
        *,
        bucket: Bucket,
        resumable: ResumableProtocol,
        signer: V4Signer | None,
        timeout: Timeout = (5.0, 20.0),
        retry: Retry | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        bucket_check_ttl: float = BUCKET_CHECK_TTL,
    ) -> None:
        self._bucket = bucket
        self._resumable = resumable
        self._signer = signer
        self._timeout = timeout
        self._retry = retry
        self._clock = clock
        self._bucket_check = BucketCheck(bucket, timeout=timeout, retry=retry, ttl=bucket_check_ttl)
        if signer is None:
            self.withheld = _SIGNED
        # The SDK's loggers exist now; keep URLs (session URIs) out of their records.
        install_redaction(*_REDACTED_LOGGERS)

    @property
    def bucket_name(self) -> str:
        """The bucket this storage writes to."""
        return str(self._bucket.name)

    def close(self) -> None:
        """Close the client's and the resumable protocol's HTTP sessions."""
        self._bucket.client.close()
        self._resumable.close()

    def __repr__(self) -> str:
        signing = "signed-urls" if self._signer else "no-signer"
        return f"GCSStorage(bucket={self.bucket_name!r}, {signing})"

    # -- head, ranged read, delete ------------------------------------------------

    def _head(self, key: str) -> HeadResult:
        blob = self._bucket.blob(key)
        with self._errors("head"):
            blob.reload(timeout=self._timeout, retry=self._retry)
        generation = blob.generation
        return HeadResult(
            size=int(blob.size or 0),
            content_type=blob.content_type,
            etag=blob.etag,
            version=None if generation is None else str(generation),
        )

    def _read_range(self, key: str, start: int, length: int, *, version: str | None) -> bytes:
        """A ranged download; with *version*, conditional on that generation.

        ``ifGenerationMatch`` makes GCS refuse another live generation
        (412: :class:`~rindle_core.StorageConflict`); the generation the
        answer reports is compared too. A *version* that is not a generation
        is not this object's.
        """
        generation = None if version is None else _bound_generation(version)
        blob = self._bucket.blob(key)
        sink = _RangeSink(length)
        with self._errors("read", conflict=generation is not None):
            try:
                # Streamed into a sink that holds at most the range: a server
                # that ignores Range is refused after length + 1 bytes.
                blob.download_to_file(
                    sink,
                    start=start,
                    end=start + length - 1,
                    checksum=None,
                    if_generation_match=generation,
                    timeout=self._timeout,
                    retry=self._retry,
                )
            except api_exceptions.RequestRangeNotSatisfiable:
                raise RangeNotSatisfiable from None
            except _RangeOverflow:
                if start > 0:  # the answer is the whole object, from its first byte
                    raise StorageError(
                        "GCS read failed: the server ignored the Range header"
                    ) from None
                # From the start, the first bytes of the whole object are the range.
        data = sink.data
        if generation is not None:
            served = blob.generation  # from the answer's X-Goog-Generation
            if served is None:
                # The server did not say which generation it served: generations
                # never repeat, so the live one still being ours covers the read.
                self._check_version(key, version)
            elif served != generation:
                raise StorageConflict("GCS read failed: the object was replaced")
        return bytes(data)

    def _delete(self, key: str) -> None:
        with self._errors("delete"):
            self._bucket.blob(key).delete(timeout=self._timeout, retry=self._retry)

    @contextmanager
    def _errors(self, operation: str, *, conflict: bool = False) -> Iterator[None]:
        """:func:`gcs_errors`, with a 404 checked against the bucket first."""
        with gcs_errors(operation, conflict=conflict):
            try:
                yield
            except api_exceptions.NotFound as exc:
                self._bucket_check.check_not_found(operation, exc)
                raise StorageNotFound(f"GCS {operation} failed: HTTP 404") from None

    # -- signed URLs ----------------------------------------------------------------

    def _presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A create-only V4 signed PUT binding Content-Type and, when given, Content-Length.

        ``x-goog-if-generation-match: 0`` is signed too: GCS refuses the PUT
        (412) when the key already holds an object, so the URL can never
        replace what was uploaded (or verified) with it.
        """
        headers = {"Content-Type": content_type}
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        name, value = CREATE_ONLY_HEADER
        headers[name] = value
        return self._presign(Capability.PRESIGNED_PUT, key, headers, {}, expires_in)

    def _presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None,
        content_type: str | None,
        content_disposition: str | None,
    ) -> PresignedRequest:
        """A V4 signed GET.

        *version* binds the URL to that generation (``generation=``: once the
        object is replaced, the URL answers 404); *content_type* and
        *content_disposition* are the headers GCS serves it with
        (``response-content-type`` / ``response-content-disposition``).
        """
        query: dict[str, str] = {}
        if content_type is not None:
            query["response-content-type"] = content_type
        if content_disposition is not None:
            query["response-content-disposition"] = content_disposition
        if version is not None:
            if not _GENERATION.fullmatch(version):
                raise InvalidArgument("version must be a GCS generation (from head)")
            query["generation"] = version
        return self._presign(Capability.SIGNED_GET, key, {}, query, expires_in)

    def _presign(
        self,
        capability: Capability,
        key: str,
        headers: dict[str, str],
        query: dict[str, str],
        expires_in: int,
    ) -> PresignedRequest:
        signer = self._signer
        if signer is None:  # withheld: the public methods refuse before this
            raise UploadUnsupported(capability, storage=self.backend)
        method = "PUT" if capability is Capability.PRESIGNED_PUT else "GET"
        now = self._clock()
        try:
            url = signer.sign_url(
                method,
                self.bucket_name,
                key,
                expires_in=expires_in,
                headers=headers,
                query=query,
                now=now,
            )
        except Exception:
            # Mapped as raised; entering gcs_errors only on failure keeps its
            # cost (several µs) off every local (key or HMAC) signature.
            with gcs_errors("sign"):
                raise
        return PresignedRequest(
            url=url, method=method, headers=headers, expires_at=expiry(now, expires_in)
        )

    def _presign_post(
        self, key: str, *, content_type: str, min_size: int, max_size: int, expires_in: int
    ) -> PresignedPost:
        """A V4 POST policy binding the key, Content-Type and size range (not create-only)."""
        signer = self._signer
        if signer is None:  # withheld: the public method refuses before this
            raise UploadUnsupported(Capability.PRESIGNED_POST, storage=self.backend)
        with gcs_errors("sign"):
            return sign_post_policy(
                signer,
                bucket=self.bucket_name,
                key=key,
                content_type=content_type,
                min_size=min_size,
                max_size=max_size,
                expires_in=expires_in,
                now=self._clock(),
            )

    # -- resumable sessions ---------------------------------------------------------

    def _create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableUpload:
        return self._resumable.create(key, content_type=content_type, size=size, origin=origin)

    def _resumable_status(self, key: str, session_uri: str) -> ResumableStatus:
        return self._resumable.status(session_uri)

    def _cancel_resumable(self, key: str, session_uri: str) -> None:
        self._resumable.cancel(session_uri)


def _bound_generation(version: str) -> int:
    """*version* as a generation; any other fingerprint is not this object's."""
    if not _GENERATION.fullmatch(version):
        raise StorageConflict("GCS read failed: the version is not a GCS generation")
    return int(version)


class _RangeOverflow(Exception):
    """More bytes arrived than the range holds."""


class _RangeSink:
    """A write-only file that keeps at most *limit* bytes, and raises past them."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()

    def write(self, chunk: bytes) -> int:
        room = self._limit - len(self._buffer)
        self._buffer += chunk[:room]
        if len(chunk) > room:
            raise _RangeOverflow
        return len(chunk)

    @property
    def data(self) -> bytes:
        return bytes(self._buffer)
