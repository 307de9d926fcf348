"""Signed URLs checked as GCS checks them, through ``signing_front`` (ADR 0026).

The front recomputes each signature with google-cloud-storage's own signer
from the request as the server received it, so these tests show that what
the upload client sends is what rindle signed, and that changing any bound
part (a header, the precondition, the key, a response override, the expiry)
is refused. The refusal codes the front recorded are asserted, so a test
cannot pass for the wrong reason.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from rindle_core.client import UploadClient
from rindle_core.storage import PresignedRequest
from rindle_gcs import GCSStorage

if TYPE_CHECKING:
    from conftest import SigningFront


def _put(request: PresignedRequest, data: bytes, **headers: str) -> httpx.Response:
    sent = {**request.headers, **headers}
    return httpx.put(request.url, content=data, headers=sent, timeout=30)


def _refused(front: SigningFront, response: httpx.Response, code: str) -> None:
    assert 400 <= response.status_code < 500, response.status_code
    assert front.refused[-1] == code


def test_a_signed_put_as_the_client_sends_it_is_accepted(
    signed_storage: GCSStorage, signing_front: SigningFront
) -> None:
    request = signed_storage.presign_put(
        "s/a.pdf", content_type="application/pdf", content_length=5, expires_in=60
    )
    before = len(signing_front.refused)

    with UploadClient() as client:
        client.put_bytes(request, b"%PDF-")

    assert len(signing_front.refused) == before
    assert signed_storage.head("s/a.pdf").size == 5


def test_a_put_without_the_create_only_precondition_is_refused(
    signed_storage: GCSStorage, signing_front: SigningFront
) -> None:
    """The precondition is a signed header: a client cannot leave it out."""
    request = signed_storage.presign_put(
        "s/b.pdf", content_type="application/pdf", content_length=5, expires_in=60
    )
    headers = {k: v for k, v in request.headers.items() if not k.lower().startswith("x-goog-if")}

    response = httpx.put(request.url, content=b"%PDF-", headers=headers)

    _refused(signing_front, response, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    "header", [{"x-goog-if-generation-match": "1234"}, {"Content-Type": "text/html"}]
)
def test_a_put_with_another_bound_header_is_refused(
    signed_storage: GCSStorage, signing_front: SigningFront, header: dict[str, str]
) -> None:
    request = signed_storage.presign_put(
        "s/c.pdf", content_type="application/pdf", content_length=5, expires_in=60
    )

    _refused(signing_front, _put(request, b"%PDF-", **header), "SignatureDoesNotMatch")


def test_a_put_to_another_key_is_refused(
    signed_storage: GCSStorage, signing_front: SigningFront
) -> None:
    request = signed_storage.presign_put(
        "s/d.pdf", content_type="application/pdf", content_length=5, expires_in=60
    )
    parts = urlsplit(request.url)
    moved = urlunsplit(parts._replace(path=parts.path.replace("s/d.pdf", "s/e.pdf")))

    response = httpx.put(moved, content=b"%PDF-", headers=dict(request.headers))

    _refused(signing_front, response, "SignatureDoesNotMatch")


def test_an_expired_put_is_refused(signed_storage: GCSStorage, signing_front: SigningFront) -> None:
    request = signed_storage.presign_put(
        "s/f.pdf", content_type="application/pdf", content_length=5, expires_in=1
    )
    time.sleep(2.2)

    _refused(signing_front, _put(request, b"%PDF-"), "ExpiredToken")


def test_a_signed_get_with_overrides_is_accepted_and_they_are_bound(
    signed_storage: GCSStorage, signing_front: SigningFront
) -> None:
    with UploadClient() as client:
        client.put_bytes(
            signed_storage.presign_put(
                "s/g.svg", content_type="image/svg+xml", content_length=6, expires_in=60
            ),
            b"<svg/>",
        )
    request = signed_storage.presign_get(
        "s/g.svg",
        expires_in=60,
        version=signed_storage.head("s/g.svg").version,
        content_type="text/plain",
        content_disposition='attachment; filename="g.svg"',
    )

    response = httpx.get(request.url)
    assert response.status_code == 200
    assert response.content == b"<svg/>"
    assert response.headers["content-disposition"] == 'attachment; filename="g.svg"'

    forged = request.url.replace(
        "response-content-type=text%2Fplain", "response-content-type=text%2Fhtml"
    )
    assert forged != request.url
    _refused(signing_front, httpx.get(forged), "SignatureDoesNotMatch")
    unbound = request.url.replace("generation=", "generation=1")
    _refused(signing_front, httpx.get(unbound), "SignatureDoesNotMatch")
