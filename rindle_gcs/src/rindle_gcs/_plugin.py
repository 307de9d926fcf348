"""Registers the ``gcs`` storage backend with rindle (entry point ``rindle: gcs``)."""

from __future__ import annotations

from collections.abc import Callable

from rindle_core.plugins import hookimpl
from rindle_core.storage import StorageFactory

from ._factory import create_storage

__all__ = ["rindle_register_storage"]


@hookimpl
def rindle_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Provide the ``gcs`` backend type, built by :func:`rindle_gcs.create_storage`."""
    register("gcs", create_storage)
