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


def test_a_put_without_if_none_match_is_refused(signed_storage: S3Storage, front: Any) -> None:
    """If-None-Match is a signed header: a client cannot drop the create-only condition."""
    request = signed_storage.presign_put(
        KEY, content_type="application/pdf", content_length=4, expires_in=60
    )
    assert "if-none-match" in request.url
    unconditional = PresignedRequest(
        url=request.url,
        method="PUT",
        headers={k: v for k, v in request.headers.items() if k != "If-None-Match"},
    )
    assert refused(unconditional, b"%PDF") == 403
    weakened = PresignedRequest(
        url=request.url, method="PUT", headers={**request.headers, "If-None-Match": '"x"'}
    )
    assert refused(weakened, b"%PDF") == 403
    assert front.refused == ["SignatureDoesNotMatch", "SignatureDoesNotMatch"]


def test_the_same_url_writes_once(signed_storage: S3Storage, front: Any) -> None:
    """The signature is valid both times; S3 (here moto) refuses the second by its condition."""
    request = signed_storage.presign_put(
        KEY, content_type="application/pdf", content_length=4, expires_in=60
    )
    UploadClient().put_bytes(request, b"%PDF")
    assert refused(request, b"<h1>") == 412
    assert front.refused == []
    assert signed_storage.read_range(KEY, 0, 4) == b"%PDF"


def test_get_overrides_are_bound_into_the_signature(signed_storage: S3Storage, front: Any) -> None:
    UploadClient().put_bytes(
        signed_storage.presign_put(KEY, content_type="text/html", content_length=6, expires_in=60),
        b"<html>",
    )
    get = signed_storage.presign_get(
        KEY,
        expires_in=60,
        content_type="text/plain",
        content_disposition='attachment; filename="page.txt"',
    )
    response = httpx.get(get.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["content-disposition"] == 'attachment; filename="page.txt"'
    forged = get.url.replace("content-type=text%2Fplain", "content-type=text%2Fhtml")
    assert forged != get.url
    assert httpx.get(forged).status_code == 403
    stripped = get.url.replace("response-content-type=text%2Fplain&", "")
    assert httpx.get(stripped).status_code == 403
    assert front.refused == ["SignatureDoesNotMatch", "SignatureDoesNotMatch"]


def test_an_expired_get_url_is_refused(signed_storage: S3Storage, front: Any) -> None:
    UploadClient().put_bytes(
        signed_storage.presign_put(KEY, content_type="text/plain", content_length=2, expires_in=60),
        b"ok",
    )
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with mock.patch("rindle_s3._adapter.utcnow", return_value=long_ago):
        get = signed_storage.presign_get(KEY, expires_in=60)
    assert httpx.get(get.url).status_code == 403
    assert front.refused == ["AccessDenied"]
