"""A spying wrapper round a storage adapter, for the broker contract's cleanup checks."""

from __future__ import annotations

from collections.abc import Sequence

from rindle_core import UploadUnsupported
from rindle_core._checksums import with_checksum_keywords
from rindle_core.storage import (
    Capability,
    HeadResult,
    MultipartStorage,
    MultipartUpload,
    PartChecksum,
    PartLimits,
    PresignedRequest,
    ResumableStatus,
    ResumableStorage,
    ResumableUpload,
    StorageAdapter,
    UploadedPart,
    capabilities_of,
    supports_committed_parts,
    supports_multipart,
    supports_resumable,
)

__all__ = ["SimulatedCrash", "Spy"]


class SimulatedCrash(BaseException):
    """The process dies (nothing in the broker may catch it)."""


class Spy:
    """Delegates to an adapter, recording the remote uploads opened and closed.

    With ``crash_after_complete`` it dies right after a multipart completion
    succeeded remotely, before the broker could record it. Its capabilities
    are the adapter's.
    """

    def __init__(self, inner: StorageAdapter, *, crash_after_complete: bool = False) -> None:
        self.inner = inner
        self.backend = inner.backend
        #: ``(key, upload id)`` of each multipart upload created, ``(key,
        #: session URI)`` of each resumable session.
        self.opened: list[tuple[str, str]] = []
        #: Those aborted or cancelled.
        self.closed: list[tuple[str, str]] = []
        self._crash = crash_after_complete

    def __repr__(self) -> str:
        return f"Spy({self.inner!r})"

    @property
    def capabilities(self) -> frozenset[Capability]:
        return capabilities_of(self.inner)

    def head(self, key: str) -> HeadResult:
        return self.inner.head(key)

    def read_range(self, key: str, start: int, length: int, *, version: str | None = None) -> bytes:
        return self.inner.read_range(key, start, length, version=version)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int,
        version: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
    ) -> PresignedRequest:
        return self.inner.presign_get(
            key,
            expires_in=expires_in,
            version=version,
            content_type=content_type,
            content_disposition=content_disposition,
        )

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        return self.inner.presign_put(
            key, content_type=content_type, content_length=content_length, expires_in=expires_in
        )

    def close(self) -> None:
        self.inner.close()

    # -- multipart ---------------------------------------------------------------

    def _multipart(self) -> MultipartStorage:
        if not supports_multipart(self.inner):
            raise UploadUnsupported(Capability.MULTIPART_UPLOAD, storage=self.backend)
        return self.inner

    @property
    def part_limits(self) -> PartLimits:
        return self._multipart().part_limits

    def create_multipart(
        self, key: str, *, content_type: str, checksum_algorithm: str | None = None
    ) -> MultipartUpload:
        upload = with_checksum_keywords(
            self._multipart().create_multipart,
            key,
            content_type=content_type,
            checksums={"checksum_algorithm": checksum_algorithm},
        )
        self.opened.append((key, upload.upload_id))
        return upload

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
        return with_checksum_keywords(
            self._multipart().presign_part,
            key,
            upload_id,
            part_number,
            expires_in=expires_in,
            content_length=content_length,
            checksums={"checksum": checksum},
        )

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        return self._multipart().list_parts(key, upload_id)

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        self._multipart().complete_multipart(key, upload_id, parts, content_type=content_type)
        if self._crash:
            raise SimulatedCrash("the process died after the remote completion")

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self.closed.append((key, upload_id))
        self._multipart().abort_multipart(key, upload_id)

    def committed_parts(self, key: str, *, upload_id: str | None = None) -> list[UploadedPart]:
        if not supports_committed_parts(self.inner):
            raise UploadUnsupported(Capability.COMMITTED_PARTS, storage=self.backend)
        return self.inner.committed_parts(key, upload_id=upload_id)

    # -- resumable ---------------------------------------------------------------

    def _resumable(self) -> ResumableStorage:
        if not supports_resumable(self.inner):
            raise UploadUnsupported(Capability.RESUMABLE_UPLOAD, storage=self.backend)
        return self.inner

    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableUpload:
        upload = self._resumable().create_resumable(
            key, content_type=content_type, size=size, origin=origin
        )
        self.opened.append((key, upload.session_uri))
        return upload

    def resumable_status(self, key: str, session_uri: str) -> ResumableStatus:
        return self._resumable().resumable_status(key, session_uri)

    def cancel_resumable(self, key: str, session_uri: str) -> None:
        self.closed.append((key, session_uri))
        self._resumable().cancel_resumable(key, session_uri)
