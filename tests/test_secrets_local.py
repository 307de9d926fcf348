"""Secrets of the local backend never show in reprs, messages or logs."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from rindle_core import ConfigurationError, PresignedRequest, TransferFailed
from rindle_core.client import UploadClient
from rindle_core.local import LocalStorage, ReceiverServer, serve_receiver
from rindle_core.testing import assert_no_secrets, secret_query_values

SECRET = "secrets-test-secret-b7e1c05d9a3f4e21"
CT = "application/pdf"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets-root")


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ReceiverServer]:
    try:
        srv = serve_receiver(root, SECRET)
    except OSError as exc:
        pytest.fail(f"could not start the local upload receiver on 127.0.0.1: {exc}")
    with srv:
        yield srv


@pytest.fixture
def storage(root: Path, server: ReceiverServer) -> LocalStorage:
    return LocalStorage(root, base_url=server.url, secret=SECRET)


def signature_of(request: PresignedRequest) -> str:
    return dict(parse_qsl(urlsplit(request.url).query))["sig"]


def test_reprs_show_no_secret_or_signature(storage: LocalStorage, server: ReceiverServer) -> None:
    put = storage.presign_put("r/a.pdf", content_type=CT, content_length=3, expires_in=60)
    get = storage.presign_get("r/a.pdf", expires_in=60)
    hidden = [SECRET, signature_of(put), signature_of(get)]
    assert signature_of(put) in secret_query_values(put)  # the helper finds the signature
    for obj in (storage, put, get, server, server.app, storage.receiver()):
        assert_no_secrets(repr(obj), hidden, what=f"repr({type(obj).__name__})")
        assert_no_secrets(str(obj), hidden, what=f"str({type(obj).__name__})")
    assert "base_url='http://127.0.0.1:" in repr(storage)  # the useful part stays


def test_assert_no_secrets_catches_leaks() -> None:
    with pytest.raises(pytest.fail.Exception):
        assert_no_secrets("x " + SECRET, [SECRET])
    with pytest.raises(pytest.fail.Exception):
        assert_no_secrets("https://h/o/k?exp=1&sig=v1.abc", [])
    assert_no_secrets("https://h/o/k?[REDACTED]", [SECRET])


def test_refused_upload_message_shows_no_signature(storage: LocalStorage) -> None:
    put = storage.presign_put("r/b.pdf", content_type=CT, content_length=3, expires_in=60)
    forged = PresignedRequest(url=put.url, method="PUT", headers={"Content-Type": "text/html"})
    with UploadClient() as client, pytest.raises(TransferFailed) as caught:
        client.put_bytes(forged, b"abc")
    assert_no_secrets(str(caught.value), [SECRET, signature_of(put)], what="TransferFailed")


def test_error_responses_show_no_signature(storage: LocalStorage) -> None:
    put = storage.presign_put("r/c.pdf", content_type=CT, content_length=3, expires_in=60)
    tampered = put.url.replace("len=3", "len=4")
    response = httpx.put(tampered, content=b"abcd", headers={"Content-Type": CT})
    assert response.status_code == 403
    assert signature_of(put) not in response.text
    assert SECRET not in response.text


def test_configuration_errors_do_not_echo_secret_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        LocalStorage(tmp_path, secret="tiny-secret")
    assert "tiny-secret" not in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        LocalStorage(tmp_path, base_url="http://user:hunter2@host/x")
    assert "hunter2" not in str(caught.value)


def test_receiver_logs_and_stderr_show_no_signature(
    storage: LocalStorage,
    server: ReceiverServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="rindle_core.local")
    put = storage.presign_put("r/d.pdf", content_type=CT, content_length=3, expires_in=60)
    sig = signature_of(put)
    with UploadClient() as client:
        client.put_bytes(put, b"abc")  # accepted
        with pytest.raises(TransferFailed):
            client.put_bytes(put, b"abcd")  # refused: too large
    httpx.get(storage.presign_get("r/d.pdf", expires_in=60).url)
    httpx.put(put.url.replace("sig=", "sig=x"), content=b"abc", headers={"Content-Type": CT})
    # A request line wsgiref itself rejects is logged by the server, not the app.
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(f"BROKEN {urlsplit(put.url).path}?sig={sig} HTTP/9.9\r\n\r\n".encode())
        sock.recv(4096)
    out, err = capfd.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "PUT" in logged and "[REDACTED]" in logged  # the server did log those requests
    for text, what in ((logged, "log records"), (out, "stdout"), (err, "stderr")):
        assert_no_secrets(text, [SECRET, sig], what=what)


def test_edge_refusals_log_no_signature(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="rindle_core.local")
    with serve_receiver(tmp_path, SECRET, body_timeout=0.5) as srv:
        storage = LocalStorage(tmp_path, base_url=srv.url, secret=SECRET)
        put = storage.presign_put("e/x.pdf", content_type=CT, content_length=4, expires_in=60)
        target = put.url[len(srv.url) :]
        get = storage.presign_get(
            "e/x.pdf", expires_in=60, version="0" * 32, content_disposition="attachment"
        )
        for raw, shut in (
            ("Content-Length: 4\r\nContent-Length: 4\r\n\r\ndata", True),  # framing
            ("Content-Length: 4\r\n\r\nda", False),  # stalls mid-body
        ):
            head = f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\n{raw}"
            with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
                sock.sendall(head.encode())
                if shut:
                    sock.shutdown(socket.SHUT_WR)
                assert b" 400 " in sock.recv(4096)
        storage.write_bytes("e/x.pdf", b"data", content_type=CT)
        assert httpx.get(get.url).status_code == 404  # bound to a version it does not have
    out, err = capfd.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "[REDACTED]" in logged
    secrets = [SECRET, signature_of(put), signature_of(get)]
    for text, what in ((logged, "log records"), (out, "stdout"), (err, "stderr")):
        assert_no_secrets(text, secrets, what=what)
