"""``GCSStorage``: the rindle storage adapter for Google Cloud Storage."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, NoReturn

from google.api_core import exceptions as api_exceptions

from rindle_core import InvalidArgument, StorageConflict, StorageNotFound
from rindle_core._log_redaction import install_log_redaction
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

from ._bucket import BUCKET_CHECK_TTL, BucketCheck
from ._errors import gcs_errors
from ._resumable import ResumableProtocol
from ._signing import MAX_EXPIRES_IN, V4Signer

__all__ = ["CREATE_ONLY_HEADER", "GCSStorage"]

#: Signed into every PUT: GCS refuses it (412) when the key holds a live object.
CREATE_ONLY_HEADER: Final = ("x-goog-if-generation-match", "0")
#: Loggers that print request URLs or headers at DEBUG.
_REDACTED_LOGGERS: Final = ("urllib3", "google", "requests")
#: A GCS generation: a positive 64-bit decimal, ASCII digits only.
_GENERATION: Final = re.compile(r"[1-9][0-9]{0,18}")

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

    Create-only: signed PUTs bind ``x-goog-if-generation-match: 0`` and
    resumable sessions are created with ``ifGenerationMatch=0``. Versions are
    generations: ``head`` reports it, ``read_range(version=)`` and
    ``presign_get(version=)`` bind to it. A missing bucket raises
    :class:`~rindle_core.StorageError`, never ``StorageNotFound``.

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
        timeout: float | tuple[float, float] = (5.0, 20.0),
        retry: Any = None,
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
        self.capabilities: frozenset[Capability] = _ALWAYS | (_SIGNED if signer else frozenset())
        # The SDK's loggers exist now; keep URLs (session URIs) out of their records.
        install_log_redaction(*_REDACTED_LOGGERS)

    @property
    def bucket_name(self) -> str:
        """The bucket this storage writes to."""
        return str(self._bucket.name)

    def close(self) -> None:
        """Close the client's and the resumable protocol's HTTP sessions."""
        client = getattr(self._bucket, "client", None)
        if client is not None and callable(getattr(client, "close", None)):
            client.close()
        self._resumable.close()

    def __repr__(self) -> str:
        signing = "signed-urls" if self._signer else "no-signer"
        return f"GCSStorage(bucket={self.bucket_name!r}, {signing})"

    # -- HEAD / RANGE_READ / DELETE ---------------------------------------------

    def head(self, key: str) -> HeadResult:
        """Size, content type, ETag and generation (``version``) of *key*.

        A missing object raises ``StorageNotFound``; a missing bucket a
        ``StorageError``.
        """
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

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        """Up to *length* bytes of *key* from *start* (fewer at the end of the object).

        With *version* (a generation from :meth:`head`), the read is
        conditional (``ifGenerationMatch``): any other live generation raises
        :class:`~rindle_core.StorageConflict`.
        """
        if start < 0 or length < 0:
            raise InvalidArgument("start and length must not be negative")
        generation = None if version is None else _bound_generation(version)
        if length == 0:
            self._check_version(key, version)  # still reports a missing object
            return b""
        blob = self._bucket.blob(key)
        data: bytes | None = None
        # A 416 means start is at or past the end of the object (data stays None).
        with (
            self._errors("read", conflict=generation is not None),
            contextlib.suppress(api_exceptions.RequestRangeNotSatisfiable),
        ):
            data = blob.download_as_bytes(
                start=start,
                end=start + length - 1,
                checksum=None,
                if_generation_match=generation,
                timeout=self._timeout,
                retry=self._retry,
            )
        if data is None:
            if version is not None:
                self._check_version(key, version)
            return b""
        if generation is not None:
            served = blob.generation  # from the answer's X-Goog-Generation
            if served is None:
                # The server did not say which generation it served: generations
                # never repeat, so the live one still being ours covers the read.
                self._check_version(key, version)
            elif served != generation:
                raise StorageConflict("GCS read failed: the object was replaced")
        return bytes(data[:length])

    def _check_version(self, key: str, version: str | None) -> None:
        current = self.head(key).version
        if version is not None and current != version:
            raise StorageConflict("GCS read failed: the object was replaced")

    def delete(self, key: str) -> None:
        """Delete *key*; a missing object is not an error, a missing bucket is."""
        try:
            with self._errors("delete"):
                self._bucket.blob(key).delete(timeout=self._timeout, retry=self._retry)
        except StorageNotFound:
            return

    @contextmanager
    def _errors(self, operation: str, *, conflict: bool = False) -> Iterator[None]:
        """:func:`gcs_errors`, with a 404 checked against the bucket first."""
        with gcs_errors(operation, conflict=conflict):
            try:
                yield
            except api_exceptions.NotFound as exc:
                self._bucket_check.check_not_found(operation, exc)
                raise StorageNotFound(f"GCS {operation} failed: HTTP 404") from None

    # -- PRESIGNED_PUT / SIGNED_GET ---------------------------------------------

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A create-only V4 signed PUT binding Content-Type and, when given, Content-Length.

        ``x-goog-if-generation-match: 0`` is signed too: GCS refuses the PUT
        (412) when the key already holds an object, so the URL can never
        replace what was uploaded (or verified) with it.
        """
        _single_line("content_type", content_type)
        headers = {"Content-Type": content_type}
        if content_length is not None:
            if content_length < 0:
                raise InvalidArgument("content_length must not be negative")
            headers["Content-Length"] = str(content_length)
        name, value = CREATE_ONLY_HEADER
        headers[name] = value
        return self._presign("PUT", key, headers, {}, expires_in)

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest:
        """A V4 signed GET of *key*.

        *version* binds the URL to that generation (``generation=``: once the
        object is replaced, the URL answers 404); *content_type* and
        *content_disposition* are the headers GCS serves it with
        (``response-content-type`` / ``response-content-disposition``).
        """
        query: dict[str, str] = {}
        if content_type is not None:
            _single_line("content_type", content_type)
            query["response-content-type"] = content_type
        if content_disposition is not None:
            _single_line("content_disposition", content_disposition)
            query["response-content-disposition"] = content_disposition
        if version is not None:
            if not _GENERATION.fullmatch(version):
                raise InvalidArgument("version must be a GCS generation (from head)")
            query["generation"] = version
        return self._presign("GET", key, {}, query, expires_in)

    def _presign(
        self,
        method: str,
        key: str,
        headers: dict[str, str],
        query: dict[str, str],
        expires_in: int,
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
                method,
                self.bucket_name,
                key,
                expires_in=expires_in,
                headers=headers,
                query=query,
                now=now,
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

    # -- COMMITTED_PARTS: not offered -------------------------------------------

    def committed_parts(self, key: str, *, upload_id: str | None = None) -> list[UploadedPart]:
        """Not offered: a GCS object keeps no record of the parts it was written in."""
        self._unsupported(Capability.COMMITTED_PARTS)

    @staticmethod
    def _unsupported(capability: Capability) -> NoReturn:
        raise NotImplementedError(f"the gcs storage does not offer {capability.value}")


def _single_line(name: str, value: str) -> None:
    if any(ch in value for ch in "\r\n\0"):
        raise InvalidArgument(f"{name} must be a single-line header value")


def _bound_generation(version: str) -> int:
    """*version* as a generation; any other fingerprint is not this object's."""
    if not _GENERATION.fullmatch(version):
        raise StorageConflict("GCS read failed: the version is not a GCS generation")
    return int(version)
