"""The shared storage-adapter contract suite (rindle_core.testing) against Azurite."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from rindle_azure import AzureBlobStorage, create_storage
from rindle_core.testing import StorageAdapterContract

if TYPE_CHECKING:
    from conftest import Azurite


class TestAzureContract(StorageAdapterContract):
    """Azurite 3.35 verifies SAS signatures, expiry, scope and permissions.

    It refuses a create-only (``sp=c``) Put Blob over an existing blob, an
    expired token, and a commit with ``If-None-Match: *`` over an existing
    blob; it serves the signed ``rsct`` / ``rscd`` overrides. So every flag
    stays at its strict default except header binding.
    """

    checks_signatures = True
    enforces_create_only = True
    enforces_expiry = True
    sets_response_headers = True
    # A service SAS signs permissions, resource, expiry and protocol, never
    # request headers: Azure cannot refuse another Content-Type or length.
    # head() reports what was stored; promotion compares it with the
    # declared size and type and quarantines a mismatch.
    binds_content_headers = False

    @pytest.fixture
    def adapter(self, adapter: AzureBlobStorage) -> AzureBlobStorage:
        return adapter

    @pytest.fixture
    def missing_bucket_adapter(self, azurite: Azurite, container_name: str) -> AzureBlobStorage:
        """An adapter on a container that was never created."""
        return create_storage(container=container_name, connection_string=azurite.connection_string)

    @pytest.fixture
    def adapter_secrets(self, azurite: Azurite) -> list[str]:
        return [azurite.account_key, azurite.connection_string]
