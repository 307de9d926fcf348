"""rindle-gcs: Google Cloud Storage for rindle.

Resumable upload sessions (create with content type, size and Origin;
status; cancel), V4 signed PUT and GET URLs, head, ranged read and delete.
Installed, it registers the ``gcs`` storage backend type through the
``rindle`` entry-point group.
"""

from __future__ import annotations

from ._adapter import GCSStorage
from ._config import GCSSettings
from ._factory import create_storage
from ._resumable import SESSION_LIFETIME, session_fingerprint
from ._signing import BlobSigner, IAMSigner, KeySigner, V4Signer

__all__ = [
    "SESSION_LIFETIME",
    "BlobSigner",
    "GCSSettings",
    "GCSStorage",
    "IAMSigner",
    "KeySigner",
    "V4Signer",
    "create_storage",
    "session_fingerprint",
]
