"""``GCSStorage`` against real emulators started by the suite.

What each emulator implements, and the gaps these tests step around:

gcp-storage-emulator (``gcs_emulator``; objects, signed-URL paths, resumable chunks and status)
    * Accepts ``PUT /bucket/key`` and ``GET /bucket/key`` whatever the query, so a
      V4 signed URL is exercised end to end, but **no signature is checked**
      (the signing tests prove identity with google-cloud-storage instead).
    * Resumable chunks with ``Content-Range`` and status queries (``bytes */*``
      → 308 + ``Range``) work. Gaps: before the first byte it answers
      ``Range: bytes=0-0`` (claims 1 byte) instead of omitting ``Range``; it
      does not enforce ``X-Upload-Content-Length`` nor echo CORS for the
      ``Origin``; a completed session is forgotten (status → 404, where GCS
      answers 200); ``DELETE`` on a session URI is not implemented (501); no
      session ever expires (410).
fake-gcs-server (``fake_gcs``; cancel)
    * Answers ``DELETE`` on a session URI with GCS's ``499``, and logs every
      request, which is how the tests see the cancel reach the server. Gaps:
      it keeps accepting a cancelled session, and a status query
      (``bytes */*``) *finalises* the upload as an empty object, so no
      status-dependent flow runs on it.

The statuses neither emulator produces (410, 308 without ``Range``, 5xx)
are covered by ``test_gcs_resumable_protocol.py`` with a scripted fake.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from rindle_core import Capability, StorageNotFound, StorageUnavailable
from rindle_core.client import UploadClient
from rindle_core.storage import ResumableStatus
from rindle_gcs import GCSStorage, create_storage

if TYPE_CHECKING:
    from conftest import Emulator

PutObject = Callable[[GCSStorage, str, bytes, str], None]
CHUNK = 256 * 1024


def _payload(size: int) -> bytes:
    return os.urandom(size)


# -- objects -------------------------------------------------------------------


def test_capabilities_are_declared_honestly(storage: GCSStorage) -> None:
    assert storage.backend == "gcs"
    assert storage.capabilities == {
        Capability.RESUMABLE_UPLOAD,
        Capability.RESUMABLE_STATUS,
        Capability.PRESIGNED_PUT,
        Capability.PRESIGNED_POST,
        Capability.HEAD,
        Capability.RANGE_READ,
        Capability.DELETE,
        Capability.SIGNED_GET,
    }


def test_signed_put_stores_the_object_with_its_content_type(
    storage: GCSStorage, put_object: PutObject
) -> None:
    data = b"%PDF-1.7\n" + _payload(5000)

    put_object(storage, "docs/a report.pdf", data, "application/pdf")

    head = storage.head("docs/a report.pdf")
    assert head.size == len(data)
    assert head.content_type == "application/pdf"
    assert head.etag
    assert storage.read_range("docs/a report.pdf", 0, len(data)) == data


def test_read_range_returns_the_requested_slice(storage: GCSStorage, put_object: PutObject) -> None:
    data = _payload(10_000)
    put_object(storage, "r.bin", data, "application/octet-stream")

    assert storage.read_range("r.bin", 0, 16) == data[:16]
    assert storage.read_range("r.bin", 4096, 100) == data[4096:4196]
    assert storage.read_range("r.bin", 9_990, 100) == data[9_990:]  # clipped at the end
    assert storage.read_range("r.bin", 0, 0) == b""


def test_missing_objects_are_not_found(storage: GCSStorage) -> None:
    with pytest.raises(StorageNotFound):
        storage.head("nope/missing.bin")
    with pytest.raises(StorageNotFound):
        storage.read_range("nope/missing.bin", 0, 10)
    with pytest.raises(StorageNotFound):
        storage.read_range("nope/missing.bin", 0, 0)


def test_delete_is_idempotent(storage: GCSStorage, put_object: PutObject) -> None:
    put_object(storage, "d.txt", b"bye", "text/plain")

    storage.delete("d.txt")
    storage.delete("d.txt")

    with pytest.raises(StorageNotFound):
        storage.head("d.txt")


def test_signed_get_downloads_the_object(storage: GCSStorage, put_object: PutObject) -> None:
    data = _payload(3000)
    put_object(storage, "g/file.bin", data, "application/octet-stream")

    request = storage.presign_get("g/file.bin", expires_in=300)
    response = httpx.get(request.url, headers=dict(request.headers))

    assert response.status_code == 200
    assert response.content == data


def test_an_unreachable_endpoint_is_transient(service_account_key: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    storage = create_storage(
        bucket="gone-bucket",
        endpoint_url=f"http://127.0.0.1:{port}",
        credentials_file=str(service_account_key),
        retry_timeout=0,
        timeout=5,
    )

    with pytest.raises(StorageUnavailable) as info:
        storage.head("k")
    assert str(port) not in str(info.value)
    with pytest.raises(StorageUnavailable):
        storage.create_resumable("k", content_type="text/plain", size=1, origin=None)


# -- resumable sessions ------------------------------------------------------------


def _put_chunk(session_uri: str, data: bytes, start: int, total: int) -> httpx.Response:
    end = start + len(data) - 1
    return httpx.put(
        session_uri,
        content=data,
        headers={"Content-Range": f"bytes {start}-{end}/{total}"},
        timeout=30,
    )


def test_resumable_session_in_chunks_with_status_between(
    storage: GCSStorage, gcs_emulator: Emulator
) -> None:
    data = b"%PDF-1.4\n" + _payload(3 * CHUNK + 1000)
    total = len(data)

    init = storage.create_resumable(
        "up/chunked.pdf", content_type="application/pdf", size=total, origin="https://app.example"
    )
    assert init.session_uri.startswith(gcs_emulator.url + "/upload/")
    assert init.upload_id.startswith("gcs-")

    for number in range(3):
        response = _put_chunk(
            init.session_uri, data[number * CHUNK : (number + 1) * CHUNK], number * CHUNK, total
        )
        assert response.status_code == 308
        status = storage.resumable_status("up/chunked.pdf", init.session_uri)
        assert status == ResumableStatus(state="in_progress", committed_bytes=(number + 1) * CHUNK)

    final = _put_chunk(init.session_uri, data[3 * CHUNK :], 3 * CHUNK, total)
    assert final.status_code == 200

    head = storage.head("up/chunked.pdf")
    assert (head.size, head.content_type) == (total, "application/pdf")
    assert storage.read_range("up/chunked.pdf", 0, total) == data


def test_resume_after_a_disconnect_continues_from_the_reported_offset(
    storage: GCSStorage, tmp_path: Path
) -> None:
    data = _payload(4 * CHUNK + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    init = storage.create_resumable(
        "up/resumed.bin", content_type="application/octet-stream", size=len(data), origin=None
    )

    # The connection drops after the server stored the second chunk but
    # before the client read the answer: the client cannot know the offset,
    # so it asks the session and goes on from there, re-sending nothing.
    flaky = DroppingTransport(drop_after_chunks=2)
    with UploadClient(http=httpx.Client(transport=flaky, timeout=30)) as client:
        client.upload_resumable(init.session_uri, path, chunk_size=CHUNK)
    assert flaky.chunks == 5  # 4 chunks and the tail, chunk 3 after the status query
    assert flaky.offsets == [0, CHUNK, 2 * CHUNK, 3 * CHUNK, 4 * CHUNK]
    assert flaky.queries == 1

    assert storage.head("up/resumed.bin").size == len(data)
    assert storage.read_range("up/resumed.bin", 0, len(data)) == data


def test_status_of_an_unknown_session_is_not_found(storage: GCSStorage) -> None:
    init = storage.create_resumable("up/x.bin", content_type="text/plain", size=10, origin=None)
    forged = init.session_uri.replace("upload_id=", "upload_id=forged")

    with pytest.raises(StorageNotFound):
        storage.resumable_status("up/x.bin", forged)


def test_the_session_uri_never_shows_in_a_repr(storage: GCSStorage) -> None:
    init = storage.create_resumable("up/r.bin", content_type="text/plain", size=10, origin=None)
    secret = urlsplit(init.session_uri).query

    assert secret not in repr(init)
    assert init.session_uri not in repr(storage)
    assert "upload_id" not in init.upload_id


def test_cancel_sends_delete_and_is_idempotent(
    fake_storage: GCSStorage, fake_gcs: Emulator
) -> None:
    init = fake_storage.create_resumable(
        "up/cancel-me.bin", content_type="text/plain", size=100, origin="https://app.example"
    )
    path = urlsplit(init.session_uri).path + "?" + urlsplit(init.session_uri).query

    fake_storage.cancel_resumable("up/cancel-me.bin", init.session_uri)
    fake_storage.cancel_resumable("up/cancel-me.bin", init.session_uri)

    log = fake_gcs.wait_for_log(f'DELETE {path} HTTP/1.1\\" 499')
    assert log.count(f'DELETE {path} HTTP/1.1\\" 499') == 2


# -- helpers -------------------------------------------------------------------------


class DroppingTransport(httpx.BaseTransport):
    """Forwards requests; after the Nth chunk lands, loses the response."""

    def __init__(self, *, drop_after_chunks: int) -> None:
        self._inner = httpx.HTTPTransport()
        self._drop_after = drop_after_chunks
        self.chunks = 0
        self.queries = 0  # status queries (``bytes */size``)
        self.offsets: list[int] = []  # where each chunk started

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        content_range = request.headers.get("Content-Range", "")
        if content_range.startswith("bytes */"):
            self.queries += 1
            return response
        self.chunks += 1
        self.offsets.append(int(content_range.removeprefix("bytes ").split("-")[0]))
        if self.chunks == self._drop_after:
            response.read()
            response.close()
            raise httpx.ReadError("simulated disconnect", request=request)
        return response

    def close(self) -> None:
        self._inner.close()
