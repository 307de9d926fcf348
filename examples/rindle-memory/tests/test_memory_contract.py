"""MemoryStorage passes rindle's storage-adapter contract suite against a real MemoryServer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rindle_core.plugins import build_storage
from rindle_core.storage import StorageAdapter
from rindle_core.testing import StorageAdapterContract

from rindle_memory import MemoryServer


class TestMemoryContract(StorageAdapterContract):
    """The server checks signatures, expiry, bound headers and create-only writes itself."""

    checks_signatures = True

    @pytest.fixture
    def adapter(self, server: MemoryServer, tmp_path: Path) -> Iterator[StorageAdapter]:
        # Built as a configuration file would build it: through the entry point.
        storage = build_storage("memory", server.options("contract"), base_dir=tmp_path)
        yield storage
        storage.close()

    @pytest.fixture
    def missing_bucket_adapter(self, server: MemoryServer, tmp_path: Path) -> StorageAdapter:
        return build_storage("memory", server.options("no-such-bucket"), base_dir=tmp_path)

    @pytest.fixture
    def adapter_secrets(self, server: MemoryServer) -> list[str]:
        return [server.secret]


class TestMemoryWithoutMultipartContract(TestMemoryContract):
    """The same server with multipart withheld by configuration (``multipart = false``)."""

    @pytest.fixture
    def adapter(self, server: MemoryServer, tmp_path: Path) -> Iterator[StorageAdapter]:
        options = {**server.options("contract"), "multipart": False}
        storage = build_storage("memory", options, base_dir=tmp_path)
        yield storage
        storage.close()
