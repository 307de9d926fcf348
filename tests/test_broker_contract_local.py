"""The local backend passes the broker contract: its real receiver, served in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rindle_core.local import LocalStorage, ReceiverServer, serve_receiver
from rindle_core.testing import BrokerContract

SECRET = "broker-contract-secret-0d9e3b7a51c24f86"


@pytest.fixture(scope="module")
def receiver_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-broker-contract")


@pytest.fixture(scope="module")
def receiver(receiver_root: Path) -> Iterator[ReceiverServer]:
    try:
        server = serve_receiver(receiver_root, SECRET)
    except OSError as exc:
        pytest.fail(f"could not start the local upload receiver on 127.0.0.1: {exc}")
    with server:
        yield server


class TestLocalBrokerContract(BrokerContract):
    """Single PUTs only: the multipart and resumable flows are skipped (not offered)."""

    @pytest.fixture
    def adapter(self, receiver_root: Path, receiver: ReceiverServer) -> LocalStorage:
        return LocalStorage(receiver_root, base_url=receiver.url, secret=SECRET)
