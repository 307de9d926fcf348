"""V4 signed URLs: byte-for-byte identity with google-cloud-storage's own signer.

Emulators check no signatures, so the proof that GCS accepts ours is that
they equal ``Blob.generate_signed_url(version="v4")`` for the same key,
clock, method and headers (and the RSA signature verifies with the key).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.oauth2 import service_account

from rindle_core import Capability, InvalidArgument, StorageError, UploadUnsupported
from rindle_gcs import GCSStorage, IAMSigner, KeySigner, V4Signer
from rindle_gcs._config import signer_for
from rindle_gcs._resumable import ResumableProtocol

NOW = dt.datetime(2026, 3, 14, 15, 9, 26, tzinfo=dt.UTC)
ENDPOINTS = ["https://storage.googleapis.com", "http://127.0.0.1:9023"]
KEYS = [
    "docs/2026/report.pdf",
    "with space/and+plus&amp=eq?#hash.bin",
    "unicode/naïve-ß-日本.txt",
    "tilde~and%percent/./..//double",
]


@pytest.fixture(scope="module")
def credentials(service_account_key: Path) -> Any:
    return service_account.Credentials.from_service_account_file(str(service_account_key))


@pytest.fixture
def frozen_sdk_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freeze the clock google-cloud-storage's signer reads."""
    from google.cloud.storage import _signing as sdk_signing

    monkeypatch.setattr(sdk_signing, "_NOW", lambda tz=None: NOW.astimezone(tz))


def sdk_url(
    credentials: Any,
    endpoint: str,
    bucket: str,
    key: str,
    method: str,
    expires_in: int,
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
) -> str:
    client = gcs.Client(project="p", credentials=AnonymousCredentials())
    blob = client.bucket(bucket).blob(key)
    return str(
        blob.generate_signed_url(
            version="v4",
            expiration=dt.timedelta(seconds=expires_in),
            method=method,
            content_type=content_type,
            headers=dict(headers) if headers else None,
            credentials=credentials,
            api_access_endpoint=endpoint,
        )
    )


class NoHTTP:
    """An HTTP session these tests must never use."""

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        raise AssertionError("no HTTP request expected")


def make_storage(credentials: Any, endpoint: str, bucket: str) -> GCSStorage:
    """An adapter whose clock is frozen at NOW (no network is touched)."""
    client = gcs.Client(project="p", credentials=AnonymousCredentials())
    return GCSStorage(
        bucket=client.bucket(bucket),
        resumable=ResumableProtocol(
            endpoint=endpoint, bucket=bucket, authorized=NoHTTP(), anonymous=NoHTTP(), timeout=1
        ),
        signer=V4Signer(KeySigner(credentials), endpoint=endpoint),
        clock=lambda: NOW,
    )


CREATE_ONLY = {"x-goog-if-generation-match": "0"}


@pytest.mark.usefixtures("frozen_sdk_clock")
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("key", KEYS)
def test_presign_put_equals_the_sdk(credentials: Any, endpoint: str, key: str) -> None:
    storage = make_storage(credentials, endpoint, "rindle-bucket")

    request = storage.presign_put(
        key, content_type="application/pdf", content_length=123456, expires_in=900
    )

    assert request.url == sdk_url(
        credentials,
        endpoint,
        "rindle-bucket",
        key,
        "PUT",
        900,
        headers={"Content-Length": "123456", **CREATE_ONLY},
        content_type="application/pdf",
    )
    assert request.method == "PUT"
    assert request.headers == {
        "Content-Type": "application/pdf",
        "Content-Length": "123456",
        **CREATE_ONLY,
    }
    assert request.expires_at == NOW + dt.timedelta(seconds=900)
    signed = parse_qs(urlsplit(request.url).query)["X-Goog-SignedHeaders"]
    assert signed == ["content-length;content-type;host;x-goog-if-generation-match"]


@pytest.mark.usefixtures("frozen_sdk_clock")
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_presign_put_without_length_binds_the_type_and_create_only(
    credentials: Any, endpoint: str
) -> None:
    storage = make_storage(credentials, endpoint, "rindle-bucket")

    request = storage.presign_put(
        "a/b.png", content_type="image/png", content_length=None, expires_in=60
    )

    assert request.url == sdk_url(
        credentials,
        endpoint,
        "rindle-bucket",
        "a/b.png",
        "PUT",
        60,
        headers=dict(CREATE_ONLY),
        content_type="image/png",
    )
    assert request.headers == {"Content-Type": "image/png", **CREATE_ONLY}


@pytest.mark.usefixtures("frozen_sdk_clock")
def test_a_put_signed_without_the_precondition_is_another_url(credentials: Any) -> None:
    """The precondition is part of the signature: dropping it breaks the URL."""
    storage = make_storage(credentials, ENDPOINTS[0], "rindle-bucket")

    request = storage.presign_put("k", content_type="image/png", content_length=4, expires_in=60)
    without = sdk_url(
        credentials,
        ENDPOINTS[0],
        "rindle-bucket",
        "k",
        "PUT",
        60,
        headers={"Content-Length": "4"},
        content_type="image/png",
    )

    assert request.url != without
    assert request.url.split("X-Goog-Signature=")[1] != without.split("X-Goog-Signature=")[1]


@pytest.mark.usefixtures("frozen_sdk_clock")
@pytest.mark.parametrize("key", KEYS)
def test_presign_get_equals_the_sdk(credentials: Any, key: str) -> None:
    endpoint = ENDPOINTS[0]
    storage = make_storage(credentials, endpoint, "rindle-bucket")

    request = storage.presign_get(key, expires_in=3600)

    assert request.url == sdk_url(credentials, endpoint, "rindle-bucket", key, "GET", 3600)
    assert request.method == "GET"
    assert request.headers == {}


GET_OVERRIDES = [
    {"content_type": "text/plain"},
    {"content_disposition": "attachment"},
    {"version": "1700000000123456"},
    {
        "version": "1",
        "content_type": "image/svg+xml; charset=utf-8",
        "content_disposition": 'attachment; filename="a b;c.svg"',
    },
    {
        "content_type": "application/octet-stream",
        "content_disposition": "attachment; filename*=UTF-8''%E5%86%99%E7%9C%9F.png",
    },
    {"content_disposition": 'inline; filename="na~ve+%.txt"'},
]


@pytest.mark.usefixtures("frozen_sdk_clock")
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("overrides", GET_OVERRIDES)
def test_presign_get_with_overrides_equals_the_sdk(
    credentials: Any, endpoint: str, overrides: dict[str, str]
) -> None:
    storage = make_storage(credentials, endpoint, "rindle-bucket")
    key = KEYS[1]

    request = storage.presign_get(key, expires_in=600, **overrides)

    client = gcs.Client(project="p", credentials=AnonymousCredentials())
    expected = (
        client.bucket("rindle-bucket")
        .blob(key)
        .generate_signed_url(
            version="v4",
            expiration=dt.timedelta(seconds=600),
            method="GET",
            response_type=overrides.get("content_type"),
            response_disposition=overrides.get("content_disposition"),
            generation=overrides.get("version"),
            credentials=credentials,
            api_access_endpoint=endpoint,
        )
    )
    assert request.url == expected
    query = parse_qs(urlsplit(request.url).query)
    assert query.get("response-content-type") == (
        [overrides["content_type"]] if "content_type" in overrides else None
    )
    assert query.get("response-content-disposition") == (
        [overrides["content_disposition"]] if "content_disposition" in overrides else None
    )
    assert query.get("generation") == ([overrides["version"]] if "version" in overrides else None)
    assert request.headers == {}


@pytest.mark.parametrize(
    "overrides",
    [
        {"content_type": "text/plain\r\nX-Evil: 1"},
        {"content_disposition": "attachment\n"},
        {"content_type": "text/plain\0"},
        # Not a header value: a non-ASCII name goes in filename*=UTF-8''… (RFC 6266).
        {"content_disposition": 'inline; filename="naïve.txt"'},
    ],
)
def test_presign_get_refuses_overrides_that_are_no_header_values(
    credentials: Any, overrides: dict[str, str]
) -> None:
    storage = make_storage(credentials, ENDPOINTS[0], "rindle-bucket")
    with pytest.raises(InvalidArgument):
        storage.presign_get("k", expires_in=60, **overrides)


@pytest.mark.parametrize("version", ["", "abc", "-1", "0x10", "１２", "12\n", '"etag"'])
def test_presign_get_refuses_a_version_that_is_not_a_generation(
    credentials: Any, version: str
) -> None:
    storage = make_storage(credentials, ENDPOINTS[0], "rindle-bucket")
    with pytest.raises(InvalidArgument, match="version"):
        storage.presign_get("k", expires_in=60, version=version)


def test_the_signature_verifies_with_the_service_account_key(
    credentials: Any, service_account_key: Path
) -> None:
    signer = V4Signer(KeySigner(credentials), endpoint=ENDPOINTS[0])
    seen: list[bytes] = []

    class Recording:
        email = signer.email

        def sign(self, message: bytes) -> bytes:
            seen.append(message)
            return bytes(credentials.sign_bytes(message))

    url = V4Signer(Recording(), endpoint=ENDPOINTS[0]).sign_url(
        "PUT", "b", "k", expires_in=60, headers={"Content-Type": "text/plain"}, now=NOW
    )

    (string_to_sign,) = seen
    assert string_to_sign.startswith(b"GOOG4-RSA-SHA256\n20260314T150926Z\n20260314/auto/")
    signature = bytes.fromhex(parse_qs(urlsplit(url).query)["X-Goog-Signature"][0])
    pem = json.loads(service_account_key.read_text())["private_key"].encode()
    private_key = load_pem_private_key(pem, password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    private_key.public_key().verify(signature, string_to_sign, padding.PKCS1v15(), hashes.SHA256())


def test_expiry_is_at_most_seven_days(credentials: Any) -> None:
    storage = make_storage(credentials, ENDPOINTS[0], "rindle-bucket")

    request = storage.presign_get("k", expires_in=7 * 24 * 3600)

    assert parse_qs(urlsplit(request.url).query)["X-Goog-Expires"] == ["604800"]
    assert request.expires_at == NOW + dt.timedelta(days=7)
    with pytest.raises(InvalidArgument, match="expires_in"):
        storage.presign_get("k", expires_in=7 * 24 * 3600 + 1)


@pytest.mark.parametrize("expires_in", [0, -5])
def test_non_positive_expiry_is_rejected(credentials: Any, expires_in: int) -> None:
    storage = make_storage(credentials, ENDPOINTS[0], "rindle-bucket")
    with pytest.raises(InvalidArgument):
        storage.presign_put("k", content_type="text/plain", content_length=1, expires_in=expires_in)


def test_signature_never_shows_in_reprs(credentials: Any) -> None:
    storage = make_storage(credentials, ENDPOINTS[0], "rindle-bucket")
    request = storage.presign_put("k", content_type="text/plain", content_length=3, expires_in=60)
    signature = parse_qs(urlsplit(request.url).query)["X-Goog-Signature"][0]

    for text in (repr(request), str(request), repr(storage)):
        assert signature not in text
        assert "BEGIN PRIVATE KEY" not in text


# -- choosing a signer --------------------------------------------------------


def test_a_key_signs_locally(credentials: Any) -> None:
    signer = signer_for(credentials)
    assert isinstance(signer, KeySigner)
    assert signer.email == credentials.signer_email


def test_keyless_service_account_credentials_sign_through_iam() -> None:
    class ComputeLike:
        service_account_email = "svc@proj.iam.gserviceaccount.com"

    signer = signer_for(ComputeLike())
    assert isinstance(signer, IAMSigner)
    assert signer.email == "svc@proj.iam.gserviceaccount.com"


@pytest.mark.parametrize("credentials", [None, AnonymousCredentials(), object()])
def test_credentials_that_cannot_sign_give_no_signer(credentials: Any) -> None:
    assert signer_for(credentials) is None


def test_an_adapter_without_signer_withholds_signed_urls() -> None:
    client = gcs.Client(project="p", credentials=AnonymousCredentials())
    storage = GCSStorage(
        bucket=client.bucket("b"),
        resumable=ResumableProtocol(
            endpoint=ENDPOINTS[0], bucket="b", authorized=NoHTTP(), anonymous=NoHTTP(), timeout=1
        ),
        signer=None,
    )

    assert storage.withheld == {
        Capability.PRESIGNED_PUT,
        Capability.PRESIGNED_POST,
        Capability.SIGNED_GET,
    }
    assert Capability.PRESIGNED_PUT not in storage.capabilities
    assert Capability.SIGNED_GET not in storage.capabilities
    assert Capability.RESUMABLE_UPLOAD in storage.capabilities
    with pytest.raises(UploadUnsupported) as info:
        storage.presign_put("k", content_type="text/plain", content_length=1, expires_in=60)
    assert info.value.capability == Capability.PRESIGNED_PUT
    with pytest.raises(UploadUnsupported) as info:
        storage.presign_get("k", expires_in=60)
    assert info.value.capability == Capability.SIGNED_GET


def test_iam_credentials_naming_no_service_account_fail_typed() -> None:
    class Nameless:
        service_account_email = "default"

        def refresh(self, request: object) -> None:
            """Learns nothing: the metadata server names no account."""

    signer = signer_for(Nameless())
    assert isinstance(signer, IAMSigner)
    with pytest.raises(StorageError, match="name no service account"):
        signer.sign(b"x")
