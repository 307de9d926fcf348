"""The :class:`Database`: an engine configured for rindle, and its transactions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from .._errors import ConfigurationError, DatabaseError
from ._tables import metadata

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

__all__ = ["Database"]

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class Database:
    """rindle's handle on the host app's database.

    Pass a URL (``sqlite:///rindle.db``, ``postgresql+psycopg://…``) or an
    existing :class:`~sqlalchemy.Engine` to share the app's pool. Engines
    rindle creates hide statement parameters from error messages (a session
    URI is a bearer secret); give a shared engine ``hide_parameters=True``
    too. SQLite gets
    WAL mode, foreign keys and a busy timeout so that threads can share it.
    """

    def __init__(self, url_or_engine: str | Engine, **engine_options: object) -> None:
        #: Whether rindle created the engine (and so disposes it in :meth:`close`).
        self.owns_engine = not isinstance(url_or_engine, Engine)
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
        else:
            try:
                url = make_url(url_or_engine)
            except Exception:
                raise ConfigurationError("database_url is not a valid SQLAlchemy URL") from None
            if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
            if url.get_backend_name() == "sqlite":
                engine_options.setdefault("poolclass", NullPool)
            # Statement parameters can hold session URIs (bearer secrets):
            # keep them out of exception messages and logs.
            engine_options.setdefault("hide_parameters", True)
            self.engine = create_engine(url, **engine_options)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin_immediate)

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        """``"sqlite"``, ``"postgresql"``…"""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction, committed on success.

        SQLAlchemy's errors surface as :class:`~rindle_core.DatabaseError`
        (the original is its ``__cause__``); rindle's own errors pass through.
        """
        with _typed_errors(), self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (a short transaction, rolled back)."""
        with (
            _typed_errors(),
            self.engine.connect().execution_options(rindle_read_only=True) as conn,
        ):
            yield conn

    def create_all(self) -> None:
        """Create rindle's tables directly (tests, throwaway databases).

        Production databases should use :meth:`upgrade`, which records the
        schema version for later migrations.
        """
        metadata.create_all(self.engine)

    def upgrade(self, revision: str = "head") -> None:
        """Apply rindle's packaged Alembic migrations up to *revision*.

        Also callable from a host app's own Alembic ``env.py``, after its own
        migrations (docs/migrations.md): the host's Alembic environment is
        kept intact around rindle's.
        """
        from alembic import command

        from ._alembic import keep_outer_alembic_environment

        with keep_outer_alembic_environment():
            command.upgrade(self.alembic_config(), revision)

    def alembic_config(self) -> AlembicConfig:
        """An Alembic ``Config`` for rindle's own migration history."""
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.set_main_option("version_table", "rindle_alembic_version")
        cfg.attributes["engine"] = self.engine
        return cfg

    def schema_revision(self) -> str | None:
        """The applied migration revision, or None when none is recorded."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": "rindle_alembic_version"})
            return ctx.get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision rindle ships."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def has_tables(self) -> bool:
        """True when rindle's tables exist."""
        try:
            names = set(inspect(self.engine).get_table_names())
        except SQLAlchemyError:
            return False
        return {t.name for t in metadata.sorted_tables} <= names

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def close(self) -> None:
        """Dispose the engine if rindle created it; a host's engine is left alone."""
        if self.owns_engine:
            self.engine.dispose()


@contextlib.contextmanager
def _typed_errors() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        _scrub_details(exc)
        raise DatabaseError(describe_database_error(exc)) from exc


def _scrub_details(exc: SQLAlchemyError) -> None:
    """Drop the driver's DETAIL lines, kept on the chained cause.

    PostgreSQL's constraint errors quote the failing row ("Failing row
    contains (…)"), which can hold a session URI; only the first line stays.
    """
    orig = getattr(exc, "orig", None)
    for error in (orig, exc):
        if isinstance(error, BaseException) and error.args and isinstance(error.args[0], str):
            error.args = (error.args[0].split("\n", 1)[0], *error.args[1:])


def describe_database_error(exc: SQLAlchemyError) -> str:
    """One secret-free line: the error type and the driver's first line."""
    orig = getattr(exc, "orig", None)
    text = (str(orig) if orig is not None else "").strip()
    first = text.splitlines()[0][:200] if text else ""
    kind = type(orig).__name__ if orig is not None else type(exc).__name__
    return f"database error ({kind}): {first}" if first else f"database error ({kind})"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin_immediate).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    # Writers take the write lock at BEGIN: SQLite cannot upgrade a read lock
    # without risking "database is locked" when two writers race. Reads
    # (Database.read) take a plain deferred BEGIN.
    if conn.get_execution_options().get("rindle_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
