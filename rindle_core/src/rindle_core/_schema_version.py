"""The applied and the shipped schema revision, read without importing Alembic.

Every command that opens a configured database checks that its schema is
current. Alembic's ``MigrationContext`` and ``ScriptDirectory`` answer
that, but importing them (and the Mako templates behind them) costs more
than the rest of a small upload: here the applied revision is one
``SELECT`` on Alembic's version table and the shipped head is read from
the migration files' ``revision``/``down_revision`` lines, never executed.
``tests/test_schema_version.py`` checks both against Alembic's answers.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlalchemy.sql.expression import ColumnClause

    from .db import Database

__all__ = ["VERSION_TABLE", "applied_revision", "shipped_head"]

#: Alembic's version table for rindle's own migration history.
VERSION_TABLE: Final = "rindle_alembic_version"
_VERSIONS: Final = Path(__file__).parent / "migrations" / "versions"
_REVISION: Final = re.compile(r"""^revision\s*(?::[^=]+)?=\s*['"]([^'"]+)['"]""", re.M)
_DOWN: Final = re.compile(r"""^down_revision\s*(?::[^=]+)?=\s*(.+)$""", re.M)
_QUOTED: Final = re.compile(r"""['"]([^'"]+)['"]""")


def applied_revision(database: Database) -> str | None:
    """The revision recorded in the database, or None (no version table, or empty).

    Like Alembic's ``get_current_revision``: more than one recorded head is
    an error, not an answer.
    """
    from sqlalchemy import column, inspect, select, table

    with database.engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        version: ColumnClause[str] = column("version_num")
        query = select(version).select_from(table(VERSION_TABLE))
        versions = [str(value) for value in conn.execute(query).scalars()]
    if len(versions) > 1:
        raise ValueError(f"the database records several schema heads: {sorted(versions)}")
    return versions[0] if versions else None


@functools.cache
def shipped_head() -> str | None:
    """The newest revision among rindle's packaged migrations (None if there are none)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in _VERSIONS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision = _REVISION.search(text)
        if revision is None:
            continue  # __init__.py, helpers
        revisions.add(revision.group(1))
        down = _DOWN.search(text)
        if down is not None:
            parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    if len(heads) > 1:
        raise ValueError(f"rindle's migrations have several heads: {sorted(heads)}")
    return next(iter(heads), None)
