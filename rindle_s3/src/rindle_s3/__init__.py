"""rindle-s3: AWS S3 and S3-compatible storage for rindle.

Install it next to ``rindle-core``; the ``s3`` backend type is found through
the ``rindle`` entry-point group::

    [storage.main]
    type = "s3"
    bucket = "uploads"
"""

from __future__ import annotations

from ._adapter import S3_PART_LIMITS, AddressingStyle, S3Storage
from ._endpoint import BucketEndpoint, resolve_bucket_endpoint
from ._factory import create_storage
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
