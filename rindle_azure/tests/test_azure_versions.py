"""Fingerprints, version-bound reads, download URLs with response overrides, served type."""

from __future__ import annotations

import httpx
import pytest

from rindle_azure import AzureBlobStorage
from rindle_core import InvalidArgument, StorageConflict, StorageNotFound
from rindle_core.client import UploadClient
from rindle_core.storage import PresignedRequest

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
PAGE = PNG + b"<html><body><script>alert(document.domain)</script></body></html>"


def _store(adapter: AzureBlobStorage, client: UploadClient, key: str, data: bytes) -> str:
    request = adapter.presign_put(
        key, content_type="text/plain", content_length=len(data), expires_in=60
    )
    client.put_bytes(request, data)
    version = adapter.head(key).version
    assert version
    return version


def _replace(adapter: AzureBlobStorage, client: UploadClient, key: str, data: bytes) -> str:
    adapter.delete(key)
    return _store(adapter, client, key, data)


def test_head_reports_the_etag_as_version(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    version = _store(adapter, upload_client, key, b"hello")
    head = adapter.head(key)
    assert head.version == head.etag == version
    assert version != _replace(adapter, upload_client, key, b"hello")  # same bytes, new blob


def test_read_range_bound_to_the_version(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    stale = _store(adapter, upload_client, key, b"0123456789")
    current = _replace(adapter, upload_client, key, b"abcdefghij")
    assert adapter.read_range(key, 2, 3, version=current) == b"cde"
    for start, length in ((2, 3), (0, 0), (50, 5)):  # a range, empty, past the end
        with pytest.raises(StorageConflict) as info:
            adapter.read_range(key, start, length, version=stale)
        error = info.value
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
    assert adapter.read_range(key, 0, 0, version=current) == b""
    assert adapter.read_range(key, 50, 5, version=current) == b""


def test_read_range_bound_to_a_version_of_a_missing_blob_is_not_found(
    adapter: AzureBlobStorage, key: str
) -> None:
    with pytest.raises(StorageNotFound):
        adapter.read_range(key, 0, 4, version='"0x8D0000000000000"')
    with pytest.raises(StorageNotFound):
        adapter.read_range(key, 0, 0, version='"0x8D0000000000000"')


def test_presign_get_serves_the_given_type_and_disposition(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    version = _store(adapter, upload_client, key, b"%PDF-1.7 report")
    disposition = "attachment; filename=\"report.pdf\"; filename*=UTF-8''report%20%C3%A9.pdf"
    request = adapter.presign_get(
        key,
        expires_in=60,
        version=version,
        content_type="application/pdf",
        content_disposition=disposition,
    )
    assert "&rscd=" in request.url and "&rsct=application/pdf&" in request.url
    response = httpx.get(request.url)
    assert response.status_code == 200
    assert response.content == b"%PDF-1.7 report"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == disposition
    # The overrides are signed: changing one breaks the signature.
    forged = request.url.replace("rsct=application/pdf", "rsct=text/html")
    assert httpx.get(forged).status_code == 403


def test_presign_get_checks_the_version_when_signing(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    """A SAS cannot bind an ETag: the check happens once, at signing time."""
    stale = _store(adapter, upload_client, key, b"one")
    current = _replace(adapter, upload_client, key, b"two")
    with pytest.raises(StorageConflict):
        adapter.presign_get(key, expires_in=60, version=stale)
    assert httpx.get(adapter.presign_get(key, expires_in=60, version=current).url).content == b"two"
    with pytest.raises(StorageNotFound):
        adapter.presign_get(key + ".gone", expires_in=60, version=current)


def test_presign_get_without_overrides_keeps_the_stored_type(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    _store(adapter, upload_client, key, b"plain")
    request = adapter.presign_get(key, expires_in=60)
    assert "rsct=" not in request.url and "rscd=" not in request.url
    assert httpx.get(request.url).headers["content-type"] == "text/plain"


@pytest.mark.parametrize(
    "overrides",
    [
        {"content_type": "text/plain\r\nX-Evil: 1"},
        {"content_disposition": "attachment\n"},
        {"content_disposition": 'attachment; filename="é.pdf"'},
        {"content_type": ""},
        {"version": "\x00"},
    ],
)
def test_presign_get_refuses_malformed_overrides(
    adapter: AzureBlobStorage, key: str, overrides: dict[str, str]
) -> None:
    with pytest.raises(InvalidArgument):
        adapter.presign_get(key, expires_in=60, **overrides)


# -- the served type is the client's choice -------------------------------------------------


def test_head_reports_the_type_the_client_chose(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    """Issue 9, fault 2: a SAS cannot bind Content-Type; head shows what Azure will serve."""
    signed = adapter.presign_put(
        key, content_type="image/png", content_length=len(PAGE), expires_in=60
    )
    forged = PresignedRequest(
        url=signed.url,
        method="PUT",
        headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "text/html"},
    )
    upload_client.put_bytes(forged, PAGE)  # Azure accepts it
    head = adapter.head(key)
    assert (head.size, head.content_type) == (len(PAGE), "text/html")
    plain = adapter.presign_get(key, expires_in=60)
    assert httpx.get(plain.url).headers["content-type"] == "text/html"
    # A download URL with the verified type overrides what the client chose.
    pinned = adapter.presign_get(
        key, expires_in=60, content_type="image/png", content_disposition="attachment"
    )
    response = httpx.get(pinned.url)
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == "attachment"
