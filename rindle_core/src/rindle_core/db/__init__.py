"""Persistence: rindle's tables, migrations and database handle.

The ORM row classes (:class:`AssetRow`, :class:`SessionRow`,
:class:`PartRow`, :class:`JobRow`) are loaded on first access, so that
rindle's own commands do not import ``sqlalchemy.orm`` (ADR 0119).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._alembic import render_item
from ._database import Database
from ._tables import (
    assets_table,
    jobs_table,
    parts_table,
    sessions_table,
    with_partial_indexes,
)

if TYPE_CHECKING:
    from ._orm import AssetRow, JobRow, PartRow, SessionRow
    from ._tables import metadata

__all__ = [
    "AssetRow",
    "Database",
    "JobRow",
    "PartRow",
    "SessionRow",
    "assets_table",
    "jobs_table",
    "metadata",
    "parts_table",
    "render_item",
    "sessions_table",
]

_ORM_NAMES = frozenset({"AssetRow", "JobRow", "PartRow", "SessionRow"})


def __getattr__(name: str) -> Any:
    if name == "metadata":  # the whole schema, for creating or comparing it
        return with_partial_indexes()
    if name in _ORM_NAMES:
        from . import _orm

        return getattr(_orm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
