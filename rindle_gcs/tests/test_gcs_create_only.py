"""Create-only uploads: no signed PUT and no resumable session can replace an object.

GCS enforces ``x-goog-if-generation-match: 0`` (signed PUT) and
``ifGenerationMatch=0`` (resumable session) with ``412 Precondition
Failed``. Neither emulator enforces either (see ``docs/storage/gcs.md``), so
the proof is in three parts: the precondition is signed into the URL exactly
as google-cloud-storage signs it (``test_gcs_signing.py``); the requests
rindle makes carry it (here, read from the emulators' own logs and the URLs
they hand back); and the value ``0`` means "only if no live object exists",
shown on the one JSON API call an emulator does enforce it for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

from rindle_core import StorageConflict
from rindle_core.client import UploadClient
from rindle_gcs import GCSStorage
from rindle_gcs._errors import gcs_errors

if TYPE_CHECKING:
    from conftest import Emulator

PutObject = Callable[[GCSStorage, str, bytes, str], None]


def test_a_signed_put_carries_the_precondition_in_its_signed_headers(
    storage: GCSStorage,
) -> None:
    request = storage.presign_put(
        "c/a.pdf", content_type="application/pdf", content_length=3, expires_in=60
    )

    assert request.headers["x-goog-if-generation-match"] == "0"
    signed = parse_qs(urlsplit(request.url).query)["X-Goog-SignedHeaders"][0].split(";")
    assert "x-goog-if-generation-match" in signed


def test_the_upload_client_sends_the_precondition(
    fake_storage: GCSStorage, fake_gcs: Emulator
) -> None:
    """What the browser is told to send is what reaches the server."""
    request = fake_storage.presign_put(
        "c/b.txt", content_type="text/plain", content_length=2, expires_in=60
    )
    seen: list[str | None] = []

    def record(http_request: httpx.Request) -> None:
        seen.append(http_request.headers.get("x-goog-if-generation-match"))

    with UploadClient(http=httpx.Client(event_hooks={"request": [record]})) as client:
        client.put_bytes(request, b"ok")

    assert seen == ["0"]
    assert fake_storage.head("c/b.txt").size == 2


def test_a_resumable_session_is_created_create_only(
    fake_storage: GCSStorage, fake_gcs: Emulator
) -> None:
    fake_storage.create_resumable("c/r.bin", content_type="text/plain", size=10, origin=None)

    needle = f"POST /upload/storage/v1/b/{fake_storage.bucket_name}/o?uploadType=resumable"
    log = fake_gcs.wait_for_log(needle)
    (line,) = [entry for entry in log.splitlines() if needle in entry and "c%2Fr.bin" in entry]
    assert "ifGenerationMatch=0" in line


def test_the_session_uri_keeps_the_precondition(storage: GCSStorage) -> None:
    """gcp-storage-emulator echoes the creation query into the session URI, as GCS does."""
    init = storage.create_resumable("c/s.bin", content_type="text/plain", size=10, origin=None)

    assert parse_qs(urlsplit(init.session_uri).query)["ifGenerationMatch"] == ["0"]


def test_if_generation_match_0_refuses_an_existing_object(fake_gcs: Emulator) -> None:
    """The JSON API precondition itself, where fake-gcs-server enforces it (multipart upload).

    The same ``0`` rindle signs and sends: "succeed only if there is no live
    object". Its 412 is what rindle reports as ``StorageConflict``.
    """
    bucket = fake_gcs.create_bucket()
    client = gcs.Client(
        project="p",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake_gcs.url},
    )
    blob = client.bucket(bucket).blob("c/existing.txt")
    blob.upload_from_string(b"first", content_type="text/plain", if_generation_match=0)

    with pytest.raises(api_exceptions.PreconditionFailed) as refused:
        client.bucket(bucket).blob("c/existing.txt").upload_from_string(
            b"second", content_type="text/plain", if_generation_match=0
        )
    assert client.bucket(bucket).blob("c/existing.txt").download_as_bytes() == b"first"

    with pytest.raises(StorageConflict), gcs_errors("upload", conflict=True):
        raise refused.value
