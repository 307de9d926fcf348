"""The broker's whole lifecycle on GCS, against the emulators.

The shared broker contract runs on gcp-storage-emulator behind the
signature-checking front. Its flags mark the emulator gaps (see
``test_gcs_emulator.py``): no create-only on a signed PUT, no
``response-content-type``, no session ``DELETE`` (501). The tests here are
GCS's own: the chunk protocol of a resumable session, the headers a PUT is
signed with, and cancel and expiry on fake-gcs-server, the emulator that
answers a session ``DELETE`` (499) and logs it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
import test_gcs_post

from rindle_core import Broker, Database, Profile, TransferFailed
from rindle_core.client import RetryPolicy, UploadClient
from rindle_core.testing import BrokerContract
from rindle_gcs import GCSStorage

if TYPE_CHECKING:
    from conftest import Emulator

CHUNK = 256 * 1024

# The contract's form POSTs go to fake-gcs-server behind test_gcs_post.py's front,
# which judges each policy as GCS does; these are its fixtures.
credentials = test_gcs_post.credentials
policy_front = test_gcs_post.policy_front
posting_storage = test_gcs_post.posting_storage


class TestGCSBrokerContract(BrokerContract):
    """gcp-storage-emulator through the front that checks V4 signatures like GCS."""

    enforces_create_only = False  # x-goog-if-generation-match: proven in test_gcs_create_only.py
    sets_response_headers = False  # response-content-type: proven in test_gcs_versions.py
    cancels_resumable_sessions = False  # proven on fake-gcs-server below

    @pytest.fixture
    def adapter(self, signed_storage: GCSStorage) -> GCSStorage:
        return signed_storage

    @pytest.fixture
    def post_adapter(self, posting_storage: GCSStorage) -> GCSStorage:
        return posting_storage  # gcp-storage-emulator has no form POST (501)


def make_broker(tmp_path: Path, storage: GCSStorage) -> Broker:
    db = Database("sqlite:///" + str(tmp_path / "rindle.db"))
    db.create_all()
    profile = Profile(name="docs", storage="main", allow_mime=["application/pdf"])
    return Broker(db, profiles=[profile], storages={"main": storage}, job_mode="inline")


def pdf_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "upload.pdf"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + os.urandom(size - 15))
    return path


class ChunkHook(httpx.BaseTransport):
    """Runs ``after_chunk(n)`` once the server answered chunk *n* with 308 (more
    to come); can drop the answer to one chunk, after which the network stays
    down (every later request fails to connect) — a drop the client's own
    retries cannot get past.

    No poll follows the final chunk: gcp-storage-emulator forgets a
    completed session (404) where GCS answers 200.
    """

    def __init__(self, after_chunk: Callable[[int], None], *, drop_chunk: int | None) -> None:
        self._inner = httpx.HTTPTransport()
        self._after_chunk = after_chunk
        self._drop_chunk = drop_chunk
        self.chunks = 0
        self.refused = 0  # requests after the drop
        self._down = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._down:
            self.refused += 1
            raise httpx.ConnectError("simulated network down", request=request)
        response = self._inner.handle_request(request)
        if request.headers.get("Content-Range", "").startswith("bytes */"):
            return response  # a status query, not a chunk
        response.read()
        self.chunks += 1
        if response.status_code == 308:
            self._after_chunk(self.chunks)
        if self.chunks == self._drop_chunk:
            response.close()
            self._down = True
            raise httpx.ReadError("simulated disconnect", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


def test_resumable_upload_chunks_status_resume_verify_available(
    tmp_path: Path, storage: GCSStorage
) -> None:
    broker = make_broker(tmp_path, storage)
    path = pdf_file(tmp_path, 4 * CHUNK + 4321)
    size = path.stat().st_size

    started = broker.initiate_resumable_session(
        "docs",
        filename="report.pdf",
        content_type="application/pdf",
        size=size,
        origin="https://app.example",
    )
    sid = started.session.id
    assert (started.session.state, started.session.upload_strategy) == ("signed", "resumable")
    assert started.resumable.upload_id.startswith("gcs-")
    assert started.resumable.session_uri not in repr(started)

    # Chunks with a status poll through the broker after each; the answer to
    # chunk 2 is lost (the server did store it) and the network stays down:
    # the client retries (it asks the session for its offset) until its
    # attempts are spent, then gives up with a retryable error.
    polled: list[tuple[int, str]] = []

    def poll(_: int) -> None:
        status = broker.resumable_session_status(sid).status
        polled.append((status.committed_bytes, status.state))

    hook = ChunkHook(poll, drop_chunk=2)
    retry = RetryPolicy(attempts=3, base=0.01)
    client = UploadClient(http=httpx.Client(transport=hook, timeout=30), retry=retry)
    with client, pytest.raises(TransferFailed) as info:
        client.upload_resumable(started.resumable.session_uri, path, chunk_size=CHUNK)
    assert info.value.retryable
    assert hook.chunks == 2
    assert hook.refused == 3  # the status query, tried `attempts` times: no chunk re-sent blindly
    assert polled == [(CHUNK, "in_progress"), (2 * CHUNK, "in_progress")]
    assert broker.get_session(sid).committed_bytes == 2 * CHUNK

    # Resume from the offset the session reports, polling after each chunk.
    resumed = ChunkHook(poll, drop_chunk=None)
    with UploadClient(http=httpx.Client(transport=resumed, timeout=30)) as client:
        client.upload_resumable(started.resumable.session_uri, path, chunk_size=CHUNK, resume=True)
    assert resumed.chunks == 3  # chunks 3, 4 and the 4321-byte tail, nothing re-sent
    assert polled[2:4] == [(3 * CHUNK, "in_progress"), (4 * CHUNK, "in_progress")]

    verified = broker.verify_completion(sid)

    assert verified.session.state == "completed"
    assert verified.asset.byte_size == size
    assert broker.get_asset(verified.asset.id).state == "available"
    assert storage.read_range(verified.session.storage_key, 0, 8) == b"%PDF-1.7"


def test_the_broker_signs_the_type_the_length_and_create_only(
    tmp_path: Path, storage: GCSStorage
) -> None:
    broker = make_broker(tmp_path, storage)
    session = broker.initiate_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=20_000
    )
    signed = broker.sign_url(session.id)
    assert signed.presigned.headers == {
        "Content-Type": "application/pdf",
        "Content-Length": "20000",
        "x-goog-if-generation-match": "0",
    }


def _delete_line(session_uri: str) -> str:
    parts = urlsplit(session_uri)
    return f'DELETE {parts.path}?{parts.query} HTTP/1.1\\" 499'


def test_cancel_aborts_the_session_and_the_remote_upload(
    tmp_path: Path, fake_storage: GCSStorage, fake_gcs: Emulator
) -> None:
    broker = make_broker(tmp_path, fake_storage)
    started = broker.initiate_resumable_session(
        "docs", filename="c.pdf", content_type="application/pdf", size=1000, origin=None
    )

    cancelled = broker.cancel_resumable_session(started.session.id)

    assert cancelled.state == "aborted"
    assert cancelled.session_uri is None  # remote cleanup done, the secret dropped
    needle = _delete_line(started.resumable.session_uri)
    assert needle in fake_gcs.wait_for_log(needle)
    # Cancelling again is harmless.
    assert broker.cancel_resumable_session(started.session.id).state == "aborted"


def test_expiry_through_maintenance_cancels_the_remote_session(
    tmp_path: Path, fake_storage: GCSStorage, fake_gcs: Emulator
) -> None:
    broker = make_broker(tmp_path, fake_storage)
    started = broker.initiate_resumable_session(
        "docs", filename="e.pdf", content_type="application/pdf", size=1000, origin=None
    )
    later = started.session.expires_at + dt.timedelta(seconds=1)

    report = broker.expire_sessions(now=later)

    assert report.expired_session_ids == (started.session.id,)
    assert report.cleanup_failures == 0
    # fake-gcs-server finalises an upload on a status query (its gap), so the
    # "was it still open?" probe leaves an empty object, which cleanup deletes.
    assert (report.remote_aborted, report.objects_deleted) == (0, 1)
    assert report.final_sweeps_scheduled == 1
    assert broker.get_session(started.session.id).state == "expired"
    needle = _delete_line(started.resumable.session_uri)
    assert needle in fake_gcs.wait_for_log(needle)

    # Once the session URI itself has expired, a last sweep closes the row.
    final = broker.expire_sessions(now=later + dt.timedelta(days=8))

    assert (final.cleanups_finished, final.cleanup_failures) == (1, 0)
    assert broker.get_session(started.session.id).session_uri is None
