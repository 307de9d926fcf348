"""MySQL and MariaDB: the server check at start-up and exact text comparisons.

rindle claims jobs and maintenance batches with ``FOR UPDATE SKIP LOCKED``
(MariaDB 10.6, MySQL 8.0.1) and stores its text in a binary, no-pad
collation (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` from MySQL
8.0.17): the servers' default collations compare case-insensitively and
ignore trailing spaces, so a storage key, an owner or a token would match
another that differs only in case or padding.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table, event
from sqlalchemy.exc import SQLAlchemyError

from .._errors import ConfigurationError
from ._dialects import family

__all__ = [
    "MIN_MARIADB",
    "MIN_MYSQL",
    "check_mysql_server",
    "exact_text_tables",
    "key_collation",
    "prepare_mysql_engine",
]

#: ``SKIP LOCKED`` arrived in MariaDB 10.6.
MIN_MARIADB = (10, 6)
#: ``SKIP LOCKED`` arrived in MySQL 8.0.1, the ``utf8mb4_0900_bin`` collation in 8.0.17.
MIN_MYSQL = (8, 0, 17)


def check_mysql_server(dialect: Dialect) -> None:
    """Raise :class:`ConfigurationError` unless the server can run rindle's SQL.

    Reads the version SQLAlchemy learnt on the first connection; does
    nothing before one.
    """
    version = tuple(v for v in (dialect.server_version_info or ()) if isinstance(v, int))
    if not version:
        return
    mariadb = bool(getattr(dialect, "is_mariadb", False))
    name, least = ("MariaDB", MIN_MARIADB) if mariadb else ("MySQL", MIN_MYSQL)
    if version < least:
        found = ".".join(map(str, version))
        need = ".".join(map(str, least))
        raise ConfigurationError(
            f"rindle needs {name} {need} or later (FOR UPDATE SKIP LOCKED, binary "
            f"no-pad collation), but the server is {name} {found}"
        )


def prepare_mysql_engine(engine: Engine, *, owned: bool) -> Engine:
    """The engine rindle uses on MySQL/MariaDB, its server checked now and on connect.

    A server too old for rindle raises :class:`ConfigurationError` here,
    when the :class:`~rindle_core.Database` is created, rather than at the
    first job claim; an unreachable one is checked again on the first
    connection that succeeds. A host's shared *engine* is left as it is:
    rindle's connections come from a copy that runs them in ``READ
    COMMITTED`` (what rindle's own engines use) and checks the server for
    rindle's connections only.
    """
    if owned:
        # After SQLAlchemy's own first-connect listener: the version is known.
        event.listen(engine, "connect", lambda *_: check_mysql_server(engine.dialect))
    else:
        engine = engine.execution_options(isolation_level="READ COMMITTED")
        event.listen(engine, "engine_connect", lambda conn: check_mysql_server(conn.dialect))
    try:
        with engine.connect():
            pass
    except SQLAlchemyError:
        pass  # unreachable: the listener checks the first connection that succeeds
    check_mysql_server(engine.dialect)  # whatever the first connection learnt
    return engine


def key_collation(dialect: Dialect) -> str:
    """The binary, no-pad collation of rindle's tables on this MySQL-family server."""
    return "utf8mb4_nopad_bin" if getattr(dialect, "is_mariadb", False) else "utf8mb4_0900_bin"


def exact_text_tables(target: Table, connection: Connection, **_kw: Any) -> None:
    """``before_create`` listener: rindle's tables compare text exactly on MySQL/MariaDB."""
    name = connection.dialect.name
    if family(name) == "mysql":
        target.dialect_kwargs[f"{name}_charset"] = "utf8mb4"
        target.dialect_kwargs[f"{name}_collate"] = key_collation(connection.dialect)
