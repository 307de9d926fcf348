"""Registers the ``s3`` storage backend type with rindle (entry point ``rindle``)."""

from __future__ import annotations

from collections.abc import Callable

from rindle_core.plugins import hookimpl
from rindle_core.storage import StorageFactory

from ._adapter import S3Storage


@hookimpl
def rindle_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Provide ``type = "s3"`` storages."""
    register("s3", S3Storage.from_options)
