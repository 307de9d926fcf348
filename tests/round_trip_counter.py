"""Count the SQL round trips an engine makes, as SQLAlchemy's events see them.

A statement is one ``before_cursor_execute``; BEGIN, COMMIT and ROLLBACK
count where the driver sends them: on connections that are not in
autocommit (``isolation_level="AUTOCOMMIT"`` or rindle's ``rindle_autocommit``
option), and for BEGIN only where the driver sends it itself (rindle's
SQLite connections send ``BEGIN IMMEDIATE`` as a statement, counted once).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, event

__all__ = ["RoundTrips"]


def _autocommit(conn: Connection) -> bool:
    options = conn.get_execution_options()
    return bool(options.get("rindle_autocommit") or options.get("isolation_level") == "AUTOCOMMIT")


class RoundTrips:
    """Records what *engine* sends, while :meth:`counting`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._active = False
        self.sent: list[str] = []

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[str]]:
        """Record the round trips of the block into a fresh list, yielded."""
        self.sent = []
        listeners = [
            ("before_cursor_execute", self._statement),
            ("begin", self._begin),
            ("commit", self._commit),
            ("rollback", self._rollback),
        ]
        for name, fn in listeners:
            event.listen(self._engine, name, fn)
        try:
            yield self.sent
        finally:
            for name, fn in listeners:
                event.remove(self._engine, name, fn)

    def _statement(self, conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        self.sent.append(" ".join(statement.split()[:3]).upper())

    def _begin(self, conn: Connection) -> None:
        if not _autocommit(conn) and conn.dialect.name != "sqlite":
            self.sent.append("BEGIN")

    def _commit(self, conn: Connection) -> None:
        if not _autocommit(conn):
            self.sent.append("COMMIT")

    def _rollback(self, conn: Connection) -> None:
        if not _autocommit(conn):
            self.sent.append("ROLLBACK")
