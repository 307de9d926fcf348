"""Registers the ``azure`` storage backend type with rindle (entry-point group ``rindle``)."""

from __future__ import annotations

from collections.abc import Callable

from rindle_core.plugins import hookimpl
from rindle_core.storage import StorageFactory

from ._factory import create_storage

__all__ = ["rindle_register_storage"]


@hookimpl
def rindle_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Provide the ``azure`` backend: ``[storage.NAME] type = "azure"``."""
    register("azure", create_storage)
