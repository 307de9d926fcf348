"""What the storage contract checks of multipart uploads and resumable sessions.

Mixed into :class:`rindle_core.testing.StorageAdapterContract` (each check's
``self`` is a :class:`~rindle_core._storage_checks.ContractSelf`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import quote

import attrs
import pytest

from ._contract_helpers import fail_unless, payload
from ._errors import (
    InvalidArgument,
    InvalidParts,
    StorageConflict,
    StorageNotFound,
    TransferFailed,
)
from ._storage_checks import ContractSelf, assert_unchanged, require_create_only
from .client import UploadClient
from .storage import (
    Capability,
    MultipartStorage,
    PartChecksum,
    PresignedRequest,
    StorageAdapter,
    UploadedPart,
    capabilities_of,
)

__all__ = ["MultipartChecks", "ResumableChecks", "upload_one_part"]


class MultipartChecks:
    """Multipart uploads: parts out of order, completion, refusals, abort."""

    # -- MULTIPART_UPLOAD ----------------------------------------------------------------

    def test_part_limits_are_consistent(self: ContractSelf, adapter: StorageAdapter) -> None:
        limits = self.require_multipart(adapter).part_limits
        fail_unless(1 <= limits.min_part_size <= limits.max_part_size, "part sizes inverted")
        fail_unless(limits.max_parts >= 1, "max_parts must be positive")
        fail_unless(limits.max_object_size >= limits.max_part_size, "max_object_size too small")

    def test_multipart_roundtrip_out_of_order(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        storage = self.require_multipart(adapter, Capability.HEAD)
        limits = storage.part_limits
        part_size, tail = max(limits.min_part_size, 64), 1000
        key, data = self.key(), payload(part_size + tail, seed=8)
        init = storage.create_multipart(key, content_type=self.content_type)
        fail_unless(bool(init.upload_id), "create_multipart returned no upload_id")
        requests = {
            number: storage.presign_part(
                key, init.upload_id, number, expires_in=self.expires_in, content_length=size
            )
            for number, size in ((2, tail), (1, part_size))
        }
        for number, request in requests.items():
            fail_unless(request.part_number == number, f"part {number}: part_number not set")
            fail_unless(request.upload_id == init.upload_id, f"part {number}: upload_id not set")
            sent = {k.lower(): v for k, v in request.headers.items()}
            for name, value in init.part_headers.items():
                fail_unless(sent.get(name.lower()) == value, f"part {number} lacks header {name}")
        uploaded = []
        for number, chunk in ((2, data[part_size:]), (1, data[:part_size])):  # out of order
            response = upload_client.put_bytes(requests[number], chunk)
            uploaded.append(UploadedPart(number, response.headers.get("ETag"), len(chunk)))
        listed = storage.list_parts(key, init.upload_id)
        fail_unless([p.part_number for p in listed] == [1, 2], f"list_parts gave {listed!r}")
        for part in listed:
            expected = part_size if part.part_number == 1 else tail
            fail_unless(part.size in (None, expected), f"part {part.part_number} size {part.size}")
            fail_unless(part.etag is not None or not limits.etag_required, "list_parts: no ETags")
        parts = sorted(uploaded, key=lambda p: p.part_number)
        storage.complete_multipart(key, init.upload_id, parts, content_type=self.content_type)
        head = storage.head(key)
        fail_unless(head.size == len(data), f"completed object has {head.size} bytes")
        fail_unless(
            head.content_type == self.content_type, f"content_type is {head.content_type!r}"
        )
        if Capability.RANGE_READ in capabilities_of(storage):
            seam = storage.read_range(key, part_size - 8, 16)
            fail_unless(seam == data[part_size - 8 : part_size + 8], "parts joined out of order")

    def test_part_checksums_are_bound_and_complete(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        storage = self.require_multipart(adapter, Capability.HEAD)
        limits = storage.part_limits
        if not limits.checksum_algorithms:
            pytest.skip(f"{type(adapter).__name__} binds no part checksums")
        part_size, tail = max(limits.min_part_size, 64), 500
        for algorithm in sorted(limits.checksum_algorithms):
            key, data = self.key(), payload(part_size + tail, seed=31)
            init = storage.create_multipart(
                key, content_type=self.content_type, checksum_algorithm=algorithm
            )
            chunks = {1: data[:part_size], 2: data[part_size:]}
            parts = []
            for number, chunk in chunks.items():
                checksum = PartChecksum.of(algorithm, chunk)
                request = storage.presign_part(
                    key,
                    init.upload_id,
                    number,
                    expires_in=self.expires_in,
                    content_length=len(chunk),
                    checksum=checksum,
                )
                if self.checks_signatures:  # the URL binds the checksum it was signed with
                    other = PartChecksum.of(algorithm, chunk + b"!")
                    forged = _with_other_checksum(request, checksum.value, other.value)
                    _refused(upload_client, forged, chunk, f"part {number} under another checksum")
                if self.verifies_part_checksums:  # storage checks the bytes against it
                    flipped = bytes([chunk[0] ^ 1]) + chunk[1:]
                    _refused(upload_client, request, flipped, f"part {number} with other bytes")
                response = upload_client.put_bytes(request, chunk)
                parts.append(
                    UploadedPart(number, response.headers.get("ETag"), len(chunk), checksum)
                )
            for listed in storage.list_parts(key, init.upload_id):
                expected = parts[listed.part_number - 1].checksum
                fail_unless(
                    listed.checksum in (None, expected),
                    f"list_parts: part {listed.part_number} has checksum {listed.checksum!r}",
                )
            storage.complete_multipart(key, init.upload_id, parts, content_type=self.content_type)
            fail_unless(storage.head(key).size == len(data), "the checksummed upload is incomplete")

    def test_an_algorithm_the_backend_does_not_bind_is_refused(
        self: ContractSelf, adapter: StorageAdapter
    ) -> None:
        storage = self.require_multipart(adapter)
        with pytest.raises(InvalidArgument):
            storage.create_multipart(
                self.key(), content_type=self.content_type, checksum_algorithm="md5"
            )
        if "crc32" not in storage.part_limits.checksum_algorithms:
            with pytest.raises(InvalidArgument):
                storage.create_multipart(
                    self.key(), content_type=self.content_type, checksum_algorithm="crc32"
                )

    def test_completing_twice_converges(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        storage = self.require_multipart(adapter, Capability.HEAD)
        key, data = self.key(), payload(100, seed=9)
        parts, upload_id = upload_one_part(self, storage, upload_client, key, data)
        storage.complete_multipart(key, upload_id, parts, content_type=self.content_type)
        # A retried complete either succeeds again or says the upload is gone.
        with contextlib.suppress(StorageNotFound):
            storage.complete_multipart(key, upload_id, parts, content_type=self.content_type)
        fail_unless(storage.head(key).size == len(data), "a second complete changed the object")

    def test_complete_with_an_empty_or_duplicate_part_list_changes_nothing(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        storage = self.require_multipart(adapter, Capability.HEAD)
        key, data = self.key(), payload(90, seed=29)
        parts, upload_id = upload_one_part(self, storage, upload_client, key, data)
        for bad in ([], [*parts, *parts]):
            with pytest.raises(InvalidParts):
                storage.complete_multipart(key, upload_id, bad, content_type=self.content_type)
        with pytest.raises(StorageNotFound):
            storage.head(key)
        listed = [part.part_number for part in storage.list_parts(key, upload_id)]
        fail_unless(listed == [1], f"a refused complete changed the upload's parts: {listed}")
        storage.complete_multipart(key, upload_id, parts, content_type=self.content_type)
        fail_unless(storage.head(key).size == len(data), "the upload no longer completes")

    def test_complete_multipart_refuses_an_existing_object(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        storage = self.require_multipart(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        require_create_only(self)
        key, first = self.key(), payload(80, seed=27)
        parts, upload_id = upload_one_part(self, storage, upload_client, key, payload(80, seed=28))
        self.store(storage, upload_client, key, first)  # someone else created the key
        before = storage.head(key)
        with pytest.raises(StorageConflict):
            storage.complete_multipart(key, upload_id, parts, content_type=self.content_type)
        assert_unchanged(storage, key, before, first)
        storage.abort_multipart(key, upload_id)

    def test_abort_is_idempotent_and_leaves_nothing(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        storage = self.require_multipart(adapter)
        key = self.key()
        _, upload_id = upload_one_part(self, storage, upload_client, key, payload(10, seed=12))
        storage.abort_multipart(key, upload_id)
        storage.abort_multipart(key, upload_id)
        # Either the upload is forgotten, or it provably holds no part.
        try:
            held = storage.list_parts(key, upload_id)
        except StorageNotFound:
            held = []
        fail_unless(held == [], f"an aborted upload still holds {held!r}")

    def test_list_parts_of_unknown_upload_raises_not_found(
        self: ContractSelf, adapter: StorageAdapter
    ) -> None:
        storage = self.require_multipart(adapter)
        key = self.key()
        init = storage.create_multipart(key, content_type=self.content_type)
        storage.abort_multipart(key, init.upload_id)
        with pytest.raises(StorageNotFound):
            storage.list_parts(self.key(), init.upload_id)


class ResumableChecks:
    """Resumable sessions: an upload in chunks, status, cancel."""

    # -- RESUMABLE_UPLOAD / RESUMABLE_STATUS -----------------------------------------------

    def test_resumable_roundtrip(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient, tmp_path: Path
    ) -> None:
        storage = self.require_resumable(adapter, Capability.HEAD)
        key, data = self.key(), payload(256 * 1024 + 1000, seed=10)
        path = tmp_path / "resumable.bin"
        path.write_bytes(data)
        init = storage.create_resumable(
            key, content_type=self.content_type, size=len(data), origin=None
        )
        fail_unless(init.session_uri not in repr(init), "repr(ResumableUpload) shows the URI")
        upload_client.upload_resumable(init.session_uri, path, chunk_size=256 * 1024)
        if Capability.RESUMABLE_STATUS in capabilities_of(storage):
            status = storage.resumable_status(key, init.session_uri)
            fail_unless(status.state == "complete", f"status after upload is {status.state!r}")
            fail_unless(status.committed_bytes == len(data), f"{status.committed_bytes} committed")
        head = storage.head(key)
        fail_unless(head.size == len(data), f"resumable object has {head.size} bytes")
        storage.cancel_resumable(key, init.session_uri)
        storage.cancel_resumable(key, init.session_uri)

    def test_resumable_status_then_cancel(self: ContractSelf, adapter: StorageAdapter) -> None:
        storage = self.require_resumable(adapter, Capability.RESUMABLE_STATUS)
        key = self.key()
        init = storage.create_resumable(key, content_type=self.content_type, size=10, origin=None)
        status = storage.resumable_status(key, init.session_uri)
        fail_unless(status.state == "in_progress", f"a fresh session is {status.state!r}")
        fail_unless(status.committed_bytes == 0, f"a fresh session holds {status.committed_bytes}")
        storage.cancel_resumable(key, init.session_uri)
        storage.cancel_resumable(key, init.session_uri)
        try:
            after = storage.resumable_status(key, init.session_uri)
        except StorageNotFound:
            return
        fail_unless(after.state == "expired", f"a cancelled session reports {after.state!r}")


def _with_other_checksum(request: PresignedRequest, signed: str, other: str) -> PresignedRequest:
    """*request* carrying *other* where it carried the checksum it was signed with
    (a header, or the URL's query)."""
    headers = {k: (other if v == signed else v) for k, v in request.headers.items()}
    url = request.url
    for form in (quote(signed, safe=""), signed):
        url = url.replace(form, quote(other, safe=""))
    forged = attrs.evolve(request, url=url, headers=headers)
    fail_unless(forged != request, "the part request carries its checksum nowhere")
    return forged


def _refused(client: UploadClient, request: PresignedRequest, data: bytes, what: str) -> None:
    """Fail unless storage refuses *request* with *data* (a 4xx, not a retryable error)."""
    try:
        client.put_bytes(request, data)
    except TransferFailed as exc:
        fail_unless(exc.status is not None and 400 <= exc.status < 500, f"{what}: {exc}")
        return
    fail_unless(False, f"storage accepted {what}")


def upload_one_part(
    kit: ContractSelf, storage: MultipartStorage, client: UploadClient, key: str, data: bytes
) -> tuple[list[UploadedPart], str]:
    """Start a multipart upload of *key* and upload *data* as its part 1."""
    init = storage.create_multipart(key, content_type=kit.content_type)
    request = storage.presign_part(
        key, init.upload_id, 1, expires_in=kit.expires_in, content_length=len(data)
    )
    response = client.put_bytes(request, data)
    return [UploadedPart(1, response.headers.get("ETag"), len(data))], init.upload_id
