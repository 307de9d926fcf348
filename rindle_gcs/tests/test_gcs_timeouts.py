"""Bounded waits: a GCS endpoint that accepts connections but never answers.

Every call the adapter makes carries a connect and a read timeout and a
retry budget, so a hanging endpoint becomes ``StorageUnavailable`` within
about ``read_timeout + retry_timeout`` (plus one back-off), not minutes. The
bound asserted here is deliberately generous: it catches a hang, it does not
measure speed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rindle_core import StorageUnavailable
from rindle_gcs import GCSStorage, create_storage

SESSION_PATH = "/upload/storage/v1/b/hung/o?uploadType=resumable&name=k&upload_id=SECRET-ID"
GENEROUS_BOUND = 20.0  # seconds; the configured budget below is about 2 s


class HangingServer:
    """Accepts TCP connections, reads whatever arrives, never answers."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self._sock.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


@pytest.fixture
def hung_storage(hanging: HangingServer, service_account_key: Path) -> GCSStorage:
    return create_storage(
        bucket="hung",
        endpoint_url=hanging.url,
        credentials_file=str(service_account_key),
        connect_timeout=0.5,
        read_timeout=0.5,
        retry_timeout=1,
    )


CALLS: dict[str, Callable[[GCSStorage, str], object]] = {
    "head": lambda s, url: s.head("k"),
    "read_range": lambda s, url: s.read_range("k", 0, 10),
    "read_range_bound": lambda s, url: s.read_range("k", 0, 10, version="7"),
    "delete": lambda s, url: s.delete("k"),
    "create_resumable": lambda s, url: s.create_resumable(
        "k", content_type="text/plain", size=1, origin=None
    ),
    "resumable_status": lambda s, url: s.resumable_status("k", url + SESSION_PATH),
    "cancel_resumable": lambda s, url: s.cancel_resumable("k", url + SESSION_PATH),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_hanging_endpoint_is_unavailable_within_a_bound(
    hung_storage: GCSStorage, hanging: HangingServer, name: str
) -> None:
    started = time.monotonic()

    with pytest.raises(StorageUnavailable) as info:
        CALLS[name](hung_storage, hanging.url)

    assert time.monotonic() - started < GENEROUS_BOUND
    assert hanging.accepted >= 1  # the connection was made: the wait was a read
    assert "SECRET-ID" not in str(info.value)
    assert hanging.url.rsplit(":", 1)[1] not in str(info.value)
