"""Insert-or-ignore and upsert on every dialect rindle supports.

PostgreSQL and SQLite say ``INSERT … ON CONFLICT``; MySQL and MariaDB say
``INSERT … ON DUPLICATE KEY UPDATE``. ``INSERT IGNORE`` is never used: it
also turns a too-long value or a broken foreign key into a warning. Each
dialect's module is imported where its statement is built: importing all
three costs about 0.1 s that a command on one database never needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, select

from ._dialects import family

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

    #: ``INSERT … ON CONFLICT``, which PostgreSQL and SQLite spell alike.
    OnConflictInsert = postgresql.Insert | sqlite.Insert

__all__ = ["insert_unless_exists", "upsert"]


def insert_unless_exists(
    conn: Connection, table: Table, values: Mapping[str, Any], *, key: str
) -> bool:
    """Insert one row unless one with the same unique *key* exists; True if inserted.

    *values* must include the table's (single-column) primary key.
    """
    (pk,) = table.primary_key.columns
    name = family(conn.dialect.name)
    if name != "mysql":
        stmt = (
            _on_conflict_insert(name, table)
            .values(dict(values))
            .on_conflict_do_nothing(index_elements=[table.c[key]])
            .returning(pk)
        )
        return conn.execute(stmt).scalar_one_or_none() is not None
    # A duplicate keeps its row (the "update" sets the key to itself); the
    # row's primary key then tells whether this insert made it.
    from sqlalchemy.dialects import mysql

    upsert_stmt = (
        mysql.insert(table).values(dict(values)).on_duplicate_key_update({key: table.c[key]})
    )
    if conn.dialect.insert_returning:  # MariaDB 10.5+
        found = conn.execute(upsert_stmt.returning(pk)).scalar_one()
    else:  # MySQL
        conn.execute(upsert_stmt)
        found = conn.execute(select(pk).where(table.c[key] == values[key])).scalar_one()
    return bool(found == values[pk.name])


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert *rows*; where one's *keys* exist already, overwrite its *update* columns."""
    if not rows:
        return
    values = [dict(row) for row in rows]
    name = family(conn.dialect.name)
    if name == "mysql":
        from sqlalchemy.dialects import mysql

        my_stmt = mysql.insert(table).values(values)
        conn.execute(my_stmt.on_duplicate_key_update({c: my_stmt.inserted[c] for c in update}))
        return
    stmt = _on_conflict_insert(name, table).values(values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={c: stmt.excluded[c] for c in update},
        )
    )


def _on_conflict_insert(name: str, table: Table) -> OnConflictInsert:
    """``INSERT … ON CONFLICT`` of *table* on PostgreSQL or SQLite (same API)."""
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)
