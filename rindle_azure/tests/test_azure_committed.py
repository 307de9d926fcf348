"""committed_parts: the committed block list decoded back into the broker's parts."""

from __future__ import annotations

import pytest
from azure.storage.blob import BlobBlock, BlobServiceClient, BlockState

from rindle_azure import AzureBlobStorage, block_name, new_upload_id
from rindle_azure._committed import decode_committed
from rindle_core import Capability, StorageConflict, StorageNotFound, UploadedPart
from rindle_core.client import UploadClient

KEY = "docs/a.pdf"


def _blocks(upload_id: str, *sizes: int) -> list[tuple[str, int]]:
    return [(block_name(upload_id, n), size) for n, size in enumerate(sizes, 1)]


# -- decoding (no server) ----------------------------------------------------------------


def test_decodes_one_uploads_blocks_in_order() -> None:
    upload = new_upload_id(KEY)
    parts = decode_committed(_blocks(upload, 5, 5, 2), KEY, 12)
    assert parts == [UploadedPart(1, None, 5), UploadedPart(2, None, 5), UploadedPart(3, None, 2)]
    assert decode_committed(_blocks(upload, 5), KEY, 5, upload_id=upload) == [
        UploadedPart(1, None, 5)
    ]


def test_gaps_are_reported_not_filled() -> None:
    """Parts 1 and 3 of 3: the caller compares with the ledger and sees 2 missing."""
    upload = new_upload_id(KEY)
    blocks = [(block_name(upload, 1), 4), (block_name(upload, 3), 4)]
    assert [p.part_number for p in decode_committed(blocks, KEY, 8)] == [1, 3]


def test_an_empty_blob_without_blocks_has_no_parts() -> None:
    assert decode_committed([], KEY, 0) == []


@pytest.mark.parametrize(
    ("blocks", "size", "match"),
    [
        ([("not-a-rindle-block-id-of-any-kind-xxxxx", 3)], 3, "foreign"),
        ([], 10, "whole-blob"),
    ],
    ids=["foreign-id", "put-blob"],
)
def test_blobs_the_broker_never_commits_are_conflicts(
    blocks: list[tuple[str, int]], size: int, match: str
) -> None:
    with pytest.raises(StorageConflict, match=match):
        decode_committed(blocks, KEY, size)


def test_blocks_of_two_uploads_or_of_another_upload_are_conflicts() -> None:
    first, second = new_upload_id(KEY), new_upload_id(KEY)
    mixed = [(block_name(first, 1), 1), (block_name(second, 2), 1)]
    with pytest.raises(StorageConflict, match="not those of this upload"):
        decode_committed(mixed, KEY, 2)
    with pytest.raises(StorageConflict, match="not those of this upload"):
        decode_committed(_blocks(first, 1), KEY, 1, upload_id=second)


def test_an_upload_id_of_another_blob_is_foreign() -> None:
    other = new_upload_id("docs/other.pdf")
    with pytest.raises(StorageConflict, match="foreign"):
        decode_committed(_blocks(other, 1), KEY, 1)


def test_repeated_or_reordered_parts_are_conflicts() -> None:
    upload = new_upload_id(KEY)
    one, two = block_name(upload, 1), block_name(upload, 2)
    with pytest.raises(StorageConflict, match="order"):
        decode_committed([(one, 1), (one, 1)], KEY, 2)
    with pytest.raises(StorageConflict, match="order"):
        decode_committed([(two, 1), (one, 1)], KEY, 2)


def test_sizes_must_add_up_to_the_blob() -> None:
    upload = new_upload_id(KEY)
    with pytest.raises(StorageConflict, match="size"):
        decode_committed(_blocks(upload, 3), KEY, 4)


# -- against Azurite ---------------------------------------------------------------------


def test_committed_parts_is_declared(adapter: AzureBlobStorage) -> None:
    assert Capability.COMMITTED_PARTS in adapter.capabilities


def test_the_brokers_commit_reads_back_as_the_part_list(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="application/pdf")
    for number, chunk in ((2, b"BBBB"), (1, b"AAAAAA"), (3, b"C")):
        upload_client.put_bytes(
            adapter.presign_part(key, init.upload_id, number, expires_in=60), chunk
        )
    parts = [UploadedPart(1), UploadedPart(2), UploadedPart(3)]
    adapter.complete_multipart(key, init.upload_id, parts, content_type="application/pdf")
    expected = [UploadedPart(1, None, 6), UploadedPart(2, None, 4), UploadedPart(3, None, 1)]
    assert adapter.committed_parts(key) == expected
    assert adapter.committed_parts(key, upload_id=init.upload_id) == expected
    with pytest.raises(StorageConflict):
        adapter.committed_parts(key, upload_id=new_upload_id(key))


def test_a_subset_commit_shows_the_missing_part(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    init = adapter.create_multipart(key, content_type="text/plain")
    for number in (1, 2, 3):
        request = adapter.presign_part(key, init.upload_id, number, expires_in=60)
        upload_client.put_bytes(request, b"xy")
    adapter.complete_multipart(
        key, init.upload_id, [UploadedPart(1), UploadedPart(3)], content_type="text/plain"
    )
    assert [p.part_number for p in adapter.committed_parts(key)] == [1, 3]


def test_a_single_put_upload_is_not_a_block_commit(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    request = adapter.presign_put(key, content_type="text/plain", content_length=3, expires_in=60)
    upload_client.put_bytes(request, b"abc")
    with pytest.raises(StorageConflict, match="whole-blob"):
        adapter.committed_parts(key)


def test_blocks_committed_by_someone_else_are_a_conflict(
    adapter: AzureBlobStorage, blob_service: BlobServiceClient, key: str
) -> None:
    blob = blob_service.get_blob_client(adapter.container_name, key)
    blob.stage_block("YWJj", b"abc")
    blob.commit_block_list([BlobBlock("YWJj", BlockState.UNCOMMITTED)])
    with pytest.raises(StorageConflict, match="foreign"):
        adapter.committed_parts(key)


@pytest.mark.parametrize("blob_type", ["AppendBlob", "PageBlob"])
def test_a_blob_of_another_type_is_a_conflict(
    adapter: AzureBlobStorage, blob_service: BlobServiceClient, key: str, blob_type: str
) -> None:
    blob = blob_service.get_blob_client(adapter.container_name, key)
    if blob_type == "AppendBlob":
        blob.create_append_blob()
    else:
        blob.create_page_blob(512)
    with pytest.raises(StorageConflict, match="not a block blob"):
        adapter.committed_parts(key)


def test_a_missing_blob_is_not_found(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    with pytest.raises(StorageNotFound):
        adapter.committed_parts(key)
    init = adapter.create_multipart(key, content_type="text/plain")
    upload_client.put_bytes(adapter.presign_part(key, init.upload_id, 1, expires_in=60), b"x")
    with pytest.raises(StorageNotFound):  # staged blocks are not a committed blob
        adapter.committed_parts(key)
