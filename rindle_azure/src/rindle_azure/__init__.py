"""rindle-azure: Azure Blob Storage for rindle.

Create-only SAS-signed Put Blob for single uploads; staged blocks (one SAS
URL per block, fixed-width base64 block ids) committed by the broker with a
conditional Put Block List for multipart uploads; progress from the
uncommitted block list, verification from the committed one. Installing the
distribution registers the ``azure`` backend type through the ``rindle``
entry-point group.
"""

from __future__ import annotations

from ._adapter import MAX_BLOB_SIZE, MAX_BLOCK_SIZE, MAX_PUT_BLOB_SIZE, AzureBlobStorage
from ._blocks import MAX_BLOCKS, block_id, block_name, new_upload_id, part_number
from ._config import CONNECTION_STRING_ENV, create_storage
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
