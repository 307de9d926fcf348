"""The plugin manager and the storage backend registry.

Plugins are modules with :data:`hookimpl`-decorated functions, found through
the ``rindle`` entry-point group. ``RINDLE_LOAD_PLUGINS`` (a comma-separated
list of distribution names, possibly empty) limits which entry points load.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Mapping
from typing import Any

import pluggy

from . import hookspecs
from ._errors import ConfigurationError, UnknownStorage
from .storage import StorageAdapter, StorageFactory

__all__ = [
    "ENTRY_POINT_GROUP",
    "build_storage",
    "get_plugin_manager",
    "hookimpl",
    "make_plugin_manager",
    "storage_factories",
]

ENTRY_POINT_GROUP = "rindle"

hookimpl = pluggy.HookimplMarker("rindle")

_default_pm: pluggy.PluginManager | None = None


def make_plugin_manager(*, load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A new manager with rindle's hookspecs, the built-ins and (optionally)
    the installed ``rindle`` entry points."""
    from .local import _plugin as local_plugin

    pm = pluggy.PluginManager("rindle")
    pm.add_hookspecs(hookspecs)
    pm.register(local_plugin, name="rindle_core.local")
    if load_entrypoints:
        _load_entrypoints(pm)
    pm.check_pending()
    return pm


def _load_entrypoints(pm: pluggy.PluginManager) -> None:
    allow = os.environ.get("RINDLE_LOAD_PLUGINS")
    if allow is None:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        return
    wanted = {name.strip() for name in allow.split(",") if name.strip()}
    for dist in importlib.metadata.distributions():
        if dist.metadata["Name"] not in wanted:
            continue
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP and pm.get_plugin(ep.name) is None:
                pm.register(ep.load(), name=ep.name)


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide default manager (created on first use)."""
    global _default_pm
    if _default_pm is None:
        _default_pm = make_plugin_manager()
    return _default_pm


def storage_factories(pm: pluggy.PluginManager | None = None) -> dict[str, StorageFactory]:
    """Every registered backend type and its factory."""
    pm = pm or get_plugin_manager()
    factories: dict[str, StorageFactory] = {}

    def register(name: str, factory: StorageFactory) -> None:
        if name in factories:
            raise ConfigurationError(f"storage backend type {name!r} registered twice")
        factories[name] = factory

    pm.hook.rindle_register_storage(register=register)
    return factories


def build_storage(
    backend: str,
    options: Mapping[str, Any] | None = None,
    *,
    pm: pluggy.PluginManager | None = None,
) -> StorageAdapter:
    """Build an adapter of type *backend* from its *options*.

    Raises :class:`UnknownStorage` when no installed plugin provides the type,
    and :class:`ConfigurationError` when the options are rejected.
    """
    factories = storage_factories(pm)
    try:
        factory = factories[backend]
    except KeyError:
        raise UnknownStorage(backend) from None
    try:
        return factory(**dict(options or {}))
    except TypeError as exc:
        raise ConfigurationError(f"storage {backend!r}: {exc}") from None
