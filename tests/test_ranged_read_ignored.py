"""A ranged read never holds more than the range, even when the server ignores Range.

A tiny HTTP server answers every GET ``200`` with a 64 MiB body, whatever
the ``Range`` header says (a misconfigured proxy or S3-compatible server).
The S3, GCS and Azure adapters read from it over real HTTP: from the object's start
they return exactly the range, past it they refuse the answer; either way
the memory they allocate stays far below the body's size.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rindle_core import StorageError

BODY = 64 * 1024 * 1024
BLOCK = bytes(range(256)) * 256  # 64 KiB


class _IgnoresRange(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if "k.bin" not in self.path:
            # Not the object (google-cloud-storage fetches the bucket's metadata
            # from a thread of its own): a small 404, or its 64 MiB would count.
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        asked = self.headers.get("Range") or self.headers.get("x-ms-range")  # Azure's own
        self.server.ranges.append(asked)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(BODY))
        self.send_header("ETag", '"abc"')
        self.end_headers()
        try:
            for _ in range(BODY // len(BLOCK)):
                self.wfile.write(BLOCK)
        except OSError:
            pass  # the client stopped reading: what we want

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def ignoring_server() -> Iterator[tuple[str, list[str | None]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IgnoresRange)
    server.daemon_threads = True
    server.ranges = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.ranges  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def _peak(read: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = read()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _s3(url: str) -> Any:
    pytest.importorskip("rindle_s3")
    from rindle_s3 import S3Storage

    return S3Storage(
        "bucket",
        endpoint_url=url,
        region="us-east-1",
        addressing_style="path",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",
        max_attempts=1,
    )


def _gcs(url: str) -> Any:
    pytest.importorskip("rindle_gcs")
    from rindle_gcs import create_storage

    return create_storage({"bucket": "bucket", "endpoint_url": url, "anonymous": True})


def _azure(url: str) -> Any:
    pytest.importorskip("rindle_azure")
    from rindle_azure import create_storage

    key = "bm90LWEtc2VjcmV0"  # base64 of "not-a-secret"
    return create_storage(
        {
            "connection_string": f"DefaultEndpointsProtocol=http;AccountName=acct;"
            f"AccountKey={key};BlobEndpoint={url}/acct;",
            "container": "bucket",
            "retries": 0,
        }
    )


STORAGES = pytest.mark.parametrize("make", [_s3, _gcs, _azure], ids=["s3", "gcs", "azure"])


@STORAGES
def test_a_read_from_the_start_returns_only_the_range(
    ignoring_server: tuple[str, list[str | None]], make: Callable[[str], Any]
) -> None:
    url, ranges = ignoring_server
    storage = make(url)
    storage.read_range("k.bin", 0, 10)  # warm-up: imports and pools are not the read
    data, peak = _peak(lambda: storage.read_range("k.bin", 0, 4096))
    assert data == BLOCK[:4096]
    assert ranges[-1] == "bytes=0-4095"  # it asked for the range; the server ignored it
    assert peak < BODY // 8, f"{peak} bytes allocated for a 4 KiB read"


@STORAGES
def test_a_read_past_the_start_refuses_a_whole_object_answer(
    ignoring_server: tuple[str, list[str | None]], make: Callable[[str], Any]
) -> None:
    url, _ = ignoring_server
    storage = make(url)
    storage.read_range("k.bin", 0, 1)  # warm-up
    tracemalloc.start()
    try:
        with pytest.raises(StorageError, match="ignored the Range header"):
            storage.read_range("k.bin", 1000, 4096)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < BODY // 8, f"{peak} bytes allocated to refuse the answer"
