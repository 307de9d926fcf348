"""S3Storage against a real S3-compatible server (moto), bytes sent over plain HTTP."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from rindle_core import (
    Capability,
    InvalidArgument,
    InvalidParts,
    StorageConflict,
    StorageError,
    StorageNotFound,
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
from rindle_s3 import S3_PART_LIMITS, S3Storage

MIB = 1024 * 1024


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_digest(admin_client: Any, bucket: str, key: str) -> str:
    body = admin_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return hashlib.sha256(body).hexdigest()


def test_declares_exactly_what_it_implements(storage: S3Storage) -> None:
    """Multipart and form POSTs, no resumable sessions, no committed part lists (S3 keeps none)."""
    expected = {
        Capability.PRESIGNED_PUT,
        Capability.PRESIGNED_POST,
        Capability.MULTIPART_UPLOAD,
        Capability.HEAD,
        Capability.RANGE_READ,
        Capability.DELETE,
        Capability.SIGNED_GET,
    }
    assert storage.backend == "s3"
    assert storage.capabilities == expected
    assert capabilities_of(storage) == expected
    assert supports_multipart(storage)
    assert not supports_resumable(storage)
    assert not supports_committed_parts(storage)
    for missing in ("create_resumable", "resumable_status", "cancel_resumable", "committed_parts"):
        assert not hasattr(storage, missing)


def test_part_limits_are_s3s(storage: S3Storage) -> None:
    # A custom endpoint binds no part checksums unless asked (S3-compatible stores differ).
    assert storage.part_limits == attrs.evolve(S3_PART_LIMITS, checksum_algorithms=frozenset())
    assert S3_PART_LIMITS.checksum_algorithms == {"crc32"}
    assert storage.part_limits.min_part_size == 5 * MIB
    assert storage.part_limits.max_part_size == 5 * 1024 * MIB
    assert storage.part_limits.max_parts == 10_000
    assert storage.part_limits.max_object_size == 5 * 1024**4
    assert storage.part_limits.etag_required


# -- single PUT ------------------------------------------------------------------


def test_presigned_put_then_head_read_get_delete(
    storage: S3Storage, unique_key: str, make_file: Callable[..., Path], admin_client: Any
) -> None:
    path = make_file(70_000, head=b"%PDF-1.7\n")
    request = storage.presign_put(
        unique_key, content_type="application/pdf", content_length=70_000, expires_in=600
    )
    assert request.method == "PUT"
    assert request.headers == {
        "Content-Type": "application/pdf",
        "Content-Length": "70000",
        "If-None-Match": "*",
    }
    with UploadClient() as client:
        client.put(request, path)

    head = storage.head(unique_key)
    assert head.size == 70_000
    assert head.content_type == "application/pdf"
    assert head.etag == '"' + hashlib.md5(path.read_bytes()).hexdigest() + '"'  # noqa: S324
    assert storage.read_range(unique_key, 0, 9) == b"%PDF-1.7\n"
    assert storage.read_range(unique_key, 69_990, 100) == path.read_bytes()[69_990:]
    assert storage.read_range(unique_key, 80_000, 10) == b""
    assert stored_digest(admin_client, storage.bucket, unique_key) == sha256(path)

    get = storage.presign_get(unique_key, expires_in=60)
    assert httpx.get(get.url).content == path.read_bytes()

    storage.delete(unique_key)
    with pytest.raises(StorageNotFound):
        storage.head(unique_key)
    storage.delete(unique_key)  # idempotent


def test_empty_object(storage: S3Storage, unique_key: str) -> None:
    request = storage.presign_put(
        unique_key, content_type="text/plain", content_length=0, expires_in=60
    )
    UploadClient().put_bytes(request, b"")
    assert storage.head(unique_key).size == 0
    assert storage.read_range(unique_key, 0, 512) == b""
    assert storage.read_range(unique_key, 0, 0) == b""


def test_missing_objects_are_not_found(storage: S3Storage, unique_key: str) -> None:
    with pytest.raises(StorageNotFound):
        storage.head(unique_key)
    with pytest.raises(StorageNotFound):
        storage.read_range(unique_key, 0, 10)
    with pytest.raises(StorageNotFound):
        storage.read_range(unique_key, 0, 0)
    storage.delete(unique_key)


def test_a_missing_bucket_is_an_error_not_a_missing_object(
    make_storage: Callable[..., S3Storage],
) -> None:
    """Every call against a missing bucket says NoSuchBucket; none says "no such object".

    A HEAD has no body, so S3 answers a missing bucket and a missing key
    alike (404); the adapter asks again with a one-byte GET to tell them apart.
    """
    storage = make_storage(f"rindle-missing-{uuid.uuid4().hex[:12]}")
    calls: list[Callable[[], object]] = [
        lambda: storage.create_multipart("k", content_type="a/b"),
        lambda: storage.head("k"),
        lambda: storage.read_range("k", 0, 10),
        lambda: storage.read_range("k", 0, 0),
        lambda: storage.read_range("k", 0, 10, version='"abc"'),
        lambda: storage.delete("k"),
    ]
    for call in calls:
        with pytest.raises(StorageError) as info:
            call()
        assert not isinstance(info.value, StorageNotFound)
        assert "NoSuchBucket" in str(info.value)


# -- create-only and versions ----------------------------------------------------


def test_a_presigned_put_cannot_replace_an_object(
    storage: S3Storage, unique_key: str, admin_client: Any
) -> None:
    """Issue 9 (1): a second PUT with the same still-valid URL used to replace the object."""
    request = storage.presign_put(
        unique_key, content_type="image/png", content_length=8, expires_in=600
    )
    assert request.headers["If-None-Match"] == "*"
    UploadClient().put_bytes(request, b"\x89PNG\r\n\x1a\n")
    before = storage.head(unique_key)
    with pytest.raises(TransferFailed) as info:
        UploadClient().put_bytes(request, b"<script>")  # same URL, same length
    assert info.value.status == 412
    fresh = storage.presign_put(
        unique_key, content_type="image/png", content_length=8, expires_in=600
    )
    with pytest.raises(TransferFailed):
        UploadClient().put_bytes(fresh, b"<script>")
    assert storage.head(unique_key) == before
    body = admin_client.get_object(Bucket=storage.bucket, Key=unique_key)["Body"].read()
    assert body == b"\x89PNG\r\n\x1a\n"


def test_head_version_is_the_etag_without_versioning(storage: S3Storage, unique_key: str) -> None:
    UploadClient().put_bytes(
        storage.presign_put(unique_key, content_type="a/b", content_length=3, expires_in=60),
        b"one",
    )
    head = storage.head(unique_key)
    assert head.version == head.etag == '"' + hashlib.md5(b"one").hexdigest() + '"'  # noqa: S324


def test_read_range_bound_to_an_etag(storage: S3Storage, unique_key: str) -> None:
    put = storage.presign_put(unique_key, content_type="a/b", content_length=5, expires_in=60)
    UploadClient().put_bytes(put, b"first")
    stale = storage.head(unique_key).version
    storage.delete(unique_key)
    put = storage.presign_put(unique_key, content_type="a/b", content_length=6, expires_in=60)
    UploadClient().put_bytes(put, b"second")
    current = storage.head(unique_key).version
    assert stale is not None and current is not None and stale != current
    assert storage.read_range(unique_key, 0, 100, version=current) == b"second"
    assert storage.read_range(unique_key, 6, 10, version=current) == b""  # past the end
    assert storage.read_range(unique_key, 0, 0, version=current) == b""
    for start, length in ((0, 3), (6, 10), (0, 0)):
        with pytest.raises(StorageConflict):
            storage.read_range(unique_key, start, length, version=stale)
    storage.delete(unique_key)
    with pytest.raises(StorageNotFound):
        storage.read_range(unique_key, 0, 3, version=current)


@pytest.fixture
def versioned_storage(
    make_storage: Callable[..., S3Storage], bucket: str, admin_client: Any
) -> S3Storage:
    admin_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return make_storage(bucket)


def test_a_versioned_bucket_binds_reads_and_downloads_to_the_version_id(
    versioned_storage: S3Storage, unique_key: str, admin_client: Any
) -> None:
    storage = versioned_storage
    UploadClient().put_bytes(
        storage.presign_put(unique_key, content_type="text/plain", content_length=8, expires_in=60),
        b"verified",
    )
    head = storage.head(unique_key)
    assert head.version is not None and not head.version.startswith('"')
    assert head.version != head.etag
    assert storage.read_range(unique_key, 0, 8, version=head.version) == b"verified"
    download = storage.presign_get(unique_key, expires_in=60, version=head.version)
    assert "versionId=" in download.url

    # Someone with the bucket's own credentials replaces the object.
    admin_client.put_object(Bucket=storage.bucket, Key=unique_key, Body=b"replaced")
    assert storage.head(unique_key).version != head.version
    with pytest.raises(StorageConflict):
        storage.read_range(unique_key, 0, 8, version=head.version)
    with pytest.raises(StorageConflict):
        storage.read_range(unique_key, 0, 0, version=head.version)
    # The download URL still serves the verified bytes.
    assert httpx.get(download.url).content == b"verified"


def test_presign_get_serves_the_given_type_and_disposition(
    storage: S3Storage, unique_key: str
) -> None:
    UploadClient().put_bytes(
        storage.presign_put(unique_key, content_type="text/html", content_length=6, expires_in=60),
        b"<html>",
    )
    get = storage.presign_get(
        unique_key,
        expires_in=60,
        version=storage.head(unique_key).version,
        content_type="text/plain",
        content_disposition='attachment; filename="page.txt"',
    )
    response = httpx.get(get.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["content-disposition"] == 'attachment; filename="page.txt"'


@pytest.mark.parametrize("bad", ["text/plain\r\nX-Evil: 1", "a\x00b", "", "r\u00e9sum\u00e9"])
def test_presign_get_refuses_what_is_not_a_header_value(storage: S3Storage, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        storage.presign_get("k", expires_in=60, content_type=bad)
    with pytest.raises(InvalidArgument):
        storage.presign_get("k", expires_in=60, content_disposition=bad)


@pytest.mark.parametrize(("start", "length"), [(-1, 10), (0, -1)])
def test_read_range_rejects_negative_arguments(storage: S3Storage, start: int, length: int) -> None:
    with pytest.raises(InvalidArgument):
        storage.read_range("k", start, length)


def test_presign_rejects_bad_arguments(storage: S3Storage) -> None:
    with pytest.raises(InvalidArgument):
        storage.presign_put("k", content_type="a/b", content_length=None, expires_in=0)
    with pytest.raises(InvalidArgument):
        storage.presign_put("k", content_type="a/b", content_length=None, expires_in=604_801)
    with pytest.raises(InvalidArgument):
        storage.presign_put("k", content_type="a/b", content_length=5 * 1024**3 + 1, expires_in=60)
    for number in (0, 10_001, -3):
        with pytest.raises(InvalidArgument):
            storage.presign_part("k", "u", number, expires_in=60)
    with pytest.raises(InvalidArgument):
        storage.presign_part("k", "", 1, expires_in=60)


# -- multipart -------------------------------------------------------------------


def _sign_parts(storage: S3Storage, key: str, upload_id: str) -> Callable[..., Any]:
    return lambda numbers: [
        storage.presign_part(key, upload_id, n, expires_in=600) for n in numbers
    ]


def test_multipart_parallel_out_of_order_then_complete(
    storage: S3Storage, unique_key: str, make_file: Callable[..., Path], admin_client: Any
) -> None:
    path = make_file(3 * 5 * MIB + 4321)
    init = storage.create_multipart(unique_key, content_type="video/mp4")
    assert init.part_headers == {}
    parts = UploadClient().upload_parts(
        path,
        part_size=5 * MIB,
        sign=_sign_parts(storage, unique_key, init.upload_id),
        concurrency=4,
        sign_batch=2,
    )
    assert [p.part_number for p in parts] == [1, 2, 3, 4]
    listed = storage.list_parts(unique_key, init.upload_id)
    assert [(p.part_number, p.etag, p.size) for p in listed] == [
        (1, parts[0].etag, 5 * MIB),
        (2, parts[1].etag, 5 * MIB),
        (3, parts[2].etag, 5 * MIB),
        (4, parts[3].etag, 4321),
    ]
    storage.complete_multipart(
        unique_key, init.upload_id, list(reversed(parts)), content_type="video/mp4"
    )
    head = storage.head(unique_key)
    assert head.size == path.stat().st_size
    assert head.content_type == "video/mp4"
    assert head.etag is not None and head.etag.endswith('-4"')
    assert stored_digest(admin_client, storage.bucket, unique_key) == sha256(path)


def test_resume_after_interruption_uploads_only_missing_parts(
    storage: S3Storage, unique_key: str, make_file: Callable[..., Path], admin_client: Any
) -> None:
    path = make_file(3 * 5 * MIB + 10)
    init = storage.create_multipart(unique_key, content_type="application/octet-stream")
    sign = _sign_parts(storage, unique_key, init.upload_id)
    UploadClient().upload_parts(path, part_size=5 * MIB, sign=sign, skip={1, 3})  # "crash"

    done = storage.list_parts(unique_key, init.upload_id)  # the client lost its ETags
    assert [p.part_number for p in done] == [2, 4]
    signed: list[int] = []

    def counting_sign(numbers: Any) -> Any:
        signed.extend(numbers)
        return sign(numbers)

    UploadClient().upload_parts(
        path, part_size=5 * MIB, sign=counting_sign, skip={p.part_number for p in done}
    )
    assert signed == [1, 3]
    storage.complete_multipart(
        unique_key,
        init.upload_id,
        storage.list_parts(unique_key, init.upload_id),
        content_type="application/octet-stream",
    )
    assert stored_digest(admin_client, storage.bucket, unique_key) == sha256(path)


def test_list_parts_follows_pages(
    make_storage: Callable[..., S3Storage], bucket: str, unique_key: str
) -> None:
    storage = make_storage(bucket)
    storage.list_parts_page_size = 2
    init = storage.create_multipart(unique_key, content_type="a/b")
    client = UploadClient()
    for number in (5, 1, 3, 2, 4):
        client.put_bytes(
            storage.presign_part(unique_key, init.upload_id, number, expires_in=60), b"x" * number
        )
    assert [(p.part_number, p.size) for p in storage.list_parts(unique_key, init.upload_id)] == [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
        (5, 5),
    ]


def test_complete_retried_converges_on_the_same_object(
    storage: S3Storage, unique_key: str, make_file: Callable[..., Path], admin_client: Any
) -> None:
    """A complete retried after a timeout or crash succeeds again or sees NoSuchUpload.

    S3 answers a repeated complete with 200 for a while, then NoSuchUpload;
    either way the object is the one the first call assembled (the broker
    HEADs it on StorageNotFound).
    """
    path = make_file(5 * MIB + 1)
    init = storage.create_multipart(unique_key, content_type="a/b")
    parts = UploadClient().upload_parts(
        path, part_size=5 * MIB, sign=_sign_parts(storage, unique_key, init.upload_id)
    )
    storage.complete_multipart(unique_key, init.upload_id, parts, content_type="a/b")
    first = storage.head(unique_key)
    for _ in range(2):
        with contextlib.suppress(StorageNotFound):
            storage.complete_multipart(unique_key, init.upload_id, parts, content_type="a/b")
        assert storage.head(unique_key) == first
    storage.abort_multipart(unique_key, init.upload_id)  # "no such upload" is done
    assert storage.head(unique_key) == first
    assert stored_digest(admin_client, storage.bucket, unique_key) == sha256(path)


def test_complete_rejects_bad_part_lists_locally(storage: S3Storage) -> None:
    good = UploadedPart(1, '"e1"')
    cases = [
        [],
        [good, UploadedPart(1, '"e2"')],
        [UploadedPart(0, '"e"')],
        [UploadedPart(10_001, '"e"')],
        [good, UploadedPart(2, None)],
        [good, UploadedPart(2, "")],
    ]
    for parts in cases:
        with pytest.raises(InvalidParts):
            storage.complete_multipart("k", "never-sent", parts, content_type="a/b")


def test_complete_with_a_wrong_etag_or_small_part_is_invalid_parts(
    storage: S3Storage, unique_key: str
) -> None:
    init = storage.create_multipart(unique_key, content_type="a/b")
    client = UploadClient()
    etags = [
        client.put_bytes(
            storage.presign_part(unique_key, init.upload_id, n, expires_in=60), b"y" * 10
        ).headers["ETag"]
        for n in (1, 2)
    ]
    with pytest.raises(InvalidParts, match="InvalidPart"):
        storage.complete_multipart(
            unique_key,
            init.upload_id,
            [UploadedPart(1, etags[0]), UploadedPart(2, '"0000"')],
            content_type="a/b",
        )
    with pytest.raises(InvalidParts, match="EntityTooSmall"):
        storage.complete_multipart(
            unique_key,
            init.upload_id,
            [UploadedPart(1, etags[0]), UploadedPart(2, etags[1])],
            content_type="a/b",
        )
    # the upload is still there to fix and retry
    assert len(storage.list_parts(unique_key, init.upload_id)) == 2


def test_abort_removes_the_upload_and_is_idempotent(
    storage: S3Storage, unique_key: str, admin_client: Any
) -> None:
    init = storage.create_multipart(unique_key, content_type="a/b")
    UploadClient().put_bytes(
        storage.presign_part(unique_key, init.upload_id, 1, expires_in=60), b"z"
    )
    uploads = admin_client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [init.upload_id]

    storage.abort_multipart(unique_key, init.upload_id)
    storage.abort_multipart(unique_key, init.upload_id)
    assert admin_client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []
    with pytest.raises(StorageNotFound):
        storage.list_parts(unique_key, init.upload_id)
    with pytest.raises(StorageNotFound):
        storage.complete_multipart(
            unique_key, init.upload_id, [UploadedPart(1, '"e"')], content_type="a/b"
        )


def test_unknown_upload_ids_are_not_found(storage: S3Storage, unique_key: str) -> None:
    with pytest.raises(StorageNotFound):
        storage.list_parts(unique_key, "no-such-upload")
    with pytest.raises(StorageNotFound):
        storage.complete_multipart(
            unique_key, "no-such-upload", [UploadedPart(1, '"e"')], content_type="a/b"
        )
    storage.abort_multipart(unique_key, "no-such-upload")


def test_complete_refuses_an_existing_object_and_keeps_the_upload(
    storage: S3Storage, unique_key: str, admin_client: Any
) -> None:
    """Create-only: CompleteMultipartUpload is sent with If-None-Match: *."""
    init = storage.create_multipart(unique_key, content_type="a/b")
    etag = (
        UploadClient()
        .put_bytes(storage.presign_part(unique_key, init.upload_id, 1, expires_in=60), b"mine")
        .headers["ETag"]
    )
    admin_client.put_object(Bucket=storage.bucket, Key=unique_key, Body=b"theirs")
    with pytest.raises(StorageConflict, match="PreconditionFailed"):
        storage.complete_multipart(
            unique_key, init.upload_id, [UploadedPart(1, etag)], content_type="a/b"
        )
    body = admin_client.get_object(Bucket=storage.bucket, Key=unique_key)["Body"].read()
    assert body == b"theirs"
    assert [p.part_number for p in storage.list_parts(unique_key, init.upload_id)] == [1]
    storage.abort_multipart(unique_key, init.upload_id)
