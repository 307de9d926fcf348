"""The in-memory adapter honours the seam the broker tests rely on.

The broker suites simulate attackers and faults with :class:`MemoryStorage`;
if the fake drifted from the adapter contract (create-only, versions,
version-bound reads and GETs, committed parts), those suites would prove
nothing. The real backends pass the contract kit against their servers.
"""

from __future__ import annotations

import pytest

from fakes import ALL, PNG, WITH_COMMITTED_PARTS, ClientRefused, MemoryStorage, etag_of
from rindle_core import (
    Capability,
    InvalidParts,
    StorageConflict,
    StorageNotFound,
    UploadedPart,
    UploadUnsupported,
)

KEY = "p/a/object.png"


def test_default_capabilities_lack_committed_parts() -> None:
    assert Capability.COMMITTED_PARTS not in ALL
    assert frozenset(Capability) == WITH_COMMITTED_PARTS


def test_uploads_are_create_only() -> None:
    memory = MemoryStorage()
    memory.client_put(KEY, PNG, "image/png")
    with pytest.raises(ClientRefused) as info:
        memory.client_put(KEY, b"<html>", "text/html")
    assert info.value.status == 412
    assert memory.objects[KEY] == (PNG, "image/png")
    assert memory.writes[KEY] == 1


def test_every_write_has_a_new_version_and_reads_are_bound_to_it() -> None:
    memory = MemoryStorage()
    memory.client_put(KEY, PNG, "image/png")
    first = memory.head(KEY).version
    assert first is not None
    assert memory.read_range(KEY, 0, 4, version=first) == PNG[:4]
    memory.replace_object(KEY, b"other")
    second = memory.head(KEY).version
    assert second not in (None, first)
    with pytest.raises(StorageConflict):
        memory.read_range(KEY, 0, 4, version=first)
    assert memory.read_range(KEY, 0, 5) == b"other"


def test_served_type_changes_keep_or_change_the_version() -> None:
    memory = MemoryStorage()
    memory.client_put(KEY, PNG, "image/png")
    before = memory.head(KEY).version
    memory.set_served_type(KEY, "text/html")
    assert memory.head(KEY).content_type == "text/html"
    assert memory.head(KEY).version == before
    memory.set_served_type(KEY, "image/png", new_version=True)
    assert memory.head(KEY).version != before


def test_signed_gets_record_what_was_asked_and_bind_the_version() -> None:
    memory = MemoryStorage()
    memory.client_put(KEY, PNG, "application/octet-stream")
    version = memory.head(KEY).version
    request = memory.presign_get(
        KEY,
        expires_in=30,
        version=version,
        content_type="image/png",
        content_disposition="attachment",
    )
    grant = memory.gets[-1]
    assert (grant.key, grant.expires_in, grant.version) == (KEY, 30, version)
    data, headers = memory.client_get(request)
    assert data == PNG
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"] == "attachment"
    assert headers["X-Content-Type-Options"] == "nosniff"
    memory.replace_object(KEY, b"new")
    with pytest.raises(ClientRefused) as info:
        memory.client_get(request)
    assert info.value.status == 412


def test_complete_accepts_a_subset_like_s3_but_never_an_existing_object() -> None:
    memory = MemoryStorage(WITH_COMMITTED_PARTS)
    upload_id = memory.create_multipart(KEY, content_type="x/y").upload_id
    etags = {n: memory.client_put_part(upload_id, n, bytes([n]) * 3) for n in (1, 2, 3)}
    memory.complete_multipart(
        KEY, upload_id, [UploadedPart(1, etags[1]), UploadedPart(3, etags[3])], content_type="x/y"
    )
    assert memory.objects[KEY][0] == b"\x01\x01\x01\x03\x03\x03"  # truncated, as S3 would
    assert [p.part_number for p in memory.committed_parts(KEY)] == [1, 3]
    with pytest.raises(ClientRefused) as info:  # the upload is gone
        memory.client_put_part(upload_id, 2, b"late")
    assert info.value.status == 404
    again = memory.create_multipart(KEY, content_type="x/y").upload_id
    etag = memory.client_put_part(again, 1, b"z")
    with pytest.raises(StorageConflict):
        memory.complete_multipart(KEY, again, [UploadedPart(1, etag)], content_type="x/y")


def test_complete_checks_part_etags() -> None:
    memory = MemoryStorage()
    upload_id = memory.create_multipart(KEY, content_type="x/y").upload_id
    memory.client_put_part(upload_id, 1, b"abc")
    with pytest.raises(InvalidParts):
        memory.complete_multipart(
            KEY, upload_id, [UploadedPart(1, etag_of(b"xyz"))], content_type="x/y"
        )
    assert KEY not in memory.objects


def test_committed_parts_needs_the_capability() -> None:
    memory = MemoryStorage()
    memory.client_put(KEY, PNG, "image/png")
    with pytest.raises(UploadUnsupported):
        memory.committed_parts(KEY)
    able = MemoryStorage(WITH_COMMITTED_PARTS)
    able.client_put(KEY, PNG, "image/png")
    assert able.committed_parts(KEY) == []  # a single PUT has no parts
    with pytest.raises(StorageNotFound):
        able.committed_parts("p/a/missing")
