"""The :class:`Database`: an engine configured for rindle, and its transactions."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool, StaticPool

from .._errors import ConfigurationError, DatabaseError, InvalidArgument
from ._atomic import Binding, bound_to, current_binding, unbind
from ._dialects import default_driver, family, missing_driver
from ._mysql import prepare_mysql_engine
from ._tables import metadata, with_partial_indexes

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

__all__ = ["Database"]

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class Database:
    """rindle's handle on the host app's database.

    Pass a URL (``sqlite:///rindle.db``, ``postgresql+psycopg://…``,
    ``mysql://…`` or ``mariadb://…``) or an existing
    :class:`~sqlalchemy.Engine` to share the app's pool. Engines rindle
    creates hide statement parameters from error messages (a session URI is
    a bearer secret); give a shared engine ``hide_parameters=True`` too.
    SQLite gets WAL mode, foreign keys and a busy timeout so that threads
    can share it. MySQL and MariaDB run rindle's transactions in ``READ
    COMMITTED``; a server too old for rindle's SQL raises
    :class:`~rindle_core.ConfigurationError` here.
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
            url = default_driver(url)
            if url.get_backend_name() == "sqlite" and _in_memory(url):
                # One database per connection: keep the one connection (ADR 0114).
                engine_options.setdefault("poolclass", StaticPool)
                connect_args = dict(engine_options.get("connect_args") or {})  # type: ignore[call-overload]
                connect_args.setdefault("check_same_thread", False)
                engine_options["connect_args"] = connect_args
            elif url.get_backend_name() == "sqlite":
                engine_options.setdefault("poolclass", NullPool)
            if family(url.get_backend_name()) == "mysql":
                # PostgreSQL's default: each statement sees what is committed
                # (no stale snapshot after a lost compare-and-set, no gap locks).
                engine_options.setdefault("isolation_level", "READ COMMITTED")
                engine_options.setdefault("pool_pre_ping", True)
            # Statement parameters can hold session URIs (bearer secrets):
            # keep them out of exception messages and logs.
            engine_options.setdefault("hide_parameters", True)
            try:
                self.engine = create_engine(url, **engine_options)
            except ImportError as exc:
                raise missing_driver(url, exc) from None
        #: Serialises rindle's use of a single shared connection (in-memory SQLite).
        self._serial = threading.RLock() if isinstance(self.engine.pool, StaticPool) else None
        if self.dialect == "sqlite" and self.owns_engine:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin_immediate)
        elif self.dialect == "sqlite":
            # A host's engine: only the connections rindle opens are changed,
            # and only while rindle holds them (ADR 0114).
            event.listen(self.engine, "begin", _sqlite_begin_for_rindle)
        if self.dialect == "mysql":
            self.engine = prepare_mysql_engine(self.engine, owned=self.owns_engine)

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        """``"sqlite"``, ``"postgresql"`` or ``"mysql"`` (MySQL and MariaDB)…"""
        return family(self.engine.dialect.name)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction, committed on success.

        SQLAlchemy's errors surface as :class:`~rindle_core.DatabaseError`
        (the original is its ``__cause__``); rindle's own errors pass through.
        """
        binding = current_binding(self)
        if binding is not None:  # inside atomic(): a savepoint keeps rindle's write whole
            with _typed_errors(), binding.connection.begin_nested():
                yield binding.connection
            return
        with self._connection() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for one-statement reads, in autocommit (see :meth:`autocommit`).

        Each statement sees what was committed when it ran: a read of several
        statements that needs one snapshot belongs in :meth:`transaction`.
        Inside :meth:`atomic`, reads join the block's transaction once it is
        open (and never open it).
        """
        binding = current_binding(self)
        if binding is not None and binding.connection.in_transaction():
            with _typed_errors():
                yield binding.connection
            return
        with self.autocommit(join=False) as conn:
            yield conn

    @contextlib.contextmanager
    def autocommit(self, *, join: bool = True) -> Iterator[Connection]:
        """A connection on which each statement is its own transaction.

        No BEGIN, COMMIT or ROLLBACK is sent: for reads that are one
        statement, and for writes that one statement makes atomic (one
        compare-and-set ``UPDATE … RETURNING``). Errors are typed as in
        :meth:`transaction`. Inside :meth:`atomic` (and *join*), the
        statements run in the block's transaction instead.
        """
        binding = current_binding(self) if join else None
        if binding is not None:
            with _typed_errors():
                yield binding.connection
            return
        options: dict[str, object] = {"rindle_autocommit": True}
        if self.dialect != "sqlite":  # rindle's SQLite connections run in autocommit
            options["isolation_level"] = "AUTOCOMMIT"
        with self._connection(options) as conn:
            yield conn

    @contextlib.contextmanager
    def atomic(self, connection: Connection | None = None) -> Iterator[Connection]:
        """One transaction for the host's own writes and rindle's (ADR 0114).

        Yields a connection (*connection*, the caller's, or one of rindle's)
        whose transaction is committed when the block ends, or rolled back if
        it raises. Broker calls made inside the block, in this thread or
        task, write on it; their telemetry and the hand-off of a promotion
        job wait for the commit. The transaction opens at the first
        statement: call rindle before writing your own rows, so that a call
        that asks storage (``verify_completion``) does so before it opens.
        """
        if current_binding(self) is not None:
            raise InvalidArgument("atomic blocks do not nest")
        if connection is not None and connection.in_transaction():
            raise InvalidArgument(
                "atomic(connection) needs a connection with no transaction open: "
                "the block is its transaction"
            )
        source = (
            contextlib.nullcontext(connection)
            if connection is not None
            else self._connection(typed=False)
        )
        with source as conn:
            binding = Binding(self, conn)
            token = bound_to(binding)
            try:
                yield conn
                if conn.in_transaction():
                    with _typed_errors():
                        conn.commit()
            except BaseException:
                if conn.in_transaction():
                    conn.rollback()
                raise
            finally:
                unbind(token)
        for effect in binding.after_commit:
            effect()

    def in_atomic_block(self) -> bool:
        """Whether this thread or task is inside one of this database's :meth:`atomic` blocks."""
        return current_binding(self) is not None

    def after_commit(self, effect: Callable[[], None]) -> None:
        """Run *effect* once what rindle just wrote is committed: now, or when
        the :meth:`atomic` block it was written in commits (never if it rolls back)."""
        binding = current_binding(self)
        if binding is None:
            effect()
        else:
            binding.after_commit.append(effect)

    @contextlib.contextmanager
    def _connection(
        self, options: dict[str, object] | None = None, *, typed: bool = True
    ) -> Iterator[Connection]:
        """A pooled connection marked as rindle's (``rindle=True``), errors typed.

        On a host's SQLite engine the driver's transaction handling is turned
        off while rindle holds the connection (rindle sends its own BEGIN
        IMMEDIATE) and restored before it goes back to the pool.
        """
        with (
            self._serial or contextlib.nullcontext(),
            _typed_errors() if typed else contextlib.nullcontext(),
            self.engine.connect().execution_options(rindle=True, **(options or {})) as conn,
        ):
            if self.dialect != "sqlite" or self.owns_engine:
                yield conn
                return
            driver = conn.connection.dbapi_connection
            saved = driver.isolation_level  # type: ignore[union-attr]
            driver.isolation_level = None  # type: ignore[union-attr]
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    conn.rollback()
                driver.isolation_level = saved  # type: ignore[union-attr]

    def create_all(self) -> None:
        """Create rindle's tables directly (tests, throwaway databases).

        Production databases should use :meth:`upgrade`, which records the
        schema version for later migrations.
        """
        with_partial_indexes().create_all(self.engine)

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


def _in_memory(url: URL) -> bool:
    """Whether a SQLite URL names an in-memory database (one per connection)."""
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or (database.startswith("file:") and ("mode=memory" in database or ":memory:" in database))
        or url.query.get("mode") == "memory"
    )


def _sqlite_begin_for_rindle(conn: Connection) -> None:
    # On a host's engine, only rindle's own connections get BEGIN IMMEDIATE.
    if conn.get_execution_options().get("rindle"):
        _sqlite_begin_immediate(conn)


def _sqlite_begin_immediate(conn: Connection) -> None:
    # Writers take the write lock at BEGIN: SQLite cannot upgrade a read lock
    # without risking "database is locked" when two writers race. Autocommit
    # connections (Database.autocommit, Database.read) send no BEGIN: each of
    # their statements is its own transaction.
    if not conn.get_execution_options().get("rindle_autocommit"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
