"""Persistence: rindle's tables, migrations and database handle."""

from ._database import Database
from ._tables import AssetRow, JobRow, PartRow, SessionRow, metadata

__all__ = ["AssetRow", "Database", "JobRow", "PartRow", "SessionRow", "metadata"]
