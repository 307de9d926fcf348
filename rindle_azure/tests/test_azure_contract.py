"""The shared storage-adapter contract suite (rindle_core.testing) against Azurite."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from rindle_azure import AzureBlobStorage
from rindle_core.testing import StorageAdapterContract

if TYPE_CHECKING:
    from conftest import Azurite


class TestAzureContract(StorageAdapterContract):
    """Azurite verifies SAS signatures, expiry and scope."""

    checks_signatures = True
    # A service SAS signs permissions, resource, expiry and protocol, never
    # request headers: Azure cannot refuse another Content-Type or length
    # (promotion catches both by comparing the stored object with the
    # declared size and the sniffed type).
    binds_content_headers = False

    @pytest.fixture
    def adapter(self, adapter: AzureBlobStorage) -> AzureBlobStorage:
        return adapter

    @pytest.fixture
    def adapter_secrets(self, azurite: Azurite) -> list[str]:
        return [azurite.account_key, azurite.connection_string]
