"""The parts of google-cloud-storage the adapter calls, as typed protocols.

google-cloud-storage ships no type information; these protocols say what
:class:`~rindle_gcs.GCSStorage` and :class:`~rindle_gcs._bucket.BucketCheck`
rely on (and let tests hand in fakes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from google.api_core.retry import Retry

__all__ = ["Blob", "Bucket", "Client", "Timeout"]

#: Seconds, or ``(connect, read)`` seconds, per request.
Timeout = float | tuple[float, float]


class Blob(Protocol):
    """One object's handle (``google.cloud.storage.Blob``)."""

    @property
    def size(self) -> int | None: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def etag(self) -> str | None: ...

    @property
    def generation(self) -> int | None:
        """After ``reload`` or a download: the generation GCS reported."""
        ...

    def reload(self, *, timeout: Timeout, retry: Retry | None) -> None: ...

    def download_as_bytes(
        self,
        *,
        start: int,
        end: int,
        checksum: str | None,
        if_generation_match: int | None,
        timeout: Timeout,
        retry: Retry | None,
    ) -> bytes: ...

    def download_to_file(
        self,
        file_obj: Any,
        *,
        start: int,
        end: int,
        checksum: str | None,
        if_generation_match: int | None,
        timeout: Timeout,
        retry: Retry | None,
    ) -> None: ...

    def delete(self, *, timeout: Timeout, retry: Retry | None) -> None: ...


class Client(Protocol):
    """The API client behind a bucket (``google.cloud.storage.Client``)."""

    def close(self) -> None: ...


class Bucket(Protocol):
    """One bucket's handle (``google.cloud.storage.Bucket``)."""

    @property
    def name(self) -> str: ...

    @property
    def client(self) -> Client: ...

    def blob(self, blob_name: str) -> Blob: ...

    def list_blobs(
        self, *, max_results: int, fields: str, timeout: Timeout, retry: Retry | None
    ) -> Iterable[object]: ...
