"""rindle-s3: AWS S3 and S3-compatible storage for rindle.

Install it next to ``rindle-core``; the ``s3`` backend type is found through
the ``rindle`` entry-point group::

    [storage.main]
    type = "s3"
    bucket = "uploads"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rindle_core._lazy import lazy_exports

from ._factory import create_storage

if TYPE_CHECKING:
    from ._adapter import S3_PART_LIMITS, AddressingStyle, S3Storage
    from ._endpoint import BucketEndpoint, resolve_bucket_endpoint
    from ._signer import (
        FrozenCredentials,
        SigV4Presigner,
        SnapshotCache,
        StaticCredentials,
        object_url,
    )

__all__ = [
    "S3_PART_LIMITS",
    "AddressingStyle",
    "BucketEndpoint",
    "FrozenCredentials",
    "S3Storage",
    "SigV4Presigner",
    "SnapshotCache",
    "StaticCredentials",
    "create_storage",
    "object_url",
    "resolve_bucket_endpoint",
]

#: Where each public name lives: imported on first use, so loading the plugin
#: (every ``rindle`` command enumerates the entry points) imports no boto3.
_LAZY = {
    "S3_PART_LIMITS": "._adapter",
    "AddressingStyle": "._adapter",
    "S3Storage": "._adapter",
    "BucketEndpoint": "._endpoint",
    "resolve_bucket_endpoint": "._endpoint",
    "FrozenCredentials": "._signer",
    "SigV4Presigner": "._signer",
    "SnapshotCache": "._signer",
    "StaticCredentials": "._signer",
    "object_url": "._signer",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
