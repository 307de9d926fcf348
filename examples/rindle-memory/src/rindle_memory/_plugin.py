"""Registers the ``memory`` storage type with rindle (entry point group ``rindle``)."""

from __future__ import annotations

from collections.abc import Callable

from rindle_core.plugins import hookimpl
from rindle_core.storage import StorageFactory

from ._factory import create_storage

__all__ = ["rindle_register_storage"]


@hookimpl
def rindle_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Provide ``type = "memory"`` storages, built by :func:`rindle_memory.create_storage`."""
    register("memory", create_storage)
