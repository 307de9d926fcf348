"""rindle-memory: an in-memory object store for tests, and its rindle storage adapter.

Start a :class:`MemoryServer` in your tests and configure a ``memory``
storage on it (``type = "memory"`` in ``rindle.toml``, or
:func:`create_storage` from Python); the server checks signed URLs and
refuses to overwrite objects as a cloud service would.
"""

from __future__ import annotations

from ._adapter import MemoryStorage
from ._factory import create_storage
from ._server import MemoryServer

__all__ = ["MemoryServer", "MemoryStorage", "create_storage"]
