"""The plugin manager and the storage backend registry.

Plugins are modules with :data:`hookimpl`-decorated functions, found through
the ``rindle`` entry-point group. ``RINDLE_LOAD_PLUGINS`` (a comma-separated
list of distribution names, possibly empty) limits which entry points load.

**The storage plugin convention.** A plugin registers, for each backend
type, one module-level factory named ``create_storage``::

    @hookimpl
    def rindle_register_storage(register):
        register("mything", create_storage)

    def create_storage(options: Mapping[str, object], /, *, base_dir: Path) -> MyStorage:
        read = Options(options, known=(...), base_dir=base_dir)
        ...

*options* is the ``[storage.NAME]`` table (``type`` included, to ignore);
*base_dir* is the directory relative paths in options are resolved against
(the configuration file's directory; the working directory from Python).
The factory reads the options with :class:`Options`, so every plugin
refuses unknown options with a did-you-mean and wrong types with the same
message; :func:`build_storage` puts the storage's name and type in front:
``storage 'media' (s3): unknown option 'bukcet' (did you mean 'bucket'?)``.
The built-in plugins also accept the options as keywords
(``create_storage(bucket="b")``) from Python. A factory without a
keyword-only ``base_dir`` is called the former way, ``factory(**options)``,
with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import pluggy

from . import hookspecs
from ._errors import ConfigurationError, UnknownStorage
from ._hookimpl import hookimpl
from ._options import (
    Options,
    check_boolean,
    check_integer,
    check_seconds,
    check_string,
    option_error,
)
from .local import _plugin as local_plugin
from .storage import StorageAdapter, StorageFactory

__all__ = [
    "ENTRY_POINT_GROUP",
    "Options",
    "build_storage",
    "check_boolean",
    "check_integer",
    "check_seconds",
    "check_string",
    "get_plugin_manager",
    "hookimpl",
    "make_plugin_manager",
    "option_error",
    "storage_factories",
]

ENTRY_POINT_GROUP = "rindle"

_default_pm: pluggy.PluginManager | None = None


def make_plugin_manager(*, load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A new manager with rindle's hookspecs, the built-ins and (optionally)
    the installed ``rindle`` entry points."""
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
    # Only the distributions that declare a rindle entry point have their
    # metadata read (reading every installed one's costs ~50 ms).
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None and ep.dist.name in wanted and pm.get_plugin(ep.name) is None:
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
    options: Mapping[str, object] | None = None,
    *,
    pm: pluggy.PluginManager | None = None,
    name: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> StorageAdapter:
    """Build an adapter of type *backend* from its *options*.

    *name* is the storage's name (for messages); *base_dir* is where
    relative paths in *options* start (default: the working directory).
    Raises :class:`UnknownStorage` when no installed plugin provides the type,
    and :class:`ConfigurationError` when the options are rejected, as
    ``storage 'NAME' (TYPE): <problem>`` (``storage (TYPE): …`` without a name).
    """
    factories = storage_factories(pm)
    try:
        factory = factories[backend]
    except KeyError:
        raise UnknownStorage(backend) from None
    where = f"storage {name!r} ({backend})" if name is not None else f"storage ({backend})"
    values = dict(options or {})
    try:
        if follows_convention(factory):
            base = Path(base_dir) if base_dir is not None else Path.cwd()
            return factory(values, base_dir=base)
        warnings.warn(
            f"the {backend!r} storage factory takes **options: register a "
            "create_storage(options, *, base_dir) instead (see rindle_core.plugins)",
            DeprecationWarning,
            stacklevel=2,
        )
        try:
            return factory(**values)
        except TypeError as exc:
            raise ConfigurationError(str(exc)) from None
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


def follows_convention(factory: Callable[..., object]) -> bool:
    """Whether *factory* is ``create_storage(options, /, *, base_dir)`` (else ``**options``)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    base_dir = parameters.get("base_dir")
    return base_dir is not None and base_dir.kind is inspect.Parameter.KEYWORD_ONLY
