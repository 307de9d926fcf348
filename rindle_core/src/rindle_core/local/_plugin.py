"""Core's own ``local`` backend, registered through the same hook as any plugin."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from rindle_core._hookimpl import hookimpl
from rindle_core._options import Options
from rindle_core.storage import StorageFactory

if TYPE_CHECKING:
    from ._storage import LocalStorage

__all__ = ["OPTIONS", "create_storage", "rindle_register_storage"]

#: The options of a ``type = "local"`` storage.
OPTIONS: Final = ("root", "base_url", "secret", "fsync")


def create_storage(
    options: Mapping[str, object] | None = None,
    /,
    *,
    base_dir: str | Path | None = None,
    **keywords: object,
) -> LocalStorage:
    """The ``local`` factory: ``root`` (a directory, relative to *base_dir*),
    ``base_url`` (where the receiver is mounted), ``secret``, ``fsync``.

    The storage module loads when the factory runs, not when the plugin
    registers (ADR 0119).
    """
    from ._storage import LocalStorage

    read = Options({**(options or {}), **keywords}, known=OPTIONS, base_dir=base_dir)
    root = read.path("root", required=True, kind="dir")
    secret = read.get("secret")
    if secret is not None and not isinstance(secret, str | bytes):
        raise read.error("secret", "must be a string")
    return LocalStorage(
        root,
        base_url=read.string("base_url"),
        secret=secret,
        fsync=read.boolean("fsync", True),
    )


@hookimpl
def rindle_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register the ``local`` backend (TOML options: ``root``, ``base_url``, ``secret``)."""
    register("local", create_storage)
