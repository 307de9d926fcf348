"""Tell a missing bucket from a missing object after a GCS ``404``.

Cleanup treats a missing object as done and ``rindle doctor`` treats it as
"the bucket is fine", so a ``404`` caused by a deleted or misspelt bucket
must never pass for one. GCS's own wording decides when it names either;
otherwise (emulators, bodiless answers) the bucket is asked directly with a
one-item object listing, which needs only ``storage.objects.list`` (granted
with object read access) rather than ``storage.buckets.get``. A bucket seen
to exist is trusted for :data:`BUCKET_CHECK_TTL` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from google.api_core import exceptions as api_exceptions

from rindle_core import StorageError

from ._errors import NotFoundKind, gcs_errors, not_found_kind
from ._sdk import Bucket, Timeout

if TYPE_CHECKING:
    from google.api_core.retry import Retry

__all__ = ["BUCKET_CHECK_TTL", "BucketCheck"]

#: Seconds a bucket seen to exist is not checked again.
BUCKET_CHECK_TTL: Final = 30.0


class BucketCheck:
    """Decides, for one bucket, whether a ``404`` means the object or the bucket."""

    def __init__(
        self,
        bucket: Bucket,
        *,
        timeout: Timeout,
        retry: Retry | None,
        ttl: float = BUCKET_CHECK_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = bucket
        self._timeout = timeout
        self._retry = retry
        self._ttl = ttl
        #: The monotonic clock the cache reads (replaceable in tests).
        self.clock = clock
        self._lock = threading.Lock()
        self._seen_at: float | None = None

    def check_not_found(self, operation: str, exc: BaseException) -> None:
        """Return when *exc* (a 404 from *operation*) means the object is missing.

        Raises :class:`~rindle_core.StorageError` when the bucket is missing,
        and the mapped error when the bucket cannot be checked.
        """
        kind = not_found_kind(exc)
        if kind is NotFoundKind.BUCKET:
            raise self.missing(operation) from None
        if kind is NotFoundKind.OBJECT:
            self._remember()
            return
        if self._recently_seen() or self.probe():
            return
        raise self.missing(operation) from None

    def probe(self) -> bool:
        """Ask GCS whether the bucket exists (a one-item listing of its objects)."""
        with gcs_errors("bucket check"):
            try:
                iterator = self._bucket.list_blobs(
                    max_results=1,
                    fields="items(name)",
                    timeout=self._timeout,
                    retry=self._retry,
                )
                for _ in iterator:
                    break
            except api_exceptions.NotFound:
                return False
        self._remember()
        return True

    def missing(self, operation: str) -> StorageError:
        """The error for *operation* against the missing bucket."""
        return StorageError(
            f"GCS {operation} failed: bucket {self._bucket.name!r} does not exist "
            "(check the storage's 'bucket' option)"
        )

    def _remember(self) -> None:
        with self._lock:
            self._seen_at = self.clock()

    def _recently_seen(self) -> bool:
        with self._lock:
            seen = self._seen_at
        return seen is not None and 0 <= self.clock() - seen < self._ttl

    def __repr__(self) -> str:
        return f"BucketCheck(bucket={self._bucket.name!r})"
