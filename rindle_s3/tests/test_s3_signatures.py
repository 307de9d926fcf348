"""Presigned URLs bind what they claim, checked by a front that verifies like S3.

The front (conftest.py) recomputes each signature with botocore's signer from
the request as it arrives; these tests send what a browser would send, and
what an attacker might.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from unittest import mock

import httpx
import pytest

from rindle_core import PresignedRequest, StorageNotFound, TransferFailed
from rindle_core.client import UploadClient
from rindle_s3 import S3Storage


@pytest.fixture
def signed_storage(
    make_storage: Callable[..., S3Storage], bucket: str, signed_s3_endpoint: str
) -> S3Storage:
    return make_storage(bucket, endpoint_url=signed_s3_endpoint)


@pytest.fixture
def front(signature_front: Any) -> Any:
    signature_front.refused.clear()
    return signature_front


def refused(request: PresignedRequest, data: bytes) -> int:
    with pytest.raises(TransferFailed) as info:
        UploadClient().put_bytes(request, data)
    assert info.value.status is not None
    return info.value.status


KEY = "uploads/ünïcode key with spaces+plus~tilde.pdf"


def test_the_exact_request_is_accepted(signed_storage: S3Storage, front: Any) -> None:
    request = signed_storage.presign_put(
        KEY, content_type="application/pdf", content_length=4, expires_in=60
    )
    UploadClient().put_bytes(request, b"%PDF")
    assert front.refused == []
    assert signed_storage.head(KEY).size == 4
    get = signed_storage.presign_get(KEY, expires_in=60)
    assert httpx.get(get.url).content == b"%PDF"
    assert front.refused == []


def test_with_a_session_token(
    make_storage: Callable[..., S3Storage], bucket: str, signed_s3_endpoint: str, front: Any
) -> None:
    storage = make_storage(bucket, endpoint_url=signed_s3_endpoint, aws_session_token="tok/+=en")
    UploadClient().put_bytes(
        storage.presign_put(KEY, content_type="text/plain", content_length=2, expires_in=60), b"ok"
    )
    assert front.refused == []


def test_another_content_type_is_refused(signed_storage: S3Storage, front: Any) -> None:
    request = signed_storage.presign_put(
        KEY, content_type="application/pdf", content_length=4, expires_in=60
    )
    forged = PresignedRequest(
        url=request.url, method="PUT", headers={**request.headers, "Content-Type": "text/html"}
    )
    assert refused(forged, b"<h1>") == 403
    assert front.refused == ["SignatureDoesNotMatch"]
    with pytest.raises(StorageNotFound):
        signed_storage.head(KEY)


def test_another_length_is_refused(signed_storage: S3Storage, front: Any) -> None:
    request = signed_storage.presign_put(
        KEY, content_type="application/pdf", content_length=4, expires_in=60
    )
    assert refused(request, b"%PDF-1.7 and then a lot more") == 403
    assert front.refused == ["SignatureDoesNotMatch"]


def test_unsized_put_accepts_any_length(signed_storage: S3Storage, front: Any) -> None:
    request = signed_storage.presign_put(
        KEY, content_type="application/pdf", content_length=None, expires_in=60
    )
    UploadClient().put_bytes(request, b"x" * 1234)
    assert front.refused == []


def test_a_part_url_binds_its_length_and_its_part(signed_storage: S3Storage, front: Any) -> None:
    init = signed_storage.create_multipart(KEY, content_type="application/pdf")
    part = signed_storage.presign_part(KEY, init.upload_id, 2, expires_in=60, content_length=3)
    assert refused(part, b"four") == 403
    other_part = PresignedRequest(
        url=part.url.replace("partNumber=2", "partNumber=3"), method="PUT", headers=part.headers
    )
    assert refused(other_part, b"abc") == 403
    UploadClient().put_bytes(part, b"abc")
    assert [p.part_number for p in signed_storage.list_parts(KEY, init.upload_id)] == [2]
    assert front.refused == ["SignatureDoesNotMatch", "SignatureDoesNotMatch"]


def test_a_url_for_one_key_does_not_write_another(signed_storage: S3Storage, front: Any) -> None:
    request = signed_storage.presign_put(
        "a/one.pdf", content_type="application/pdf", content_length=4, expires_in=60
    )
    moved = PresignedRequest(
        url=request.url.replace("/a/one.pdf?", "/a/two.pdf?"), method="PUT", headers=request.headers
    )
    assert refused(moved, b"%PDF") == 403
    with pytest.raises(StorageNotFound):
        signed_storage.head("a/two.pdf")


def test_an_expired_url_is_refused(signed_storage: S3Storage, front: Any) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with mock.patch("rindle_s3._adapter.utcnow", return_value=long_ago):
        request = signed_storage.presign_put(
            KEY, content_type="application/pdf", content_length=4, expires_in=60
        )
    assert request.expires_at is not None and request.expires_at < dt.datetime.now(dt.UTC)
    assert refused(request, b"%PDF") == 403
    assert front.refused == ["AccessDenied"]
