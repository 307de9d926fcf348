"""With DEBUG on for every logger, no secret of a GCS flow reaches a log record.

urllib3 logs each request line, query included, at DEBUG: for a status
query or a cancel that line carries the resumable session URI, a bearer
credential. The adapter installs rindle's redacting filter on the
``urllib3``, ``google`` and ``requests`` loggers when it is built; this test
removes any filter installed earlier in the process, builds the adapter,
runs a real resumable flow, signed PUT and GET against the emulators, and
searches everything the root logger formatted.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from rindle_core import StorageConflict
from rindle_core._redaction import SecretRedactingFilter
from rindle_core.client import UploadClient
from rindle_core.testing import assert_no_secrets, secret_query_values
from rindle_gcs import GCSStorage, create_storage

if TYPE_CHECKING:
    from conftest import Emulator

PREFIXES = ("urllib3", "google", "requests")
CHUNK = 256 * 1024


class Capture(logging.Handler):
    """Keeps every formatted record."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_everything() -> Iterator[Capture]:
    """DEBUG on the root and on every logger; no redaction filter left over."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [
        logger for logger in manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    removed: list[tuple[logging.Logger, logging.Filter]] = []
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if logger.name.split(".")[0] in PREFIXES:
            for flt in list(logger.filters):
                if isinstance(flt, SecretRedactingFilter):
                    logger.removeFilter(flt)
                    removed.append((logger, flt))
    capture = Capture()
    logging.getLogger().addHandler(capture)
    try:
        yield capture
    finally:
        logging.getLogger().removeHandler(capture)
        for logger, level in levels.items():
            logger.setLevel(level)
        for logger, flt in removed:
            if flt not in logger.filters:
                logger.addFilter(flt)


def _build(emulator: Emulator, key: Path) -> GCSStorage:
    return create_storage(
        bucket=emulator.create_bucket(),
        endpoint_url=emulator.url,
        credentials_file=str(key),
        retry_timeout=1,
    )


def test_debug_logs_of_a_real_flow_carry_no_secret(
    debug_everything: Capture,
    gcs_emulator: Emulator,
    fake_gcs: Emulator,
    service_account_key: Path,
    tmp_path: Path,
    put_object: Callable[[GCSStorage, str, bytes, str], None],
) -> None:
    storage = _build(gcs_emulator, service_account_key)
    cancelling = _build(fake_gcs, service_account_key)
    secrets: list[str] = []

    # A resumable upload in chunks, with status queries between them.
    data = b"%PDF-1.7\n" + bytes(range(256)) * (CHUNK // 128)
    path = tmp_path / "up.pdf"
    path.write_bytes(data)
    init = storage.create_resumable(
        "logs/up.pdf", content_type="application/pdf", size=len(data), origin=None
    )
    secrets += _session_secrets(init.session_uri)
    with UploadClient(http=httpx.Client(timeout=30)) as client:
        client.upload_resumable(init.session_uri, path, chunk_size=CHUNK)
    assert storage.head("logs/up.pdf").size == len(data)

    # Status in the middle of another session; cancel one on fake-gcs-server.
    other = storage.create_resumable("logs/b.bin", content_type="text/plain", size=9, origin=None)
    secrets += _session_secrets(other.session_uri)
    assert storage.resumable_status("logs/b.bin", other.session_uri).state == "in_progress"
    doomed = cancelling.create_resumable(
        "logs/c.bin", content_type="text/plain", size=9, origin=None
    )
    secrets += _session_secrets(doomed.session_uri)
    cancelling.cancel_resumable("logs/c.bin", doomed.session_uri)

    # Signed PUT and GET, a bound read that conflicts, a missing object.
    put = storage.presign_put(
        "logs/p.txt", content_type="text/plain", content_length=2, expires_in=60
    )
    secrets += secret_query_values(put)
    with UploadClient() as client:
        client.put_bytes(put, b"ok")
    get = storage.presign_get("logs/p.txt", expires_in=60, content_disposition="attachment")
    secrets += secret_query_values(get)
    with urllib.request.urlopen(get.url, timeout=30) as response:  # the browser: logs nothing
        assert response.read() == b"ok"
    with pytest.raises(StorageConflict):
        storage.read_range("logs/p.txt", 0, 2, version="1")
    storage.delete("logs/missing")

    key = json.loads(service_account_key.read_text())
    secrets += [key["private_key_id"], *key["private_key"].splitlines()[1:-1]]
    text = "\n".join(debug_everything.lines)
    assert any(line.startswith("urllib3") for line in debug_everything.lines)  # it did log
    assert_no_secrets(text, [s for s in secrets if len(s) >= 8], what="the DEBUG log")
    for name in PREFIXES:
        assert any(isinstance(f, SecretRedactingFilter) for f in logging.getLogger(name).filters), (
            name
        )


def _session_secrets(session_uri: str) -> list[str]:
    query = urlsplit(session_uri).query
    upload_id = parse_qs(query)["upload_id"][0]
    return [session_uri, query, upload_id, unquote(upload_id)]
