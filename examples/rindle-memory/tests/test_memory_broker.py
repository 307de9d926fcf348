"""The broker's flows run over MemoryStorage: rindle's broker contract kit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rindle_core.plugins import build_storage
from rindle_core.storage import StorageAdapter
from rindle_core.testing import BrokerContract

from rindle_memory import MemoryServer


class TestMemoryBrokerContract(BrokerContract):
    """Single PUT and multipart flows; resumable ones are skipped (not implemented)."""

    @pytest.fixture
    def adapter(self, server: MemoryServer, tmp_path: Path) -> Iterator[StorageAdapter]:
        storage = build_storage("memory", server.options("contract"), base_dir=tmp_path)
        yield storage
        storage.close()
