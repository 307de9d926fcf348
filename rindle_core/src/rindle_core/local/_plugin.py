"""Core's own ``local`` backend, registered through the same hook as any plugin."""

from __future__ import annotations

from collections.abc import Callable

from rindle_core.plugins import hookimpl
from rindle_core.storage import StorageFactory

from ._storage import LocalStorage

__all__ = ["rindle_register_storage"]


@hookimpl
def rindle_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register the ``local`` backend (TOML options: ``root``, ``base_url``, ``secret``)."""
    register("local", LocalStorage)
