"""An in-memory storage adapter for unit tests, with fault injection.

Not a test of any backend: the backends have their own suites against real
servers. This one lets broker tests simulate a client upload
(:meth:`MemoryStorage.client_put`) and storage failures (:attr:`faults`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Sequence

from rindle_core import (
    Capability,
    HeadResult,
    InvalidParts,
    MultipartInit,
    PartLimits,
    PresignedRequest,
    ResumableInit,
    ResumableStatus,
    StorageNotFound,
    UploadedPart,
)
from rindle_core.storage import utcnow

ALL = frozenset(Capability)

#: The first bytes of a real PNG (enough for type detection).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(100)


class MemoryStorage:
    backend = "memory"

    def __init__(self, capabilities: frozenset[Capability] = ALL) -> None:
        self.capabilities = capabilities
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.uploads: dict[str, dict[int, bytes]] = {}
        self.resumable: dict[str, bytearray] = {}
        self.calls: list[str] = []
        #: method name -> exception raised (once) by the next call to it
        self.faults: dict[str, Exception] = {}
        self._lock = threading.Lock()

    def _enter(self, name: str) -> None:
        with self._lock:
            self.calls.append(name)
            fault = self.faults.pop(name, None)
        if fault is not None:
            raise fault

    # -- simulated clients --------------------------------------------------------

    def client_put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (data, content_type)

    def client_put_part(self, upload_id: str, number: int, data: bytes) -> str:
        self.uploads[upload_id][number] = data
        return f'"{hash(data) & 0xFFFFFFFF:08x}"'

    # -- adapter --------------------------------------------------------------------

    def head(self, key: str) -> HeadResult:
        self._enter("head")
        try:
            data, ctype = self.objects[key]
        except KeyError:
            raise StorageNotFound(key) from None
        return HeadResult(size=len(data), content_type=ctype)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        self._enter("read_range")
        try:
            return self.objects[key][0][start : start + length]
        except KeyError:
            raise StorageNotFound(key) from None

    def delete(self, key: str) -> None:
        self._enter("delete")
        self.objects.pop(key, None)

    def presign_get(self, key: str, *, expires_in: int) -> PresignedRequest:
        return PresignedRequest(url=f"memory://get/{key}?sig=x", method="GET")

    def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_in: int
    ) -> PresignedRequest:
        self._enter("presign_put")
        headers = {"Content-Type": content_type}
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        return PresignedRequest(
            url=f"memory://put/{key}?sig={secrets.token_hex(8)}",
            method="PUT",
            headers=headers,
            expires_at=utcnow() + dt.timedelta(seconds=expires_in),
        )

    @property
    def part_limits(self) -> PartLimits:
        return PartLimits(1, 1 << 30, 10_000, 1 << 40, etag_required=True)

    def create_multipart(self, key: str, *, content_type: str) -> MultipartInit:
        self._enter("create_multipart")
        upload_id = secrets.token_hex(8)
        self.uploads[upload_id] = {}
        return MultipartInit(upload_id=upload_id)

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        expires_in: int,
        content_length: int | None = None,
    ) -> PresignedRequest:
        return PresignedRequest(
            url=f"memory://part/{upload_id}/{part_number}?sig=x",
            method="PUT",
            part_number=part_number,
            upload_id=upload_id,
        )

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        self._enter("list_parts")
        if upload_id not in self.uploads:
            raise StorageNotFound(upload_id)
        return [
            UploadedPart(n, f'"{hash(d) & 0xFFFFFFFF:08x}"', len(d))
            for n, d in sorted(self.uploads[upload_id].items())
        ]

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[UploadedPart], *, content_type: str
    ) -> None:
        self._enter("complete_multipart")
        held = self.uploads.get(upload_id)
        if held is None:
            raise StorageNotFound(upload_id)
        if any(p.part_number not in held for p in parts):
            raise InvalidParts("a part was never uploaded")
        data = b"".join(held[p.part_number] for p in parts)
        self.objects[key] = (data, content_type)
        del self.uploads[upload_id]

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._enter("abort_multipart")
        self.uploads.pop(upload_id, None)

    def create_resumable(
        self, key: str, *, content_type: str, size: int | None, origin: str | None
    ) -> ResumableInit:
        self._enter("create_resumable")
        uri = f"memory://resumable/{secrets.token_hex(16)}"
        self.resumable[uri] = bytearray()
        return ResumableInit(uri, secrets.token_hex(4), utcnow() + dt.timedelta(days=7))

    def resumable_status(self, key: str, session_uri: str) -> ResumableStatus:
        self._enter("resumable_status")
        if session_uri not in self.resumable:
            raise StorageNotFound("unknown session")
        done = key in self.objects
        return ResumableStatus(
            "complete" if done else "in_progress", len(self.resumable[session_uri])
        )

    def cancel_resumable(self, key: str, session_uri: str) -> None:
        self._enter("cancel_resumable")
        self.resumable.pop(session_uri, None)
