"""The objects a :class:`~rindle_memory.MemoryServer` holds: buckets of bytes, in memory.

Thread-safe, and only ever used by the server: the adapter reaches it over
HTTP, as it would a cloud service. Every write is create-only and every
object gets a fresh version, so replacing an object is visible.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Sequence
from typing import Final

import attrs
from rindle_core.storage import PartLimits

__all__ = ["PART_LIMITS", "MemoryStore", "Refused", "StoredObject", "etag_of"]

MIB: Final = 1024 * 1024
#: The server's multipart rules (S3's minimum part size; smaller maxima, it is memory).
PART_LIMITS: Final = PartLimits(
    min_part_size=5 * MIB,
    max_part_size=64 * MIB,
    max_parts=1000,
    max_object_size=1024 * MIB,
)


class Refused(Exception):
    """The store refuses a request: an HTTP *status* and an S3-style error *code*."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


@attrs.frozen
class StoredObject:
    """One stored object; ``version`` is new for every write."""

    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    content_type: str
    version: str = attrs.field(factory=lambda: uuid.uuid4().hex)

    @property
    def etag(self) -> str:
        return etag_of(self.data)


@attrs.define
class _Upload:
    bucket: str
    key: str
    content_type: str
    parts: dict[int, bytes] = attrs.field(factory=dict)


class MemoryStore:
    """Buckets of objects and the multipart uploads in progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[str, StoredObject]] = {}
        self._uploads: dict[str, _Upload] = {}

    def create_bucket(self, bucket: str) -> None:
        """Create *bucket* (an existing one is kept as it is)."""
        with self._lock:
            self._buckets.setdefault(bucket, {})

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> StoredObject:
        """Create *key*; 412 if it holds an object (uploads are create-only)."""
        with self._lock:
            objects = self._bucket(bucket)
            if key in objects:
                raise Refused(412, "PreconditionFailed")
            stored = objects[key] = StoredObject(data, content_type)
            return stored

    def get(self, bucket: str, key: str) -> StoredObject:
        """The object under *key* (404 ``NoSuchKey`` if there is none)."""
        with self._lock:
            try:
                return self._bucket(bucket)[key]
            except KeyError:
                raise Refused(404, "NoSuchKey") from None

    def delete(self, bucket: str, key: str) -> None:
        """Delete *key*; a missing one counts as deleted."""
        with self._lock:
            self._bucket(bucket).pop(key, None)

    # -- multipart ----------------------------------------------------------

    def create_upload(self, bucket: str, key: str, content_type: str) -> str:
        """Start a multipart upload of *key*; return its id."""
        with self._lock:
            self._bucket(bucket)
            upload_id = uuid.uuid4().hex
            self._uploads[upload_id] = _Upload(bucket, key, content_type)
            return upload_id

    def put_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Store part *number* (replacing an earlier one); return its ETag."""
        with self._lock:
            self._upload(bucket, key, upload_id).parts[number] = data
            return etag_of(data)

    def parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, str, int]]:
        """``(number, etag, size)`` of each part uploaded so far."""
        with self._lock:
            parts = self._upload(bucket, key, upload_id).parts
            return [(n, etag_of(data), len(data)) for n, data in sorted(parts.items())]

    def complete(
        self, bucket: str, key: str, upload_id: str, listed: Sequence[tuple[int, str]]
    ) -> StoredObject:
        """Join the *listed* parts into *key*, create-only, and forget the upload."""
        with self._lock:
            upload = self._upload(bucket, key, upload_id)
            if key in self._bucket(bucket):
                raise Refused(412, "PreconditionFailed")
            chunks = []
            for index, (number, etag) in enumerate(listed):
                data = upload.parts.get(number)
                if data is None or etag_of(data) != etag:
                    raise Refused(400, "InvalidPart")
                if index < len(listed) - 1 and len(data) < PART_LIMITS.min_part_size:
                    raise Refused(400, "EntityTooSmall")
                chunks.append(data)
            stored = StoredObject(b"".join(chunks), upload.content_type)
            self._buckets[bucket][key] = stored
            del self._uploads[upload_id]
            return stored

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        """Forget the upload and its parts (404 ``NoSuchUpload`` if unknown)."""
        with self._lock:
            self._upload(bucket, key, upload_id)
            del self._uploads[upload_id]

    # -- lookups (the lock is held) -----------------------------------------------

    def _bucket(self, bucket: str) -> dict[str, StoredObject]:
        try:
            return self._buckets[bucket]
        except KeyError:
            raise Refused(404, "NoSuchBucket") from None

    def _upload(self, bucket: str, key: str, upload_id: str) -> _Upload:
        self._bucket(bucket)
        upload = self._uploads.get(upload_id)
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise Refused(404, "NoSuchUpload")
        return upload


def etag_of(data: bytes) -> str:
    """A quoted ETag: a digest of the bytes."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
