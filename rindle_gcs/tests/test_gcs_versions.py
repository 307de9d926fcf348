"""Object versions: ``head`` reports the generation; reads and signed GETs bind to it.

Run on both emulators. Neither honours ``ifGenerationMatch`` on a download,
so a stale read is caught by the adapter comparing the generation of the
bytes it received (fake-gcs-server reports it in ``X-Goog-Generation``) or,
when the answer does not say (gcp-storage-emulator), the live generation
after the read. fake-gcs-server honours ``generation=`` on a signed GET, so
there a URL bound to a replaced generation is refused by the server itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest
from google.api_core import exceptions as api_exceptions

from rindle_core import InvalidArgument, StorageConflict, StorageError, StorageNotFound
from rindle_gcs import GCSStorage
from rindle_gcs._errors import gcs_errors

if TYPE_CHECKING:
    from conftest import Emulator

PutObject = Callable[[GCSStorage, str, bytes, str], None]


@pytest.fixture(params=["gcs_emulator", "fake_gcs"])
def any_storage(
    request: pytest.FixtureRequest, storage: GCSStorage, fake_storage: GCSStorage
) -> tuple[GCSStorage, Emulator]:
    """The adapter on each emulator, with that emulator."""
    emulator: Emulator = request.getfixturevalue(request.param)
    return (storage if request.param == "gcs_emulator" else fake_storage), emulator


def _replace(storage: GCSStorage, put_object: PutObject, key: str, data: bytes) -> None:
    storage.delete(key)
    put_object(storage, key, data, "text/plain")


def _json_generation(emulator: Emulator, bucket: str, key: str) -> str:
    response = httpx.get(f"{emulator.url}/storage/v1/b/{bucket}/o/{quote(key, safe='')}")
    assert response.status_code == 200, response.text
    return str(response.json()["generation"])


def test_head_reports_the_generation(
    any_storage: tuple[GCSStorage, Emulator], put_object: PutObject
) -> None:
    storage, emulator = any_storage
    put_object(storage, "v/a.txt", b"first", "text/plain")

    head = storage.head("v/a.txt")

    assert head.version == _json_generation(emulator, storage.bucket_name, "v/a.txt")
    assert head.version is not None and head.version.isdigit()
    _replace(storage, put_object, "v/a.txt", b"other")
    assert storage.head("v/a.txt").version != head.version


def test_a_read_bound_to_the_current_generation_reads(
    any_storage: tuple[GCSStorage, Emulator], put_object: PutObject
) -> None:
    storage, _ = any_storage
    put_object(storage, "v/b.txt", b"0123456789", "text/plain")
    version = storage.head("v/b.txt").version

    assert storage.read_range("v/b.txt", 2, 4, version=version) == b"2345"
    assert storage.read_range("v/b.txt", 0, 0, version=version) == b""


def test_a_read_bound_to_a_replaced_generation_is_a_conflict(
    any_storage: tuple[GCSStorage, Emulator], put_object: PutObject
) -> None:
    storage, _ = any_storage
    put_object(storage, "v/c.txt", b"verified", "text/plain")
    verified = storage.head("v/c.txt").version
    _replace(storage, put_object, "v/c.txt", b"replaced")

    with pytest.raises(StorageConflict) as info:
        storage.read_range("v/c.txt", 0, 8, version=verified)
    with pytest.raises(StorageConflict):
        storage.read_range("v/c.txt", 0, 0, version=verified)

    assert verified is not None and verified not in str(info.value)


def test_a_read_bound_to_a_deleted_object_is_not_found(
    any_storage: tuple[GCSStorage, Emulator], put_object: PutObject
) -> None:
    storage, _ = any_storage
    put_object(storage, "v/d.txt", b"gone soon", "text/plain")
    version = storage.head("v/d.txt").version
    storage.delete("v/d.txt")

    with pytest.raises(StorageNotFound):
        storage.read_range("v/d.txt", 0, 4, version=version)


@pytest.mark.parametrize("version", ["etag-abc", "-1", "0", "12345678901234567890"])
def test_a_version_that_is_no_generation_is_a_conflict(
    storage: GCSStorage, put_object: PutObject, version: str
) -> None:
    put_object(storage, "v/e.txt", b"data", "text/plain")

    with pytest.raises(StorageConflict):
        storage.read_range("v/e.txt", 0, 4, version=version)
    with pytest.raises(StorageConflict):
        storage.read_range("v/e.txt", 0, 0, version=version)


@pytest.mark.parametrize("version", ["", "１２", "7\n"])
def test_a_version_that_is_no_header_value_is_invalid(storage: GCSStorage, version: str) -> None:
    """Checked before any request, the same way for every backend."""
    with pytest.raises(InvalidArgument, match="version"):
        storage.read_range("v/never-written.txt", 0, 4, version=version)


def test_the_precondition_reaches_the_server(
    fake_storage: GCSStorage, fake_gcs: Emulator, put_object: PutObject
) -> None:
    """On GCS ``ifGenerationMatch`` refuses a replaced object atomically (412)."""
    put_object(fake_storage, "v/f.txt", b"data", "text/plain")
    version = fake_storage.head("v/f.txt").version

    fake_storage.read_range("v/f.txt", 0, 4, version=version)

    needle = f"ifGenerationMatch={version}"
    assert needle in fake_gcs.wait_for_log(needle)


def test_a_412_on_a_bound_read_is_a_conflict() -> None:
    with pytest.raises(StorageConflict) as info, gcs_errors("read", conflict=True):
        raise api_exceptions.PreconditionFailed("GET https://x?X-Goog-Signature=S: 412")
    assert str(info.value) == "GCS read failed: HTTP 412"
    assert info.value.__cause__ is None


def test_a_412_elsewhere_stays_a_storage_error() -> None:
    with pytest.raises(StorageError) as info, gcs_errors("delete"):
        raise api_exceptions.PreconditionFailed("no")
    assert type(info.value) is StorageError


# -- signed GET -----------------------------------------------------------------


def test_a_signed_get_bound_to_the_generation_serves_it(
    fake_storage: GCSStorage, put_object: PutObject
) -> None:
    put_object(fake_storage, "v/g.bin", b"verified bytes", "application/octet-stream")
    version = fake_storage.head("v/g.bin").version

    request = fake_storage.presign_get("v/g.bin", expires_in=60, version=version)
    response = httpx.get(request.url)

    assert response.status_code == 200
    assert response.content == b"verified bytes"
    assert response.headers["x-goog-generation"] == version


def test_a_signed_get_bound_to_a_replaced_generation_is_refused(
    fake_storage: GCSStorage, put_object: PutObject
) -> None:
    """fake-gcs-server, like GCS, has no such generation once it was replaced."""
    put_object(fake_storage, "v/h.bin", b"verified bytes", "application/octet-stream")
    verified = fake_storage.presign_get(
        "v/h.bin", expires_in=60, version=fake_storage.head("v/h.bin").version
    )
    _replace(fake_storage, put_object, "v/h.bin", b"HTML in place")

    response = httpx.get(verified.url)

    assert response.status_code == 404
    assert b"HTML" not in response.content


def test_a_signed_get_serves_the_disposition_override(
    storage: GCSStorage, put_object: PutObject
) -> None:
    """gcp-storage-emulator honours ``response-content-disposition`` (not the type)."""
    put_object(storage, "v/i.svg", b"<svg/>", "image/svg+xml")

    request = storage.presign_get(
        "v/i.svg", expires_in=60, content_disposition='attachment; filename="i.svg"'
    )
    response = httpx.get(request.url)

    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="i.svg"'
