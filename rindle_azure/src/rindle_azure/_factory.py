"""The ``azure`` storage factory, registered by the plugin.

The Azure SDK is imported when the factory runs, not when the plugin loads:
a command whose configuration has no ``azure`` storage never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._adapter import AzureBlobStorage

__all__ = ["create_storage"]


def create_storage(
    options: Mapping[str, object] | None = None,
    /,
    *,
    base_dir: str | Path | None = None,
    **keywords: object,
) -> AzureBlobStorage:
    """The ``azure`` backend factory: validate *options* and build the adapter.

    From Python the options may be given as keywords too (a token
    ``credential`` object only so). *base_dir* is accepted as by every
    factory; no ``azure`` option is a path.
    """
    from ._config import create_storage as build

    return build(options, base_dir=base_dir, **keywords)
