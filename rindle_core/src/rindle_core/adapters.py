"""The kit for writing a storage adapter: base classes and helpers.

Subclass :class:`BaseStorage` and implement its five ``_hooks``; add
:class:`BaseMultipartStorage`, :class:`BaseResumableStorage`,
:class:`BaseCommittedPartsStorage` or :class:`BasePostPolicyStorage` for
each further capability the backend has. The public methods check their
arguments once, here, with the same errors for every backend, and the hooks
receive only valid ones:

* keys are 1..1024 UTF-8 bytes without control characters; header values
  1..1024 printable ASCII characters; ``expires_in`` ``1..max_expires_in``;
* a zero-length read, and one past the end of the object (the hook raises
  :class:`RangeNotSatisfiable`), return ``b""`` after a HEAD that still
  reports a missing object and a changed version;
* ``delete``, ``abort_multipart`` and ``cancel_resumable`` of something
  already gone succeed (the hook may raise ``StorageNotFound``);
* a POST policy's size range is ``0 <= min_size <= max_size <=
  max_post_size``;
* part numbers are in ``1..part_limits.max_parts``, and a part list to
  complete is non-empty, without duplicates, with ETags where the backend
  needs them, in ascending order;
* a capability the adapter withholds as configured (``withheld``) raises
  :class:`~rindle_core.UploadUnsupported`.

The adapter's capabilities are what it implements, less ``withheld``:
nothing to declare, and no method that only raises.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Sequence
from typing import ClassVar, Final

from ._checks import (
    check_expires_in,
    check_header,
    check_key,
    check_optional_header,
    check_size,
)
from ._checksums import check_bound, with_checksum_keywords
from ._clock import expiry, utcnow
from ._decisions import check_part_list, check_part_number, choose_part_size, content_range_parts
from ._error_mapping import describe_http_error, map_exceptions
from ._errors import InvalidArgument, StorageConflict, StorageNotFound, UploadUnsupported
from ._redaction import install_redaction, redact_url, redacted_headers
from .storage import (
    Capability,
    HeadResult,
    MultipartUpload,
    PartChecksum,
    PartLimits,
    PresignedPost,
    PresignedRequest,
    ResumableStatus,
    ResumableUpload,
    UploadedPart,
    implemented_capabilities,
)

__all__ = [
    "BaseCommittedPartsStorage",
    "BaseMultipartStorage",
    "BasePostPolicyStorage",
    "BaseResumableStorage",
    "BaseStorage",
    "RangeNotSatisfiable",
    "check_header",
    "check_key",
    "check_optional_header",
    "check_size",
    "choose_part_size",
    "content_range_parts",
    "describe_http_error",
    "expiry",
    "install_redaction",
    "map_exceptions",
    "redact_url",
    "redacted_headers",
    "utcnow",
]

#: Seven days: the longest a V4 signature (S3, GCS) may live.
SEVEN_DAYS: Final = 7 * 24 * 3600
#: 5 TiB: the largest object S3 or GCS stores.
FIVE_TIB: Final = 5 * 1024**4


class RangeNotSatisfiable(Exception):
    """Raised by a ``_read_range`` hook when *start* is at or past the object's end."""


class BaseStorage(abc.ABC):
    """The shared behaviour of a storage adapter; subclasses implement the hooks.

    Set ``backend`` (the type name users write in ``rindle.toml``), and
    ``max_expires_in`` / ``max_put_size`` where the backend's limits differ.
    Put a capability in ``withheld`` (an instance attribute) when the
    adapter cannot offer it as configured, e.g. signed URLs without signing
    credentials.
    """

    #: The backend type this adapter was built for (``"s3"``…).
    backend: str
    #: The longest ``expires_in`` a signed URL may have.
    max_expires_in: ClassVar[int] = SEVEN_DAYS
    #: The largest single PUT, in bytes (``None``: no limit).
    max_put_size: ClassVar[int | None] = None
    #: Capabilities this instance cannot offer as configured.
    withheld: frozenset[Capability] = frozenset()

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What this adapter implements, less what it withholds."""
        return implemented_capabilities(type(self)) - self.withheld

    def close(self) -> None:  # noqa: B027 - optional: most adapters hold connections
        """Release connections; nothing to release by default. Idempotent."""

    # -- public methods: checks, then the hooks -----------------------------

    def head(self, key: str) -> HeadResult:
        """Size, served type, ETag and version of *key* (``StorageNotFound`` if missing)."""
        return self._head(check_key(key))

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        """Up to *length* bytes from *start*; ``b""`` at or past the end.

        With *version*, :class:`~rindle_core.StorageConflict` when the object
        is now another one.
        """
        check_key(key)
        check_size("start", start)
        check_size("length", length)
        check_optional_header("version", version)
        if length == 0:
            self._check_version(key, version)
            return b""
        try:
            data = self._read_range(key, start, length, version=version)
        except RangeNotSatisfiable:
            self._check_version(key, version)
            return b""
        return data[:length]

    def delete(self, key: str) -> None:
        """Delete *key*; an object already gone counts as deleted."""
        check_key(key)
        with contextlib.suppress(StorageNotFound):
            self._delete(key)

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """A create-only signed PUT of *key*."""
        self._require(Capability.PRESIGNED_PUT)
        check_key(key)
        check_header("content_type", content_type)
        if content_length is not None:
            check_size("content_length", content_length)
            if self.max_put_size is not None and content_length > self.max_put_size:
                raise InvalidArgument(
                    f"a single PUT carries at most {self.max_put_size} bytes; use multipart"
                )
        return self._presign_put(
            key,
            content_type=content_type,
            content_length=content_length,
            expires_in=check_expires_in(expires_in, self.max_expires_in),
        )

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest:
        """A signed GET of *key*, served with *content_type* and *content_disposition*."""
        self._require(Capability.SIGNED_GET)
        check_key(key)
        return self._presign_get(
            key,
            expires_in=check_expires_in(expires_in, self.max_expires_in),
            version=check_optional_header("version", version),
            content_type=check_optional_header("content_type", content_type),
            content_disposition=check_optional_header("content_disposition", content_disposition),
        )

    # -- hooks ---------------------------------------------------------------

    @abc.abstractmethod
    def _head(self, key: str) -> HeadResult:
        """HEAD *key*; raise ``StorageNotFound`` when it is missing."""

    @abc.abstractmethod
    def _read_range(self, key: str, start: int, length: int, *, version: str | None) -> bytes:
        """Read ``length`` (> 0) bytes from *start*.

        Raise :class:`RangeNotSatisfiable` when *start* is at or past the end.
        """

    @abc.abstractmethod
    def _delete(self, key: str) -> None:
        """Delete *key* (raising ``StorageNotFound`` for a missing one is fine)."""

    @abc.abstractmethod
    def _presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        """Sign a create-only PUT binding *content_type* (and *content_length* if given)."""

    @abc.abstractmethod
    def _presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None,
        content_type: str | None,
        content_disposition: str | None,
    ) -> PresignedRequest:
        """Sign a GET, with response overrides and *version* bound where the backend can."""

    # -- shared plumbing ---------------------------------------------------------

    def _require(self, capability: Capability) -> None:
        """Raise UploadUnsupported when this instance withholds *capability*."""
        if capability in self.withheld:
            raise UploadUnsupported(capability, storage=self.backend)

    def _check_version(self, key: str, version: str | None) -> None:
        """HEAD *key* (so a missing one raises); StorageConflict if *version* is stale."""
        head = self._head(key)
        if version is not None and head.version != version:
            raise StorageConflict(
                f"{self.backend} read_range: the object is another version than the one bound"
            )


class BaseMultipartStorage(BaseStorage):
    """A :class:`BaseStorage` that also takes multipart uploads."""

    @property
    @abc.abstractmethod
    def part_limits(self) -> PartLimits:
        """The backend's part sizes and counts."""

    def create_multipart(
        self, key: str, *, content_type: str, checksum_algorithm: str | None = None
    ) -> MultipartUpload:
        """Start a multipart upload of *key*; with *checksum_algorithm* (one of
        :attr:`PartLimits.checksum_algorithms`) every part is signed with its checksum."""
        self._require(Capability.MULTIPART_UPLOAD)
        key = check_key(key)
        content_type = check_header("content_type", content_type)
        if checksum_algorithm is not None:
            self._check_checksum_algorithm(checksum_algorithm)
        return with_checksum_keywords(
            self._create_multipart,
            key,
            content_type=content_type,
            checksums={"checksum_algorithm": checksum_algorithm},
        )

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
        checksum: PartChecksum | None = None,
    ) -> PresignedRequest:
        """Sign the upload of part *part_number*; a *checksum* is bound into the
        signature (the upload must have been created with its algorithm)."""
        self._require(Capability.MULTIPART_UPLOAD)
        check_key(key)
        _check_upload_id(upload_id)
        check_part_number(part_number, self.part_limits)
        if content_length is not None:
            check_size("content_length", content_length, maximum=self.part_limits.max_part_size)
        if checksum is not None:
            if not isinstance(checksum, PartChecksum):
                raise InvalidArgument("checksum must be a PartChecksum")
            self._check_checksum_algorithm(checksum.algorithm)
        return with_checksum_keywords(
            self._presign_part,
            key,
            upload_id,
            part_number,
            expires_in=check_expires_in(expires_in, self.max_expires_in),
            content_length=content_length,
            checksums={"checksum": checksum},
        )

    def _check_checksum_algorithm(self, algorithm: str) -> None:
        check_bound(algorithm, self.part_limits.checksum_algorithms, self.backend)

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts uploaded so far, by number (``StorageNotFound``: unknown upload)."""
        check_key(key)
        _check_upload_id(upload_id)
        return sorted(self._list_parts(key, upload_id), key=lambda part: part.part_number)

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        """Assemble *parts* (create-only: ``StorageConflict`` if *key* holds an object)."""
        check_key(key)
        _check_upload_id(upload_id)
        ordered = check_part_list(parts, self.part_limits)
        self._complete_multipart(
            key, upload_id, ordered, content_type=check_header("content_type", content_type)
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort the upload and drop its parts; an unknown upload counts as aborted."""
        check_key(key)
        _check_upload_id(upload_id)
        with contextlib.suppress(StorageNotFound):
            self._abort_multipart(key, upload_id)

    @abc.abstractmethod
    def _create_multipart(self, key: str, *, content_type: str) -> MultipartUpload:
        """Create the upload. An adapter whose ``part_limits.checksum_algorithms``
        names any also takes ``checksum_algorithm: str | None = None``."""

    @abc.abstractmethod
    def _presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None,
    ) -> PresignedRequest:
        """Sign one part. An adapter whose ``part_limits.checksum_algorithms``
        names any also takes ``checksum: PartChecksum | None = None`` and binds it."""

    @abc.abstractmethod
    def _list_parts(self, key: str, upload_id: str) -> list[UploadedPart]: ...

    @abc.abstractmethod
    def _complete_multipart(
        self, key: str, upload_id: str, parts: list[UploadedPart], *, content_type: str
    ) -> None:
        """Complete with *parts*: checked, in ascending order.

        Raise ``InvalidParts`` when the service rejects the list,
        ``StorageConflict`` when *key* already holds an object, and
        ``StorageNotFound`` for an unknown upload.
        """

    @abc.abstractmethod
    def _abort_multipart(self, key: str, upload_id: str) -> None: ...


class BaseCommittedPartsStorage(BaseStorage):
    """A :class:`BaseStorage` that can list the parts a stored object was committed from."""

    def committed_parts(self, key: str, *, upload_id: str | None = None) -> list[UploadedPart]:
        """The parts of the stored *key*, in commit order."""
        check_key(key)
        if upload_id is not None:
            _check_upload_id(upload_id)
        return self._committed_parts(key, upload_id=upload_id)

    @abc.abstractmethod
    def _committed_parts(self, key: str, *, upload_id: str | None) -> list[UploadedPart]: ...


class BaseResumableStorage(BaseStorage):
    """A :class:`BaseStorage` that also opens resumable sessions."""

    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableUpload:
        """Open a create-only resumable session for *key*."""
        self._require(Capability.RESUMABLE_UPLOAD)
        check_key(key)
        check_header("content_type", content_type)
        if size is not None:
            check_size("size", size)
        return self._create_resumable(
            key,
            content_type=content_type,
            size=size,
            origin=check_optional_header("origin", origin),
        )

    def resumable_status(self, key: str, session_uri: str) -> ResumableStatus:
        """How far the session got (``StorageNotFound``: unknown session)."""
        check_key(key)
        _check_session_uri(session_uri)
        return self._resumable_status(key, session_uri)

    def cancel_resumable(self, key: str, session_uri: str) -> None:
        """Cancel the session; an unknown, cancelled or expired one counts as cancelled."""
        check_key(key)
        _check_session_uri(session_uri)
        with contextlib.suppress(StorageNotFound):
            self._cancel_resumable(key, session_uri)

    @abc.abstractmethod
    def _create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableUpload: ...

    @abc.abstractmethod
    def _resumable_status(self, key: str, session_uri: str) -> ResumableStatus: ...

    @abc.abstractmethod
    def _cancel_resumable(self, key: str, session_uri: str) -> None: ...


class BasePostPolicyStorage(BaseStorage):
    """A :class:`BaseStorage` that also signs HTML form POST policies.

    Set ``max_post_size`` where the backend's POST takes less than 5 TiB.
    """

    #: The largest body a POST may carry, in bytes.
    max_post_size: ClassVar[int] = FIVE_TIB

    def presign_post(
        self, key: str, *, content_type: str, min_size: int, max_size: int, expires_in: int
    ) -> PresignedPost:
        """A form POST policy binding *key*, *content_type* and ``min_size..max_size`` bytes."""
        self._require(Capability.PRESIGNED_POST)
        if "${filename}" in check_key(key):
            raise InvalidArgument("a POST key must not hold ${filename}: S3 and GCS fill it in")
        check_header("content_type", content_type)
        check_size("max_size", max_size, maximum=self.max_post_size)
        check_size("min_size", min_size, maximum=max_size)
        return self._presign_post(
            key,
            content_type=content_type,
            min_size=min_size,
            max_size=max_size,
            expires_in=check_expires_in(expires_in, self.max_expires_in),
        )

    @abc.abstractmethod
    def _presign_post(
        self, key: str, *, content_type: str, min_size: int, max_size: int, expires_in: int
    ) -> PresignedPost:
        """Sign a policy binding exactly *key*, *content_type* and the size range."""


def _check_upload_id(upload_id: object) -> None:
    if not isinstance(upload_id, str) or not upload_id or len(upload_id) > 1024:
        raise InvalidArgument("upload_id must be a string of 1..1024 characters")


def _check_session_uri(session_uri: object) -> None:
    if not isinstance(session_uri, str) or not session_uri.startswith(("https://", "http://")):
        raise InvalidArgument("session_uri must be an http(s) URL")
