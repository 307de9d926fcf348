"""AzureBlobStorage against Azurite: single uploads, staged blocks, reads, errors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from rindle_azure import AzureBlobStorage, create_storage
from rindle_core import (
    Capability,
    InvalidArgument,
    InvalidParts,
    PresignedRequest,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
    TransferFailed,
    UploadedPart,
)
from rindle_core.client import UploadClient
from rindle_core.storage import (
    capabilities_of,
    supports_committed_parts,
    supports_multipart,
    supports_resumable,
)

if TYPE_CHECKING:
    from conftest import Azurite

PART = 64 * 1024


def _write(tmp_path: Path, size: int, name: str = "data.bin") -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def _blocks(service: BlobServiceClient, container: str, key: str) -> tuple[list[str], list[str]]:
    committed, uncommitted = service.get_blob_client(container, key).get_block_list("all")
    return [str(b.id) for b in committed], [str(b.id) for b in uncommitted]


def _stage(
    adapter: AzureBlobStorage,
    client: UploadClient,
    key: str,
    upload_id: str,
    parts: dict[int, bytes],
) -> None:
    for number, chunk in parts.items():
        client.put_bytes(adapter.presign_part(key, upload_id, number, expires_in=300), chunk)


# -- capabilities and limits ----------------------------------------------------


def test_capabilities_are_what_the_adapter_implements(adapter: AzureBlobStorage) -> None:
    """Blocks and committed block lists; no resumable sessions (and no stubs for them)."""
    assert adapter.backend == "azure"
    assert (
        capabilities_of(adapter)
        == adapter.capabilities
        == {
            Capability.PRESIGNED_PUT,
            Capability.MULTIPART_UPLOAD,
            Capability.HEAD,
            Capability.RANGE_READ,
            Capability.DELETE,
            Capability.SIGNED_GET,
            Capability.COMMITTED_PARTS,
        }
    )
    assert supports_multipart(adapter) and supports_committed_parts(adapter)
    assert not supports_resumable(adapter)
    for name in ("create_resumable", "resumable_status", "cancel_resumable"):
        assert not hasattr(adapter, name)
    limits = adapter.part_limits
    assert limits.max_parts == 50_000
    assert limits.max_part_size == 4000 * 1024 * 1024
    assert limits.max_object_size == 50_000 * 4000 * 1024 * 1024
    assert limits.etag_required is False


def test_signed_urls_live_at_most_seven_days(adapter: AzureBlobStorage, key: str) -> None:
    week = 7 * 24 * 3600
    assert adapter.max_expires_in == week
    request = adapter.presign_put(key, content_type="text/plain", content_length=1, expires_in=week)
    assert request.expires_at is not None
    for expires_in in (0, week + 1):
        with pytest.raises(InvalidArgument):
            adapter.presign_put(
                key, content_type="text/plain", content_length=1, expires_in=expires_in
            )
        with pytest.raises(InvalidArgument):
            adapter.presign_get(key, expires_in=expires_in)


# -- single uploads -------------------------------------------------------------


def test_presigned_put_uploads_a_block_blob(
    adapter: AzureBlobStorage, upload_client: UploadClient, tmp_path: Path, key: str
) -> None:
    path, data = _write(tmp_path, 70_000)
    request = adapter.presign_put(
        key, content_type="application/pdf", content_length=len(data), expires_in=300
    )
    assert request.method == "PUT"
    assert request.headers == {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/pdf"}
    assert request.expires_at is not None and request.expires_at.microsecond == 0
    upload_client.put(request, path)

    head = adapter.head(key)
    assert head.size == len(data)
    assert head.content_type == "application/pdf"
    assert head.etag
    assert adapter.read_range(key, 0, 16) == data[:16]
    assert adapter.read_range(key, 69_990, 100) == data[69_990:]


def test_a_retried_put_after_success_is_refused_and_the_blob_kept(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    """Create-only by default: a retry of an upload that succeeded answers 403
    (the client then asks the broker to verify; the blob is there)."""
    request = adapter.presign_put(key, content_type="text/plain", content_length=5, expires_in=300)
    assert "sp=c&" in request.url
    upload_client.put_bytes(request, b"first")
    with pytest.raises(TransferFailed) as info:
        upload_client.put_bytes(request, b"again")
    assert info.value.status == 403
    assert adapter.read_range(key, 0, 5) == b"first"


def test_presign_put_refuses_what_one_put_blob_cannot_hold(
    adapter: AzureBlobStorage, key: str
) -> None:
    with pytest.raises(InvalidArgument):
        adapter.presign_put(
            key, content_type="text/plain", content_length=5001 * 1024 * 1024, expires_in=60
        )
    with pytest.raises(InvalidArgument):
        adapter.presign_put(key, content_type="text/plain\r\nX: y", content_length=1, expires_in=60)
    with pytest.raises(InvalidArgument):
        adapter.presign_put(key, content_type="text/plain", content_length=1, expires_in=0)


def test_presigned_get_reads_the_blob(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_client.put_bytes(
        adapter.presign_put(key, content_type="text/plain", content_length=5, expires_in=60),
        b"hello",
    )
    request = adapter.presign_get(key, expires_in=60)
    assert request.method == "GET"
    response = httpx.get(request.url, headers=dict(request.headers))
    assert response.status_code == 200
    assert response.content == b"hello"


# -- reads and deletes ------------------------------------------------------------


def test_missing_blob_is_storage_not_found(adapter: AzureBlobStorage, key: str) -> None:
    with pytest.raises(StorageNotFound):
        adapter.head(key)
    with pytest.raises(StorageNotFound):
        adapter.read_range(key, 0, 10)
    with pytest.raises(StorageNotFound):
        adapter.read_range(key, 0, 0)


def test_read_range_past_the_end_and_of_an_empty_blob(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_client.put_bytes(
        adapter.presign_put(key, content_type="text/plain", content_length=0, expires_in=60), b""
    )
    assert adapter.head(key).size == 0
    assert adapter.read_range(key, 0, 4096) == b""
    other = key + ".2"
    upload_client.put_bytes(
        adapter.presign_put(other, content_type="text/plain", content_length=3, expires_in=60),
        b"abc",
    )
    assert adapter.read_range(other, 10, 5) == b""
    with pytest.raises(InvalidArgument):
        adapter.read_range(other, -1, 5)


def test_delete_is_idempotent(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_client.put_bytes(
        adapter.presign_put(key, content_type="text/plain", content_length=1, expires_in=60), b"x"
    )
    adapter.delete(key)
    with pytest.raises(StorageNotFound):
        adapter.head(key)
    adapter.delete(key)  # already gone: success


def test_missing_container_is_not_mistaken_for_a_missing_blob(
    azurite: Azurite, container_name: str, key: str
) -> None:
    storage = create_storage(container=container_name, connection_string=azurite.connection_string)
    with pytest.raises(StorageError) as info:
        storage.head(key)
    assert not isinstance(info.value, StorageNotFound)
    assert "ContainerNotFound" in str(info.value)
    with pytest.raises(StorageError):
        storage.delete(key)


def test_unreachable_service_is_storage_unavailable(
    azurite: Azurite, unused_port: int, container_name: str, key: str
) -> None:
    storage = create_storage(
        container=container_name,
        account_url=f"http://127.0.0.1:{unused_port}/{azurite.account}",
        account_key=azurite.account_key,
        retries=0,
    )
    with pytest.raises(StorageUnavailable) as info:
        storage.head(key)
    assert azurite.account_key not in str(info.value)


# -- staged blocks ------------------------------------------------------------------


def test_create_multipart_makes_no_remote_call(
    adapter: AzureBlobStorage, blob_service: BlobServiceClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="application/pdf")
    assert init.part_headers == {}
    assert len(init.upload_id) == 24
    assert adapter.create_multipart(key, content_type="application/pdf").upload_id != init.upload_id
    with pytest.raises(ResourceNotFoundError):
        blob_service.get_blob_client(adapter.container_name, key).get_block_list("all")
    assert adapter.list_parts(key, init.upload_id) == []


def test_presign_part_is_a_put_block_url(adapter: AzureBlobStorage, key: str) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    request = adapter.presign_part(key, init.upload_id, 7, expires_in=60, content_length=10)
    assert request.method == "PUT"
    assert request.headers == {}
    assert request.part_number == 7
    assert request.upload_id == init.upload_id
    assert "comp=block&blockid=" in request.url
    assert "sr=b" in request.url and "sp=w" in request.url
    for bad in (0, 50_001, -1):
        with pytest.raises(InvalidArgument):
            adapter.presign_part(key, init.upload_id, bad, expires_in=60)
    adapter.presign_part(key, init.upload_id, 50_000, expires_in=60)
    for size in (0, 4000 * 1024 * 1024 + 1):  # Azure refuses empty and oversized blocks
        with pytest.raises(InvalidArgument):
            adapter.presign_part(key, init.upload_id, 1, expires_in=60, content_length=size)
    with pytest.raises(InvalidArgument):
        adapter.presign_part(key, "not-an-upload-id", 1, expires_in=60)
    with pytest.raises(InvalidArgument):  # an upload id is bound to its blob
        adapter.presign_part(key + ".other", init.upload_id, 1, expires_in=60)


def test_blocks_uploaded_in_parallel_then_committed(
    adapter: AzureBlobStorage, upload_client: UploadClient, tmp_path: Path, key: str
) -> None:
    path, data = _write(tmp_path, 5 * PART + 123)
    init = adapter.create_multipart(key, content_type="application/pdf")

    def sign(numbers: Sequence[int]) -> list[PresignedRequest]:
        return [adapter.presign_part(key, init.upload_id, n, expires_in=300) for n in numbers]

    parts = upload_client.upload_parts(path, part_size=PART, sign=sign, concurrency=4, sign_batch=4)
    assert [p.part_number for p in parts] == [1, 2, 3, 4, 5, 6]

    listed = adapter.list_parts(key, init.upload_id)
    assert [(p.part_number, p.size) for p in listed] == [
        (n, p.size) for n, p in enumerate(parts, 1)
    ]
    assert sum(p.size or 0 for p in listed) == len(data)
    with pytest.raises(StorageNotFound):
        adapter.head(key)  # staged blocks are not a blob yet

    adapter.complete_multipart(key, init.upload_id, parts, content_type="application/pdf")
    head = adapter.head(key)
    assert head.size == len(data)
    assert head.content_type == "application/pdf"
    assert adapter.read_range(key, 0, len(data)) == data
    with pytest.raises(StorageNotFound):
        adapter.list_parts(key, init.upload_id)  # committed: the upload is over


def test_block_ids_are_fixed_width_base64_of_the_part_number(
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    blob_service: BlobServiceClient,
    key: str,
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {1: b"a", 12: b"b", 50_000: b"c"})
    _, uncommitted = _blocks(blob_service, adapter.container_name, key)
    assert sorted(uncommitted) == [
        f"{init.upload_id}.00001",
        f"{init.upload_id}.00012",
        f"{init.upload_id}.50000",
    ]
    assert [p.part_number for p in adapter.list_parts(key, init.upload_id)] == [1, 12, 50_000]


def test_commit_follows_part_order_not_upload_order(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {3: b"C", 1: b"A", 2: b"B"})
    parts = [UploadedPart(3), UploadedPart(1), UploadedPart(2)]
    adapter.complete_multipart(key, init.upload_id, parts, content_type="text/plain")
    assert adapter.read_range(key, 0, 10) == b"ABC"


def test_complete_naming_a_block_never_uploaded_is_invalid_parts(
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    blob_service: BlobServiceClient,
    key: str,
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {1: b"A", 2: b"B"})
    with pytest.raises(InvalidParts, match="3"):
        adapter.complete_multipart(
            key,
            init.upload_id,
            [UploadedPart(1), UploadedPart(2), UploadedPart(3)],
            content_type="text/plain",
        )
    with pytest.raises(StorageNotFound):
        adapter.head(key)  # nothing was committed
    committed, uncommitted = _blocks(blob_service, adapter.container_name, key)
    assert committed == [] and len(uncommitted) == 2
    # The upload can still be completed with the blocks it holds.
    adapter.complete_multipart(
        key, init.upload_id, [UploadedPart(1), UploadedPart(2)], content_type="text/plain"
    )
    assert adapter.read_range(key, 0, 2) == b"AB"


def test_complete_with_a_wrong_part_size_is_invalid_parts(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {1: b"AAAA"})
    with pytest.raises(InvalidParts, match="size"):
        adapter.complete_multipart(
            key, init.upload_id, [UploadedPart(1, None, 3)], content_type="text/plain"
        )
    with pytest.raises(StorageNotFound):
        adapter.head(key)


@pytest.mark.parametrize(
    "parts",
    [[], [UploadedPart(1), UploadedPart(1)], [UploadedPart(0)], [UploadedPart(50_001)]],
    ids=["empty", "duplicate", "zero", "too-high"],
)
def test_malformed_part_lists_are_invalid_parts(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str, parts: list[UploadedPart]
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {1: b"A"})
    with pytest.raises(InvalidParts):
        adapter.complete_multipart(key, init.upload_id, parts, content_type="text/plain")


def test_retried_complete_after_commit_is_storage_not_found(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {1: b"A", 2: b"B"})
    parts = [UploadedPart(1), UploadedPart(2)]
    adapter.complete_multipart(key, init.upload_id, parts, content_type="text/plain")
    etag = adapter.head(key).etag
    with pytest.raises(StorageNotFound):
        adapter.complete_multipart(key, init.upload_id, parts, content_type="text/plain")
    with pytest.raises(StorageNotFound):
        adapter.list_parts(key, init.upload_id)
    assert adapter.head(key).etag == etag  # the blob was not rewritten


def test_unknown_upload_is_storage_not_found(adapter: AzureBlobStorage, key: str) -> None:
    with pytest.raises(StorageNotFound):
        adapter.list_parts(key, "no-such-upload")
    with pytest.raises(StorageNotFound):
        adapter.complete_multipart(
            key, "no-such-upload", [UploadedPart(1)], content_type="text/plain"
        )
    fresh = adapter.create_multipart(key, content_type="text/plain").upload_id
    with pytest.raises(StorageNotFound):
        adapter.complete_multipart(key, fresh, [UploadedPart(1)], content_type="text/plain")
    with pytest.raises(StorageNotFound):
        adapter.list_parts(key + ".other", fresh)  # an upload id is bound to its blob
    with pytest.raises(StorageNotFound):
        adapter.list_parts(key, "https://example.invalid/not-an-upload-id")


def test_blocks_of_another_upload_are_not_listed(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    first = adapter.create_multipart(key, content_type="text/plain").upload_id
    second = adapter.create_multipart(key, content_type="text/plain").upload_id
    _stage(adapter, upload_client, key, first, {1: b"A", 2: b"B"})
    _stage(adapter, upload_client, key, second, {1: b"Z"})
    assert [p.part_number for p in adapter.list_parts(key, first)] == [1, 2]
    assert [(p.part_number, p.size) for p in adapter.list_parts(key, second)] == [(1, 1)]
    adapter.complete_multipart(
        key, first, [UploadedPart(1), UploadedPart(2)], content_type="text/plain"
    )
    assert adapter.read_range(key, 0, 5) == b"AB"


def test_restaging_a_part_replaces_its_block(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {1: b"old-bytes"})
    _stage(adapter, upload_client, key, init.upload_id, {1: b"new"})
    assert [(p.part_number, p.size) for p in adapter.list_parts(key, init.upload_id)] == [(1, 3)]
    adapter.complete_multipart(key, init.upload_id, [UploadedPart(1)], content_type="text/plain")
    assert adapter.read_range(key, 0, 20) == b"new"


# -- abort ----------------------------------------------------------------------------


def test_abort_discards_staged_blocks_and_leaves_no_blob(
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    blob_service: BlobServiceClient,
    key: str,
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {1: b"A", 2: b"B"})
    adapter.abort_multipart(key, init.upload_id)
    with pytest.raises(ResourceNotFoundError):
        blob_service.get_blob_client(adapter.container_name, key).get_block_list("all")
    with pytest.raises(StorageNotFound):
        adapter.head(key)
    assert adapter.list_parts(key, init.upload_id) == []
    adapter.abort_multipart(key, init.upload_id)  # idempotent
    adapter.abort_multipart(key, "never-generated")


def test_abort_of_a_never_started_upload_is_a_no_op(
    adapter: AzureBlobStorage, blob_service: BlobServiceClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    adapter.abort_multipart(key, init.upload_id)
    with pytest.raises(ResourceNotFoundError):
        blob_service.get_blob_client(adapter.container_name, key).get_block_list("all")


def test_abort_keeps_a_committed_blob(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {1: b"A"})
    adapter.complete_multipart(key, init.upload_id, [UploadedPart(1)], content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {2: b"late"})  # staged after the commit
    adapter.abort_multipart(key, init.upload_id)
    assert adapter.read_range(key, 0, 5) == b"A"


def test_completing_an_aborted_upload_is_storage_not_found(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    _stage(adapter, upload_client, key, init.upload_id, {1: b"A"})
    adapter.abort_multipart(key, init.upload_id)
    with pytest.raises(StorageNotFound):
        adapter.complete_multipart(
            key, init.upload_id, [UploadedPart(1)], content_type="text/plain"
        )
