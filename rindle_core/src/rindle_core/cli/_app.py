"""What every command shares: configuration, broker, output, errors, cleanup."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

import click

from .._errors import ConfigurationError, DatabaseError, RindleError

# The rest is imported where it is used, so that `rindle --version` and
# `--help` load no SQLAlchemy, pluggy or rich (docs/adr/0119-*).
if TYPE_CHECKING:
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec

    import pluggy
    from rich.console import Console

    from .._broker import Broker
    from ..config import Config
    from ..db import Database
    from ..storage import StorageAdapter

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "READ_ONLY_COMMANDS",
    "App",
    "DatabaseError",
    "console",
    "fail",
    "handle_errors",
    "pass_app",
    "print_json",
]

#: Exit codes: success, an operation failed, a usage or configuration error.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: Commands that only read state. They create no file or directory (not an
#: absent SQLite database, not a local storage root) and build no storage
#: adapter, so they need no cloud credentials (``doctor`` builds adapters to
#: probe them, and reports missing credentials as a failed check).
READ_ONLY_COMMANDS: Final = frozenset(
    {"sessions list", "sessions show", "assets show", "db current", "doctor", "metrics"}
)


class App:
    """Per-invocation state, created by the root command.

    The configuration, plugin manager and broker are built on first use, so
    ``rindle --help`` never touches a database. Receivers and database pools
    opened along the way are closed when the command ends. The first time a
    command uses the database, one line on stderr names it (password
    masked) and where it was configured: ``database: sqlite:///… (from …)``.
    """

    def __init__(self, config_path: Path | None, verbose: int) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.stack = contextlib.ExitStack()
        self._config: Config | None = None
        self._pm: pluggy.PluginManager | None = None
        self._broker: Broker | None = None
        self._database_named = False

    # -- lifecycle ----------------------------------------------------------------

    @contextlib.contextmanager
    def session(self) -> Iterator[App]:
        """Configure logging for the command; close everything afterwards."""
        with self.stack, _cli_logging(self.verbose):
            yield self

    # -- building -----------------------------------------------------------------

    def config(self) -> Config:
        """The loaded configuration (see :func:`rindle_core.config.load_config`)."""
        if self._config is None:
            from ..config import load_config

            self._config = load_config(self.config_path)
        return self._config

    def plugin_manager(self) -> pluggy.PluginManager:
        """A plugin manager of this command's own, with the installed plugins."""
        if self._pm is None:
            try:
                self._pm = make_plugin_manager()
            except Exception as exc:
                raise ConfigurationError(
                    f"a rindle plugin failed to load: {type(exc).__name__}: {exc}"
                ) from None
        return self._pm

    @property
    def read_only(self) -> bool:
        """True when the running command is one of :data:`READ_ONLY_COMMANDS`."""
        ctx = click.get_current_context(silent=True)
        names: list[str] = []
        while ctx is not None and ctx.parent is not None:
            names.append(ctx.info_name or "")
            ctx = ctx.parent
        return " ".join(reversed(names)) in READ_ONLY_COMMANDS

    def database(self) -> Database:
        """The configured database, schema unchecked (``db upgrade``, ``doctor``).

        A read-only command never creates an absent SQLite file: it reads an
        empty stand-in instead (no tables, no revision).
        """
        config = self.config()
        if self.read_only and config.missing_database_file() is not None:
            # Nothing to read and nothing may be created: an empty in-memory
            # stand-in answers as the absent file would (no tables, no revision).
            from sqlalchemy.pool import StaticPool

            from ..db import Database

            database = Database("sqlite://", poolclass=StaticPool)
        else:
            database = config.database()
        self.stack.callback(database.dispose)
        self.name_database()
        return database

    def name_database(self) -> None:
        """Say once, on stderr, which database this command uses."""
        if not self._database_named:
            self._database_named = True
            click.echo(f"database: {self.config().describe_database()}", err=True)

    def broker(self, *, serve_local: bool = False) -> Broker:
        """The broker, on a database whose schema is ready.

        With *serve_local*, each ``local`` storage without a ``base_url``
        gets a receiver on 127.0.0.1 for the duration of the command, so
        its URLs can be signed and uploaded to.
        """
        if self._broker is None and self.read_only:
            # Reads touch no storage: no adapter is built (no credentials
            # asked for, no local root created), nor the embedded database.
            config, pm = self.config(), self.plugin_manager()
            config.check_storage_types(plugin_manager=pm)  # config errors first
            database = config.open_database(create=False)
            self.stack.callback(database.dispose)
            from .._broker import Broker

            self._broker = Broker(database, profiles=(), storages={}, plugin_manager=pm)
            self.name_database()
        if self._broker is None:
            config = self.config()
            pm = self.plugin_manager()
            served = self._served_local_storages(config, pm) if serve_local else {}
            storages = {**config.build_storages(plugin_manager=pm, skip=served), **served}
            database = config.open_database()  # after the storages: config errors first
            self.stack.callback(database.dispose)
            self._broker = config.build_broker(
                plugin_manager=pm, storages=storages, database=database
            )
            self.name_database()
        return self._broker

    def _served_local_storages(
        self, config: Config, pm: pluggy.PluginManager
    ) -> dict[str, StorageAdapter]:
        """Local storages without ``base_url``, bound to a receiver served for this command."""
        import attrs

        served: dict[str, StorageAdapter] = {}
        for name, storage in config.storages.items():
            if storage.type != "local" or storage.options.get("base_url") is not None:
                continue
            if not isinstance(storage.options.get("root"), str):
                continue  # the factory refuses it when the broker is built
            # Validate the options (errors name file and key) before serving
            # anything; the adapter knows its root (relative to the file).
            (built,) = (
                attrs.evolve(config, storages={name: storage})
                .build_storages(plugin_manager=pm)
                .values()
            )
            root = getattr(built, "root", None)
            if not isinstance(root, Path):
                continue
            from ..local import serve_receiver  # only when a local storage is served

            server = self.stack.enter_context(
                serve_receiver(root, storage.options.get("secret"), "127.0.0.1", 0)
            )
            options = {**storage.options, "base_url": server.url}
            served[name] = attrs.evolve(storage, options=options).build(plugin_manager=pm)
        return served


pass_app = click.make_pass_decorator(App)


def make_plugin_manager() -> pluggy.PluginManager:
    """The installed plugins' manager (:func:`rindle_core.plugins.make_plugin_manager`)."""
    from ..plugins import make_plugin_manager as make

    return make()


# -----------------------------------------------------------------------------
# Output
# -----------------------------------------------------------------------------


def console(*, stderr: bool = False) -> Console:
    """A rich console on the current stdout (or stderr); wide when not a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(file=stream, width=None if terminal else 120, soft_wrap=not terminal)


def print_json(data: Any, *, compact: bool = False) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(data, indent=None if compact else 2, default=str))


def fail(exc: BaseException, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: Type: message`` on one line of stderr and exit with *code*."""
    message = " ".join(str(exc).split()) or "(no detail)"
    click.echo(f"error: {type(exc).__name__}: {message}", err=True)
    raise click.exceptions.Exit(code)


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn rindle's typed errors into one line on stderr and an exit code."""
    try:
        yield
    except ConfigurationError as exc:
        fail(exc, EXIT_USAGE)
    except RindleError as exc:
        fail(exc, EXIT_FAILED)
    except OSError as exc:
        fail(exc, EXIT_FAILED)
    except Exception as exc:
        if not _is_sqlalchemy_error(exc):
            raise
        # one that escaped the library's own typing
        fail(DatabaseError(_describe_db_error(exc)), EXIT_FAILED)


def _is_sqlalchemy_error(exc: Exception) -> bool:
    """Whether *exc* is SQLAlchemy's (never imported just to ask)."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.SQLAlchemyError)


def _describe_db_error(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# -----------------------------------------------------------------------------
# Logging
# -----------------------------------------------------------------------------


@contextlib.contextmanager
def _cli_logging(verbose: int) -> Iterator[None]:
    """rindle's log records to stderr (warnings; info with ``-v``), restored afterwards.

    The library logs through stdlib ``logging``. structlog is no dependency
    of rindle's: where something installed it (a plugin that logs through
    it), it is pointed at stderr too, so stdout stays clean for ``--json``;
    where it is not installed it is never imported.
    """
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    with contextlib.ExitStack() as stack:
        if "structlog" in sys.modules:
            stack.enter_context(_structlog_to_stderr(level))
        elif _structlog_installed():  # configured if and when something imports it
            stack.enter_context(_on_import("structlog", _structlog_to_stderr(level)))
        stack.enter_context(_stdlib_to_stderr(level))
        yield


@contextlib.contextmanager
def _stdlib_to_stderr(level: int) -> Iterator[None]:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_CliFormatter())
    rindle = logging.getLogger("rindle")
    previous_level, previous_propagate = rindle.level, rindle.propagate
    rindle.addHandler(handler)
    rindle.setLevel(level)
    rindle.propagate = False  # a configured root logger must not print them twice
    try:
        yield
    finally:
        rindle.removeHandler(handler)
        rindle.setLevel(previous_level)
        rindle.propagate = previous_propagate


def _structlog_installed() -> bool:
    """Whether structlog can be imported (without importing it)."""
    if "structlog" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("structlog") is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def _on_import(name: str, context: contextlib.AbstractContextManager[None]) -> Iterator[None]:
    """Enter *context* if and when module *name* is imported; exit it at the end.

    Importing structlog costs a tenth of a second (it loads rich and
    asyncio), so the CLI does not import it just in case a plugin uses it.
    """
    with contextlib.ExitStack() as stack:
        finder = _ImportHook(name, lambda: stack.enter_context(context))
        sys.meta_path.insert(0, finder)
        stack.callback(_remove_finder, finder)
        yield


def _remove_finder(finder: _ImportHook) -> None:
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)


class _ImportHook:
    """Runs *then* right after module *name* has been executed (once)."""

    def __init__(self, name: str, then: Callable[[], object]) -> None:
        self._name, self._then = name, then

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname != self._name:
            return None
        sys.meta_path.remove(self)  # once; and never finds itself below
        spec = importlib.util.find_spec(fullname)
        inner = spec.loader if spec is not None else None
        if spec is None or inner is None or not hasattr(inner, "exec_module"):
            return spec
        loader, then = inner, self._then

        class _Then:
            def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
                return loader.create_module(spec)

            def exec_module(self, module: types.ModuleType) -> None:
                loader.exec_module(module)
                then()

            def __getattr__(self, name: str) -> Any:  # get_data, resource readers...
                return getattr(loader, name)

        spec.loader = cast("Loader", _Then())  # duck-typed: importlib.abc costs an import
        return spec


@contextlib.contextmanager
def _structlog_to_stderr(level: int) -> Iterator[None]:
    import structlog

    previous = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**previous)


class _CliFormatter(logging.Formatter):
    """``2026-01-01T12:00:00.000Z [warning ] rindle.event key=value``, in UTC."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        level = record.levelname.lower()
        return f"{stamp}.{int(record.msecs):03d}Z [{level:<8}] {record.getMessage()}"
