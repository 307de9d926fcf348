"""Persistence: rindle's tables, migrations and database handle."""

from ._alembic import render_item
from ._database import Database
from ._tables import (
    AssetRow,
    JobRow,
    PartRow,
    SessionRow,
    assets_table,
    jobs_table,
    metadata,
    parts_table,
    sessions_table,
)

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
