"""SAS tokens and account keys never show in reprs, exceptions or logs."""

from __future__ import annotations

import logging
import os
import re
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from rindle_azure import AzureBlobStorage, create_storage
from rindle_core import (
    Broker,
    Database,
    Profile,
    StorageError,
    StorageNotFound,
    TransferFailed,
    UploadedPart,
)
from rindle_core.client import SignParts, UploadClient
from rindle_core.plugins import make_plugin_manager
from rindle_core.storage import PresignedRequest
from rindle_core.testing import assert_no_secrets, secret_query_values

if TYPE_CHECKING:
    from conftest import Azurite

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
PART = 64 * 1024


def _sas_values(*requests: PresignedRequest) -> list[str]:
    return [value for request in requests for value in secret_query_values(request)]


def test_reprs_show_no_key_or_signature(
    azurite: Azurite, adapter: AzureBlobStorage, key: str
) -> None:
    put = adapter.presign_put(key, content_type="text/plain", content_length=1, expires_in=60)
    part = adapter.presign_part(
        key, adapter.create_multipart(key, content_type="text/plain").upload_id, 1, expires_in=60
    )
    get = adapter.presign_get(key, expires_in=60)
    secrets = [azurite.account_key, *_sas_values(put, part, get)]
    assert any(len(s) > 30 for s in secrets)  # the signatures are among them
    for text in (repr(adapter), repr(adapter._signer), repr(put), repr(part), repr(get)):
        assert_no_secrets(text, secrets, what="a repr")
    assert "sig=" not in repr(put) and "[REDACTED]" in repr(put)


def test_storage_errors_carry_no_sdk_text(azurite: Azurite, container_name: str) -> None:
    storage = create_storage(container=container_name, connection_string=azurite.connection_string)
    for call in (
        lambda: storage.head("k"),
        lambda: storage.read_range("k", 0, 10),
        lambda: storage.delete("k"),
        lambda: storage.list_parts(
            "k", storage.create_multipart("k", content_type="a/b").upload_id
        ),
    ):
        with pytest.raises(StorageError) as info:
            call()
        message = str(info.value)
        assert message.startswith("azure ") and "HTTP 404 ContainerNotFound" in message
        assert_no_secrets(message, [azurite.account_key], what="a StorageError")
        assert "RequestId" not in message and "http" not in message.lower().replace("http 4", "")
        assert info.value.__cause__ is None and info.value.__suppress_context__


def test_refused_uploads_do_not_echo_the_token(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    get = adapter.presign_get(key, expires_in=60)
    with pytest.raises(TransferFailed) as info:
        upload_client.put_bytes(
            PresignedRequest(url=get.url, method="PUT", headers={"x-ms-blob-type": "BlockBlob"}),
            b"x",
        )
    assert_no_secrets(str(info.value), _sas_values(get), what="TransferFailed")


def test_a_whole_lifecycle_logs_no_secret(
    azurite: Azurite,
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every log record (azure SDK, httpx, rindle's own events) of a full run."""
    database = Database("sqlite:///" + str(tmp_path / "r.db"))
    database.create_all()
    broker = Broker(
        database,
        profiles=[Profile(name="docs", storage="main", allow_mime=["application/pdf"])],
        storages={"main": adapter},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
        job_mode="inline",
    )
    path = tmp_path / "a.pdf"
    path.write_bytes(PDF + os.urandom(2 * PART))
    signed: list[PresignedRequest] = []
    caplog.set_level(logging.DEBUG)
    single = broker.initiate_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=path.stat().st_size
    )
    request = broker.sign_url(single.id).presigned
    signed.append(request)
    with httpx.Client() as http:  # a caller's httpx client logs the URL it sends to
        UploadClient(http=http).put(request, path)
    broker.verify_completion(single.id)

    started = broker.initiate_multipart_session(
        "docs",
        filename="b.pdf",
        content_type="application/pdf",
        size=path.stat().st_size,
        part_size=PART,
    )

    def signer(session_id: str) -> SignParts:
        def sign(numbers: Sequence[int]) -> Sequence[PresignedRequest]:
            parts = broker.sign_multipart_parts(session_id, list(numbers)).parts
            signed.extend(parts)
            return parts

        return sign

    sid = started.session.id
    upload_client.upload_parts(path, part_size=PART, sign=signer(sid), skip={2})
    broker.multipart_status(sid)
    upload_client.upload_parts(path, part_size=PART, sign=signer(sid), skip={1, 3})
    broker.complete_multipart_upload(sid, None)
    aborted = broker.initiate_multipart_session(
        "docs", filename="c.pdf", content_type="application/pdf", size=path.stat().st_size
    )
    sid = aborted.session.id
    upload_client.upload_parts(path, part_size=PART, sign=signer(sid), skip={2, 3})
    broker.abort_session(sid)

    assert any(r.name.startswith("rindle.") for r in caplog.records)  # rindle's events too
    text = "\n".join(r.getMessage() for r in caplog.records)
    # httpx logs every request URL; those UploadClient sends lose their query
    # (its own stdlib connections log nothing).
    assert "HTTP Request: PUT" in text and "?[REDACTED]" in text
    assert_no_secrets(text, [azurite.account_key, *_sas_values(*signed)], what="the logs")


# -- DEBUG logging of every logger ------------------------------------------------------------

_SHARED_KEY_HEADER = re.compile(r"SharedKey [^:\s'\"]+:[A-Za-z0-9+/=]{20,}")


class _Formatted(logging.Handler):
    """Keeps every record as the text a log file would get."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.names.add(record.name)


@pytest.fixture
def debug_everything() -> Iterator[_Formatted]:
    """DEBUG on the root and on every logger that exists, one handler catching all."""
    handler = _Formatted()
    root = logging.getLogger()
    saved = {name: logger.level for name, logger in _loggers().items()}
    saved_root = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for logger in _loggers().values():
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _loggers() -> dict[str, logging.Logger]:
    return {
        name: logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }


def test_debug_logs_of_a_real_flow_show_no_sas_key_or_authorization(
    azurite: Azurite,
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    key: str,
    debug_everything: _Formatted,
) -> None:
    signed: list[PresignedRequest] = []
    put = adapter.presign_put(key, content_type="text/plain", content_length=5, expires_in=60)
    signed.append(put)
    upload_client.put_bytes(put, b"hello")
    version = adapter.head(key).version
    adapter.read_range(key, 0, 5, version=version)
    get = adapter.presign_get(key, expires_in=60, version=version, content_type="text/plain")
    signed.append(get)
    # The host app's download: urllib logs nothing (a bare httpx GET would
    # log the URL at INFO; that is the app's logger, not rindle's).
    with urllib.request.urlopen(get.url) as response:  # noqa: S310 - a local http URL
        assert response.read() == b"hello"
    with pytest.raises(TransferFailed):
        upload_client.put_bytes(put, b"again")  # refused: create-only

    blocks = key + ".blocks"
    upload_id = adapter.create_multipart(blocks, content_type="text/plain").upload_id
    for number in (1, 2):
        part = adapter.presign_part(blocks, upload_id, number, expires_in=60)
        signed.append(part)
        upload_client.put_bytes(part, b"x" * number)
    adapter.list_parts(blocks, upload_id)
    parts = [UploadedPart(1), UploadedPart(2)]
    adapter.complete_multipart(blocks, upload_id, parts, content_type="text/plain")
    adapter.committed_parts(blocks)
    adapter.delete(blocks)
    with pytest.raises(StorageNotFound):
        adapter.head(blocks)

    text = "\n".join(debug_everything.lines)
    # Not vacuous: the SDK's HTTP policy and urllib3 both logged the flow.
    assert any(n.startswith("azure.core.pipeline") for n in debug_everything.names)
    assert any(n.startswith("urllib3") for n in debug_everything.names)
    assert_no_secrets(text, [azurite.account_key, *_sas_values(*signed)], what="the DEBUG logs")
    assert not _SHARED_KEY_HEADER.search(text), "an Authorization header value was logged"


def test_the_sdk_loggers_redact_what_they_are_given(
    azurite: Azurite, adapter: AzureBlobStorage, key: str, debug_everything: _Formatted
) -> None:
    """The filter the adapter installs rewrites SAS queries and credential headers."""
    put = adapter.presign_put(key, content_type="text/plain", content_length=1, expires_in=60)
    header = f"SharedKey {azurite.account}:{'A' * 43}="
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").debug(
        "Request URL: %r headers: {'Authorization': %r}", put.url, header
    )
    target = "/" + put.url.split("/", 3)[3]  # what urllib3 prints: path and query
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s', "http", "127.0.0.1", 10000, "PUT", target, "HTTP/1.1", 201
    )
    text = "\n".join(debug_everything.lines)
    assert "[REDACTED]" in text
    assert_no_secrets(text, _sas_values(put), what="the DEBUG logs")
    assert not _SHARED_KEY_HEADER.search(text)
