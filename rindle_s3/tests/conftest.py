"""Fixtures: a real S3-compatible server (moto) on 127.0.0.1, one per test process.

moto accepts any signature. ``signed_s3_endpoint`` puts a small front in
front of it that checks presigned URLs the way S3 does (SigV4 query
signature recomputed with botocore's own signer from the request as
received, expiry), so tests can show that a URL refuses another content
type, another length, a tampered signature or an expired URL.

Every test gets its own bucket, so the suite is safe under ``pytest -n 2``.
If a server cannot start, the tests that need it fail with the reason;
nothing is skipped.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from rindle_core.testing import CheckingFront
from rindle_s3 import S3Storage
from s3_test_keys import ACCESS_KEY, SECRET_KEY

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _isolated_aws_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's real AWS configuration or credentials."""
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _align_moto_with_s3() -> None:
    """Make moto answer CompleteMultipartUpload for an unknown upload like S3.

    S3 answers ``404 NoSuchUpload``; moto 5.x raises ``KeyError`` inside the
    server, i.e. ``500 InternalError``, which a correct client retries and
    then reports as transient. The server runs in this process, so the
    backend method is wrapped for the session.
    """
    from moto.s3.exceptions import NoSuchUpload
    from moto.s3.models import S3Backend

    original = S3Backend.complete_multipart_upload
    if getattr(original, "_rindle_aligned", False):
        return

    def complete_multipart_upload(self: Any, bucket_name: str, multipart_id: str, body: Any) -> Any:
        if multipart_id not in self.get_bucket(bucket_name).multiparts:
            raise NoSuchUpload(upload_id=multipart_id)
        return original(self, bucket_name, multipart_id, body)

    complete_multipart_upload._rindle_aligned = True  # type: ignore[attr-defined]
    S3Backend.complete_multipart_upload = complete_multipart_upload  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server started for this test process."""
    from moto.server import ThreadedMotoServer

    _align_moto_with_s3()
    # The server's access log would print every presigned URL it receives.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
        _, port = server.get_host_and_port()
        url = f"http://127.0.0.1:{port}"
        httpx.get(url + "/moto-api/", timeout=10).raise_for_status()
    except Exception as exc:
        pytest.fail(f"could not start the moto S3 server on 127.0.0.1: {exc!r}", pytrace=False)
    yield url
    server.stop()


def _sigv4_refusal(method: str, url: str, headers: dict[str, str]) -> str | None:
    """Why S3 would refuse this presigned request (``None``: it would accept it).

    The signature is recomputed by botocore's signer from the request as
    received: the raw path, the query without ``X-Amz-Signature`` and the
    headers named in ``X-Amz-SignedHeaders``.
    """
    base, _, query = url.partition("?")
    fields = [field.partition("=") for field in query.split("&")]
    params = {name: value for name, _, value in fields}
    unsigned = "&".join(f"{n}={v}" for n, _, v in fields if n != "X-Amz-Signature")
    credential = httpx.QueryParams(query).get("X-Amz-Credential", "").split("/")
    if len(credential) != 5 or credential[0] != ACCESS_KEY:
        return "InvalidAccessKeyId"
    lowered = {k.lower(): v for k, v in headers.items()}
    names = httpx.QueryParams(query).get("X-Amz-SignedHeaders", "").split(";")
    if any(name not in lowered for name in names):
        return "SignatureDoesNotMatch"
    request = AWSRequest(
        method=method, url=f"{base}?{unsigned}", headers={name: lowered[name] for name in names}
    )
    request.context["timestamp"] = params.get("X-Amz-Date", "")
    signer = S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), credential[3], credential[2])
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    expected = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(expected, params.get("X-Amz-Signature", "")):
        return "SignatureDoesNotMatch"
    signed_at = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    if dt.datetime.now(dt.UTC) > signed_at + dt.timedelta(seconds=int(params["X-Amz-Expires"])):
        return "AccessDenied"  # "Request has expired"
    return None


class SignatureCheckingFront(CheckingFront):
    """An HTTP front for moto that refuses presigned requests S3 would refuse.

    Requests signed with an ``Authorization`` header (boto3's own calls) pass
    through unchecked; presigned ones are checked, then forwarded.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, marker="X-Amz-Signature=", refuse=_s3_refusal)


def _s3_refusal(
    method: str, host: str, target: str, headers: Mapping[str, str]
) -> tuple[int, str] | None:
    reason = _sigv4_refusal(method, f"http://{host}{target}", dict(headers))
    return None if reason is None else (403, reason)


@pytest.fixture(scope="session")
def signature_front(s3_endpoint: str) -> Iterator[SignatureCheckingFront]:
    """The signature-checking front for this process's moto server."""
    try:
        front = SignatureCheckingFront(s3_endpoint)
    except Exception as exc:
        pytest.fail(f"could not start the signature-checking front: {exc!r}", pytrace=False)
    yield front
    front.close()


@pytest.fixture
def signed_s3_endpoint(signature_front: SignatureCheckingFront) -> str:
    """URL of moto behind a front that checks presigned URLs like S3."""
    return signature_front.url


@pytest.fixture
def admin_client(s3_endpoint: str) -> Any:
    """A plain boto3 client on the test server, to arrange and inspect state."""
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(admin_client: Any) -> str:
    """A new, empty bucket for this test."""
    name = f"rindle-{uuid.uuid4().hex[:20]}"
    admin_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def make_storage(s3_endpoint: str) -> Callable[..., S3Storage]:
    """Build an adapter on the test server: ``make_storage(bucket, **options)``."""

    def make(bucket: str, **options: Any) -> S3Storage:
        options.setdefault("aws_access_key_id", ACCESS_KEY)
        options.setdefault("aws_secret_access_key", SECRET_KEY)
        options.setdefault("region", REGION)
        options.setdefault("addressing_style", "path")
        options.setdefault("endpoint_url", s3_endpoint)
        return S3Storage(bucket, **options)

    return make


@pytest.fixture
def storage(make_storage: Callable[..., S3Storage], bucket: str) -> S3Storage:
    """An adapter on this test's bucket."""
    return make_storage(bucket)


@pytest.fixture
def aws_secrets() -> list[str]:
    """The test credentials: never to be shown in reprs, messages or logs."""
    return [SECRET_KEY, ACCESS_KEY]


@pytest.fixture
def unique_key() -> str:
    return f"uploads/{uuid.uuid4().hex}/file name+ü.bin"


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a file of random bytes: ``make_file(size, name=..., head=b"...")``.

    ``head`` becomes the first bytes (a magic number, so promotion detects a type).
    """

    def make(size: int, *, name: str = "upload.bin", head: bytes = b"") -> Path:
        path = tmp_path / name
        with path.open("wb") as fh:
            fh.write(head[:size])
            remaining = size - min(len(head), size)
            while remaining:
                chunk = os.urandom(min(remaining, 1024 * 1024))
                fh.write(chunk)
                remaining -= len(chunk)
        return path

    return make
