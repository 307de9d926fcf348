"""rindle-gcs: Google Cloud Storage for rindle.

Resumable upload sessions (create with content type, size and Origin;
status; cancel), V4 signed PUT and GET URLs, head, ranged read and delete.
Installed, it registers the ``gcs`` storage backend type through the
``rindle`` entry-point group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rindle_core._lazy import lazy_exports

from ._factory import create_storage

if TYPE_CHECKING:
    from ._adapter import GCSStorage
    from ._config import GCSSettings
    from ._resumable import SESSION_LIFETIME, session_fingerprint
    from ._signing import BlobSigner, HMACSigner, IAMSigner, KeySigner, V4Signer

__all__ = [
    "SESSION_LIFETIME",
    "BlobSigner",
    "GCSSettings",
    "GCSStorage",
    "HMACSigner",
    "IAMSigner",
    "KeySigner",
    "V4Signer",
    "create_storage",
    "session_fingerprint",
]

#: Where each public name lives: imported on first use, so loading the plugin
#: (every ``rindle`` command enumerates the entry points) imports no Google SDK.
_LAZY = {
    "GCSStorage": "._adapter",
    "GCSSettings": "._config",
    "SESSION_LIFETIME": "._resumable",
    "session_fingerprint": "._resumable",
    "BlobSigner": "._signing",
    "HMACSigner": "._signing",
    "IAMSigner": "._signing",
    "KeySigner": "._signing",
    "V4Signer": "._signing",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
