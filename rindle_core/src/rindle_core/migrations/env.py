"""Alembic environment for rindle's own migration history.

Used by ``rindle db upgrade`` and :meth:`rindle_core.Database.upgrade`. A
host app that keeps rindle's tables in its own history does not use this
file; see docs/migrations.md.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from rindle_core.db import metadata  # with every index (see rindle_core.db._tables)

config = context.config
VERSION_TABLE = config.get_main_option("version_table") or "rindle_alembic_version"


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table by copy-and-drop; with foreign keys on,
            # dropping a referenced table fails. The pragma is a no-op inside a
            # transaction, so it is set on the driver connection before one begins.
            _sqlite_foreign_keys(connection, on=False)
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                version_table=VERSION_TABLE,
                render_as_batch=sqlite,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
