"""Lazy public names: a package's ``__getattr__``/``__dir__`` that import on first use.

A package lists where each public name lives; the name is imported the first
time it is read and then cached in the package's globals. ``rindle --version``
and every command that enumerates the plugins' entry points stay free of
SQLAlchemy and the cloud SDKs this way (ADR 0119).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, where: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for *package*.

    *where* maps each lazy name to the (relative) module that defines it;
    *public* is the package's ``__all__``.
    """
    names = tuple(public)

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
