"""rindle-azure: Azure Blob Storage for rindle.

Create-only SAS-signed Put Blob for single uploads; staged blocks (one SAS
URL per block, fixed-width base64 block ids) committed by the broker with a
conditional Put Block List for multipart uploads; progress from the
uncommitted block list, verification from the committed one. Installing the
distribution registers the ``azure`` backend type through the ``rindle``
entry-point group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rindle_core._lazy import lazy_exports

from ._factory import create_storage

if TYPE_CHECKING:
    from ._adapter import MAX_BLOB_SIZE, MAX_BLOCK_SIZE, MAX_PUT_BLOB_SIZE, AzureBlobStorage
    from ._blocks import MAX_BLOCKS, block_id, block_name, new_upload_id, part_number
    from ._config import CONNECTION_STRING_ENV
    from ._sas import SAS_VERSION, SasSigner, SharedKeySigner, UserDelegationSigner

__all__ = [
    "CONNECTION_STRING_ENV",
    "MAX_BLOB_SIZE",
    "MAX_BLOCKS",
    "MAX_BLOCK_SIZE",
    "MAX_PUT_BLOB_SIZE",
    "SAS_VERSION",
    "AzureBlobStorage",
    "SasSigner",
    "SharedKeySigner",
    "UserDelegationSigner",
    "block_id",
    "block_name",
    "create_storage",
    "new_upload_id",
    "part_number",
]

#: Where each public name lives: imported on first use, so loading the plugin
#: (every ``rindle`` command enumerates the entry points) imports no Azure SDK.
_LAZY = {
    "MAX_BLOB_SIZE": "._adapter",
    "MAX_BLOCK_SIZE": "._adapter",
    "MAX_PUT_BLOB_SIZE": "._adapter",
    "AzureBlobStorage": "._adapter",
    "MAX_BLOCKS": "._blocks",
    "block_id": "._blocks",
    "block_name": "._blocks",
    "new_upload_id": "._blocks",
    "part_number": "._blocks",
    "CONNECTION_STRING_ENV": "._config",
    "SAS_VERSION": "._sas",
    "SasSigner": "._sas",
    "SharedKeySigner": "._sas",
    "UserDelegationSigner": "._sas",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
