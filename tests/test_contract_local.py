"""The local backend passes the storage-adapter contract suite against its real receiver."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rindle_core.local import LocalStorage, ReceiverServer, serve_receiver
from rindle_core.testing import StorageAdapterContract

SECRET = "contract-suite-secret-5f0c9a1e7b2d4c68"


@pytest.fixture(scope="module")
def receiver_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-contract")


@pytest.fixture(scope="module")
def receiver(receiver_root: Path) -> Iterator[ReceiverServer]:
    try:
        server = serve_receiver(receiver_root, SECRET)
    except OSError as exc:
        pytest.fail(f"could not start the local upload receiver on 127.0.0.1: {exc}")
    with server:
        yield server


class TestLocalContract(StorageAdapterContract):
    checks_signatures = True
    enforces_post_policy = True
    post_is_create_only = True

    @pytest.fixture
    def adapter(self, receiver_root: Path, receiver: ReceiverServer) -> LocalStorage:
        return LocalStorage(receiver_root, base_url=receiver.url, secret=SECRET)

    @pytest.fixture
    def missing_bucket_adapter(self, tmp_path: Path, receiver: ReceiverServer) -> LocalStorage:
        # The adapter creates its root; a root removed afterwards (deleted,
        # unmounted) is the local backend's "missing bucket".
        root = tmp_path / "gone"
        storage = LocalStorage(root, base_url=receiver.url, secret=SECRET)
        shutil.rmtree(root)
        return storage

    @pytest.fixture
    def adapter_secrets(self) -> list[str]:
        return [SECRET]


class TestLocalContractWithoutReceiver(StorageAdapterContract):
    """Without ``base_url`` signing is withheld: the structure and read checks still hold."""

    @pytest.fixture
    def adapter(self, receiver_root: Path) -> LocalStorage:
        return LocalStorage(receiver_root, secret=SECRET)

    @pytest.fixture
    def missing_bucket_adapter(self, tmp_path: Path) -> LocalStorage:
        root = tmp_path / "gone"
        storage = LocalStorage(root, secret=SECRET)
        shutil.rmtree(root)
        return storage

    @pytest.fixture
    def adapter_secrets(self) -> list[str]:
        return [SECRET]
