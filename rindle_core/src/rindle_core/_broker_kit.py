"""What the broker contract's flows share: the contract as ``self``, payloads, remote checks.

The flows are mixed into :class:`rindle_core.testing.BrokerContract`; each
one's ``self`` is that contract, as :class:`BrokerSelf` describes it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import pytest

from rindle_core import Asset, Broker, StorageNotFound, VerifyResult
from rindle_core._contract_helpers import fail_unless
from rindle_core.client import UploadClient
from rindle_core.storage import (
    Capability,
    MultipartStorage,
    PresignedRequest,
    ResumableStorage,
    StorageAdapter,
)

if TYPE_CHECKING:
    from rindle_core._broker_contract import BrokerContract

__all__ = [
    "CONTENT_TYPE",
    "PNG",
    "SOME_TIME_LATER",
    "BrokerSelf",
    "assert_no_object",
    "assert_session_cancelled",
    "assert_upload_gone",
    "pdf",
    "stored",
]


class BrokerSelf(Protocol):
    """What the flows use of :class:`~rindle_core.testing.BrokerContract`."""

    @property
    def enforces_create_only(self) -> bool: ...
    @property
    def sets_response_headers(self) -> bool: ...
    @property
    def cancels_resumable_sessions(self) -> bool: ...
    @property
    def chunk_size(self) -> int: ...

    def require(self, adapter: StorageAdapter, *capabilities: Capability) -> None: ...

    def require_multipart(self, adapter: StorageAdapter) -> MultipartStorage: ...

    def require_resumable(self, adapter: StorageAdapter) -> ResumableStorage: ...

    def require_single_put(self, adapter: StorageAdapter) -> None: ...

    def part_size_for(self, adapter: MultipartStorage) -> int: ...

    def write(self, tmp_path: Path, data: bytes, name: str = "upload.pdf") -> Path: ...

    def signer(
        self, broker: Broker, session_id: str, sent: list[int] | None = None
    ) -> Callable[[Sequence[int]], Sequence[PresignedRequest]]: ...

    def settle(
        self, broker: Broker, clock: BrokerContract.Clock, result: VerifyResult
    ) -> Asset: ...

    def upload_single(
        self, broker: Broker, upload_client: UploadClient, data: bytes, *, name: str = "a.pdf"
    ) -> tuple[str, PresignedRequest]: ...


#: The start of a PDF: what promotion's type detection recognises.
_PDF: Final = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
PNG: Final = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00"
CONTENT_TYPE: Final = "application/pdf"
SOME_TIME_LATER: Final = dt.timedelta(days=30)


def pdf(size: int) -> bytes:
    """*size* bytes that promotion detects as a PDF."""
    return (_PDF + os.urandom(max(0, size - len(_PDF))))[:size]


def stored(adapter: StorageAdapter, key: str) -> bytes:
    """The whole object under *key*, read back through the adapter."""
    return adapter.read_range(key, 0, adapter.head(key).size)


def assert_upload_gone(adapter: MultipartStorage, key: str, upload_id: str) -> None:
    """The remote multipart upload is forgotten, or provably holds no part."""
    try:
        held = adapter.list_parts(key, upload_id)
    except StorageNotFound:
        return
    fail_unless(held == [], f"the remote upload still holds parts {[p.part_number for p in held]}")


def assert_session_cancelled(adapter: ResumableStorage, key: str, session_uri: str) -> None:
    """The remote resumable session is unknown, cancelled or expired."""
    try:
        status = adapter.resumable_status(key, session_uri)
    except StorageNotFound:
        return
    fail_unless(status.state == "expired", f"the remote session is still {status.state!r}")


def assert_no_object(adapter: StorageAdapter, key: str) -> None:
    """No object is stored under *key*."""
    with pytest.raises(StorageNotFound):
        adapter.head(key)
