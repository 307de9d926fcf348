"""Fixtures: an Azurite blob server started for the test session, one container per test.

Azurite comes from npm (``tests/servers/package.json`` pins 3.35.0; run
``npm ci`` there). Each pytest-xdist worker starts its own server on a free
127.0.0.1 port, in memory; if it cannot start the tests fail, never skip.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from rindle_core.client import UploadClient


def _unshadow(name: str) -> None:
    """Drop a namespace module pytest made of this package's source folder.

    Under ``--import-mode=importlib`` pytest imports ``rindle_azure/tests/conftest.py``
    as ``rindle_azure.tests.conftest`` and, first, registers the folder
    ``rindle_azure/`` (no ``__init__.py``) as a namespace package ``rindle_azure``,
    shadowing the installed distribution. Forget it so the real package imports.
    """
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) is None:
        del sys.modules[name]


_unshadow("rindle_azure")

from rindle_azure import AzureBlobStorage, create_storage  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
AZURITE = REPO / "tests" / "servers" / "node_modules" / ".bin" / "azurite-blob"
#: Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Azurite:
    """A running Azurite blob service."""

    blob_endpoint: str
    log: Path
    account: str = ACCOUNT
    account_key: str = ACCOUNT_KEY

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def service(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.connection_string)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    log = workdir / f"azurite-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(AZURITE),
                "--blobHost", "127.0.0.1",
                "--blobPort", str(port),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--disableTelemetry",
            ],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}/{ACCOUNT}", log


def _wait_ready(proc: subprocess.Popen[bytes], endpoint: str) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{endpoint}?comp=list", timeout=2.0)
            return True  # any HTTP answer (403 without credentials) means it is up
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """An Azurite blob service for this test session (one per xdist worker)."""
    if shutil.which("node") is None:
        pytest.fail("Azurite needs Node.js (node was not found on PATH)", pytrace=False)
    if not AZURITE.exists():
        pytest.fail(
            f"Azurite is not installed at {AZURITE}: run `npm ci` in {AZURITE.parents[2]}",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("azurite")
    last_log = ""
    for _attempt in range(3):  # a free port can be taken before Azurite binds it
        proc, endpoint, log = _start(workdir)
        if _wait_ready(proc, endpoint):
            break
        _stop(proc)
        last_log = log.read_text(errors="replace")[-2000:]
    else:
        pytest.fail(f"Azurite did not start on 127.0.0.1:\n{last_log}", pytrace=False)
    try:
        yield Azurite(endpoint, log)
    finally:
        _stop(proc)


@pytest.fixture
def unused_port() -> int:
    """A 127.0.0.1 port nothing listens on (for connection failures)."""
    return _free_port()


@pytest.fixture
def container_name() -> str:
    """A container name no other test (or xdist worker) uses."""
    return f"t{uuid.uuid4().hex[:24]}"


@pytest.fixture
def adapter(azurite: Azurite, container_name: str) -> Iterator[AzureBlobStorage]:
    """An adapter on a fresh container, built the way the ``azure`` backend type is."""
    storage = create_storage(
        container=container_name,
        connection_string=azurite.connection_string,
        create_container=True,
    )
    yield storage
    with contextlib.suppress(Exception):
        azurite.service().delete_container(container_name)


@pytest.fixture
def blob_service(azurite: Azurite) -> BlobServiceClient:
    """An SDK client with the account key, to look behind the adapter's back."""
    return azurite.service()


@pytest.fixture
def upload_client() -> Iterator[UploadClient]:
    """Sends bytes the way a browser does."""
    with UploadClient(timeout=60.0) as client:
        yield client


@pytest.fixture
def key() -> str:
    """A unique blob name with a directory-like prefix and characters that need quoting."""
    return f"docs/{uuid.uuid4().hex}/report é+1.pdf"
