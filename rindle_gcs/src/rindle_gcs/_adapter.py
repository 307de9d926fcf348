"""``GCSStorage``: the rindle storage adapter for Google Cloud Storage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

from google.api_core import exceptions as api_exceptions

from rindle_core import InvalidArgument, StorageNotFound
from rindle_core.storage import (
    Capability,
    HeadResult,
    MultipartInit,
    PartLimits,
    PresignedRequest,
    ResumableInit,
    ResumableStatus,
    UploadedPart,
    expiry,
    utcnow,
)

from ._errors import gcs_errors
from ._resumable import ResumableProtocol
from ._signing import MAX_EXPIRES_IN, V4Signer

__all__ = ["GCSStorage"]

_ALWAYS: Final = frozenset(
    {
        Capability.RESUMABLE_UPLOAD,
        Capability.RESUMABLE_STATUS,
        Capability.HEAD,
        Capability.RANGE_READ,
        Capability.DELETE,
    }
)
_SIGNED: Final = frozenset({Capability.PRESIGNED_PUT, Capability.SIGNED_GET})


class GCSStorage:
    """Stores objects in one GCS bucket.

    Capabilities: resumable sessions (create / status / cancel), head,
    ranged read, delete, and, when a signer is available (a service-account
    key, or IAM ``signBlob`` for keyless credentials), V4 signed PUT and
    GET URLs. GCS's XML multipart API is not offered: resumable sessions
    cover large files.

    Resumable status: an unknown session (HTTP 404) or a cancelled one (499)
    raises :class:`~rindle_core.StorageNotFound`; an expired one (410) is
    reported as ``ResumableStatus("expired", 0)``, not raised. Cancelling an
    unknown, cancelled or expired session succeeds.

    Build it with :func:`rindle_gcs.create_storage` (the ``gcs`` factory);
    the constructor takes ready-made collaborators so tests can swap them.
    """

    backend: str = "gcs"

    def __init__(
        self,
        *,
        bucket: Any,
        resumable: ResumableProtocol,
        signer: V4Signer | None,
        timeout: float = 60.0,
        retry: Any = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._bucket = bucket
        self._resumable = resumable
        self._signer = signer
        self._timeout = timeout
        self._retry = retry
        self._clock = clock
        self.capabilities: frozenset[Capability] = _ALWAYS | (_SIGNED if signer else frozenset())

    @property
    def bucket_name(self) -> str:
        """The bucket this storage writes to."""
        return str(self._bucket.name)

    def __repr__(self) -> str:
        signing = "signed-urls" if self._signer else "no-signer"
        return f"GCSStorage(bucket={self.bucket_name!r}, {signing})"

    # -- HEAD / RANGE_READ / DELETE ---------------------------------------------

    def head(self, key: str) -> HeadResult:
        """Size, content type and ETag of *key*; missing raises ``StorageNotFound``."""
        with gcs_errors("head"):
            blob = self._bucket.get_blob(key, timeout=self._timeout, retry=self._retry)
        if blob is None:
            raise StorageNotFound(f"no GCS object {key!r}")
        return HeadResult(size=int(blob.size or 0), content_type=blob.content_type, etag=blob.etag)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Up to *length* bytes of *key* from *start* (fewer at the end of the object)."""
        if start < 0 or length < 0:
            raise InvalidArgument("start and length must not be negative")
        if length == 0:
            self.head(key)  # still report a missing object
            return b""
        blob = self._bucket.blob(key)
        with gcs_errors("read"):
            try:
                data = blob.download_as_bytes(
                    start=start,
                    end=start + length - 1,
                    checksum=None,
                    timeout=self._timeout,
                    retry=self._retry,
                )
            except api_exceptions.RequestRangeNotSatisfiable:
                return b""  # start is at or past the end of the object
        return bytes(data[:length])

    def delete(self, key: str) -> None:
        """Delete *key*; a missing object is not an error."""
        try:
            with gcs_errors("delete"):
                self._bucket.blob(key).delete(timeout=self._timeout, retry=self._retry)
        except StorageNotFound:
            return

    # -- PRESIGNED_PUT / SIGNED_GET ---------------------------------------------

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A V4 signed PUT binding Content-Type and, when given, Content-Length."""
        if any(ch in content_type for ch in "\r\n\0"):
            raise InvalidArgument("content_type must be a single-line header value")
        headers = {"Content-Type": content_type}
        if content_length is not None:
            if content_length < 0:
                raise InvalidArgument("content_length must not be negative")
            headers["Content-Length"] = str(content_length)
        return self._presign("PUT", key, headers, expires_in)

    def presign_get(self, key: str, *, expires_in: int) -> PresignedRequest:
        """A V4 signed GET of *key*."""
        return self._presign("GET", key, {}, expires_in)

    def _presign(
        self, method: str, key: str, headers: dict[str, str], expires_in: int
    ) -> PresignedRequest:
        signer = self._signer
        if signer is None:
            self._unsupported(
                Capability.PRESIGNED_PUT if method == "PUT" else Capability.SIGNED_GET
            )
        if expires_in <= 0:
            raise InvalidArgument("expires_in must be positive")
        expires_in = min(expires_in, MAX_EXPIRES_IN)
        now = self._clock()
        with gcs_errors("sign"):
            url = signer.sign_url(
                method, self.bucket_name, key, expires_in=expires_in, headers=headers, now=now
            )
        return PresignedRequest(
            url=url, method=method, headers=headers, expires_at=expiry(now, expires_in)
        )

    # -- RESUMABLE_UPLOAD / RESUMABLE_STATUS ------------------------------------

    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableInit:
        """Open a resumable session for *key* (GCS enforces *size* when given)."""
        return self._resumable.create(key, content_type=content_type, size=size, origin=origin)

    def resumable_status(self, key: str, session_uri: str) -> ResumableStatus:
        """Committed bytes and state of a session (see the class docstring)."""
        return self._resumable.status(session_uri)

    def cancel_resumable(self, key: str, session_uri: str) -> None:
        """Cancel a session; idempotent."""
        self._resumable.cancel(session_uri)

    # -- MULTIPART_UPLOAD: not offered ------------------------------------------

    @property
    def part_limits(self) -> PartLimits:
        """Not offered: GCS storages upload large files through resumable sessions."""
        self._unsupported(Capability.MULTIPART_UPLOAD)

    def create_multipart(self, key: str, *, content_type: str) -> MultipartInit:
        """Not offered (see :attr:`part_limits`)."""
        self._unsupported(Capability.MULTIPART_UPLOAD)

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
    ) -> PresignedRequest:
        """Not offered (see :attr:`part_limits`)."""
        self._unsupported(Capability.MULTIPART_UPLOAD)

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """Not offered (see :attr:`part_limits`)."""
        self._unsupported(Capability.MULTIPART_UPLOAD)

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        """Not offered (see :attr:`part_limits`)."""
        self._unsupported(Capability.MULTIPART_UPLOAD)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Not offered (see :attr:`part_limits`)."""
        self._unsupported(Capability.MULTIPART_UPLOAD)

    @staticmethod
    def _unsupported(capability: Capability) -> NoReturn:
        raise NotImplementedError(f"the gcs storage does not offer {capability.value}")
