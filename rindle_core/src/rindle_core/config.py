"""Configuration: a TOML file (or the embedded default) turned into a ready :class:`Broker`.

The file is found in this order: an explicit path, ``$RINDLE_CONFIG``,
``./rindle.toml``; without any, the embedded default applies (SQLite and
local storage under ``./.rindle/``, one profile ``default`` allowing
anything, jobs run inline)::

    database_url = "sqlite:///rindle.db"
    job_mode = "inline"

    [storage.files]
    type = "local"
    root = "./objects"

    [profiles.avatars]
    storage = "files"
    allow_mime = ["image/png", "image/jpeg"]
    max_bytes = "10 MB"

Relative paths (a SQLite file, a local ``root``, any path option of a
storage) are relative to the file's directory. Reading and validating the
file is :mod:`rindle_core._config_file`'s job; this module builds from the
result: the database, the storage adapters, the broker. Every mistake raises one
:class:`~rindle_core.ConfigurationError` whose message names the file and
the key (``profiles.avatars.max_bytes``), or the storage and the option
(``storage 'media' (s3): unknown option 'bukcet' (did you mean 'bucket'?)``).
Storage options other than ``type`` go to the backend's factory
(:func:`rindle_core.plugins.build_storage`); their values never appear in
reprs or messages, since they may be credentials.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pluggy
from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ._broker import Broker, JobMode
from ._config_file import (
    CONFIG_ENV,
    CONFIG_FILENAME,
    DATABASE_URL_ENV,
    DEFAULT_PRUNE_AFTER,
    EMBEDDED_DIR,
    MAX_DURATION,
    MAX_SIZE,
    ConfigFile,
    locate,
    parse_duration,
    parse_size,
    read,
    validate,
)
from ._errors import ConfigurationError, DatabaseError, UnknownStorage
from ._schema_version import applied_revision, shipped_head
from .db import Database
from .plugins import build_storage, get_plugin_manager, storage_factories
from .profiles import Profile
from .storage import StorageAdapter

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILENAME",
    "DATABASE_URL_ENV",
    "MAX_DURATION",
    "MAX_SIZE",
    "Config",
    "StorageConfig",
    "embedded_config",
    "load_broker",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "schema_problem",
    "unreachable",
]


# -----------------------------------------------------------------------------
# The configuration objects
# -----------------------------------------------------------------------------


def _as_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


@attrs.frozen(kw_only=True, repr=False)
class StorageConfig:
    """One ``[storage.<name>]`` table: a backend type and its factory's options.

    ``base_dir`` is where relative paths in the options start (the file's
    directory; ``None``: the working directory). The repr lists option
    *names* only: values may be credentials.
    """

    name: str
    type: str
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)
    base_dir: Path | None = None

    def __repr__(self) -> str:
        options = sorted(self.options)
        return f"StorageConfig(name={self.name!r}, type={self.type!r}, options={options!r})"

    def build(self, *, plugin_manager: pluggy.PluginManager | None = None) -> StorageAdapter:
        """The adapter, built by the factory registered for :attr:`type`."""
        try:
            return build_storage(
                self.type,
                self.options,
                pm=plugin_manager,
                name=self.name,
                base_dir=self.base_dir,
            )
        except UnknownStorage:
            raise self._unknown_type(plugin_manager) from None

    def check_type(self, *, plugin_manager: pluggy.PluginManager | None = None) -> None:
        """Raise what :meth:`build` would for a type no plugin provides; build nothing."""
        if self.type not in storage_factories(plugin_manager):
            raise self._unknown_type(plugin_manager)

    def _unknown_type(self, plugin_manager: pluggy.PluginManager | None) -> ConfigurationError:
        installed = ", ".join(sorted(storage_factories(plugin_manager))) or "none"
        # Plugins are named by convention, not listed here: core knows no backend.
        hint = f"; install rindle-{self.type} or the plugin that provides it"
        return ConfigurationError(
            f"storage.{self.name}.type: unknown storage type {self.type!r} "
            f"(installed: {installed}{hint})"
        )


@attrs.frozen(kw_only=True, repr=False)
class Config:
    """A validated rindle configuration.

    ``source`` is the file it was read from, or ``None`` for the embedded
    default (whose own database is created and migrated automatically).
    ``database_from_env`` is true when :attr:`database_url` came from
    ``$RINDLE_DATABASE_URL`` rather than the file (or the embedded default).
    """

    database_url: str
    storages: Mapping[str, StorageConfig]
    profiles: tuple[Profile, ...]
    job_mode: JobMode = "inline"
    job_max_attempts: int = 10
    #: Seconds a worker's claim holds a job without renewal (renewed every third).
    job_lease: float = 300.0
    #: Seconds ``rindle worker`` sleeps when no job is due.
    worker_interval: float = 2.0
    #: Sessions ``rindle expire`` handles per batch.
    expire_batch_size: int = 100
    #: Seconds after a session's deadline when its cleanup runs once more (clock skew).
    cleanup_grace: float = 300.0
    #: Seconds after which ``rindle prune`` deletes finished rows (``--older-than``).
    prune_after: float = float(DEFAULT_PRUNE_AFTER)
    #: Seconds untouched after which ``rindle prune`` deletes quarantined assets; None: never.
    sweep_quarantined_after: float | None = None
    #: Seconds untouched after which ``rindle prune`` deletes abandoned assets; None: never.
    sweep_abandoned_after: float | None = None
    source: Path | None = None
    database_from_env: bool = False

    def __repr__(self) -> str:
        return (
            f"Config(source={self.describe_source()!r}, database={self.safe_database_url!r}, "
            f"storages={sorted(self.storages)!r}, profiles={[p.name for p in self.profiles]!r}, "
            f"job_mode={self.job_mode!r})"
        )

    @property
    def embedded(self) -> bool:
        """True for the embedded default (no configuration file)."""
        return self.source is None

    @property
    def safe_database_url(self) -> str:
        """The database URL with any password masked."""
        return _mask_url(self.database_url)

    def describe_source(self) -> str:
        """The file path, or ``"embedded default"``."""
        return str(self.source) if self.source is not None else "embedded default"

    def describe_database(self) -> str:
        """The database URL (password masked) and where it was configured."""
        if self.database_from_env:
            origin = f"from {DATABASE_URL_ENV}"
        elif self.embedded:
            origin = "embedded default"
        else:
            origin = f"from {self.source}"
        return f"{self.safe_database_url} ({origin})"

    @property
    def creates_database(self) -> bool:
        """True when rindle creates and migrates the database on first use.

        Only the embedded default's own SQLite file is; a database named by a
        file or by ``$RINDLE_DATABASE_URL`` is migrated with ``rindle db upgrade``.
        """
        return self.embedded and not self.database_from_env

    def missing_database_file(self) -> Path | None:
        """The SQLite file :attr:`database_url` names, if it does not exist yet.

        None for other databases, in-memory SQLite, and a file whose directory
        is missing too (that database is unreachable, and reported as such).
        """
        try:
            url = make_url(self.database_url)
        except Exception:
            return None
        path = url.database if url.get_backend_name() == "sqlite" else None
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        file = Path(path)
        if file.exists() or not (file.parent.is_dir() or self.creates_database):
            return None
        return file

    def profile(self, name: str) -> Profile:
        """The profile called *name* (:class:`KeyError` if none)."""
        for profile in self.profiles:
            if profile.name == name:
                return profile
        raise KeyError(name)

    # -- building ------------------------------------------------------------------

    def database(self, *, create: bool = True) -> Database:
        """A :class:`Database` for :attr:`database_url`, schema unchecked.

        With ``create=False`` (read-only commands) a SQLite file that does not
        exist is not created: :class:`ConfigurationError` says it is missing.
        """
        missing = self.missing_database_file()
        if missing is not None and not create:
            url = self.safe_database_url
            if self.creates_database:
                raise ConfigurationError(
                    f"the database {url!r} does not exist yet: the embedded default "
                    "is created by the first command that records something "
                    "(`rindle upload FILE`)"
                )
            raise ConfigurationError(
                f"the database {url!r} does not exist, so has no rindle tables: "
                "run `rindle db upgrade`"
            )
        if missing is not None and self.creates_database:
            missing.parent.mkdir(parents=True, exist_ok=True)
        try:
            return Database(self.database_url)
        except ConfigurationError as exc:
            raise self._error(f"database_url: {exc}") from None
        except Exception as exc:
            raise self._error(f"database_url: {type(exc).__name__}: {exc}") from None

    def open_database(self, *, create: bool = True) -> Database:
        """A :class:`Database` whose schema is ready.

        The embedded default is created and migrated on the spot (unless
        *create* is false: read-only commands); a configured database must
        have been migrated with ``rindle db upgrade`` (or
        :meth:`Database.upgrade`), else :class:`ConfigurationError` says so
        (a configured SQLite file is never created here).
        A database that cannot be reached raises
        :class:`~rindle_core.DatabaseError` naming it (password masked).
        """
        database = self.database(create=create and self.creates_database)
        problem = unreachable(database)
        if problem is not None:
            database.dispose()
            raise DatabaseError(f"{self.describe_source()}: {problem}")
        if self.creates_database:
            if applied_revision(database) != shipped_head():  # Alembic only to upgrade
                database.upgrade()
            return database
        problem = schema_problem(database)
        if problem is not None:
            database.dispose()
            raise ConfigurationError(f"{problem}: run `rindle db upgrade`")
        return database

    def build_storages(
        self,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        skip: Iterable[str] = (),
    ) -> dict[str, StorageAdapter]:
        """The adapters of the configured storages (except those in *skip*), by name."""
        skipped = set(skip)
        try:
            return {
                name: storage.build(plugin_manager=plugin_manager)
                for name, storage in self.storages.items()
                if name not in skipped
            }
        except ConfigurationError as exc:
            raise self._error(str(exc)) from None

    def check_storage_types(self, *, plugin_manager: pluggy.PluginManager | None = None) -> None:
        """Fail as :meth:`build_storages` would on an unknown storage type,
        without building any adapter (no credentials needed, nothing created)."""
        try:
            for storage in self.storages.values():
                storage.check_type(plugin_manager=plugin_manager)
        except ConfigurationError as exc:
            raise self._error(str(exc)) from None

    def build_broker(
        self,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        storages: Mapping[str, StorageAdapter] | None = None,
        database: Database | None = None,
    ) -> Broker:
        """A :class:`Broker` on this configuration.

        *storages* replaces configured adapters by name (e.g. a local
        storage bound to a receiver started for the occasion); the others
        are built by their factories. *database* defaults to
        :meth:`open_database`.
        """
        pm = plugin_manager or get_plugin_manager()
        overrides = dict(storages or {})
        adapters = {**self.build_storages(plugin_manager=pm, skip=overrides), **overrides}
        db = database or self.open_database()
        return Broker(
            db,
            profiles=self.profiles,
            storages=adapters,
            plugin_manager=pm,
            job_mode=self.job_mode,
            job_max_attempts=self.job_max_attempts,
            job_lease=self.job_lease,
            cleanup_grace=self.cleanup_grace,
        )

    def _error(self, message: str) -> ConfigurationError:
        return ConfigurationError(f"{self.describe_source()}: {message}")


def unreachable(database: Database) -> str | None:
    """Why *database* cannot be reached (one secret-free line), or None if it can."""
    try:
        with database.engine.connect() as conn:
            conn.execute(sql_text("SELECT 1"))
    except SQLAlchemyError as exc:
        url = database.engine.url.render_as_string(hide_password=True)
        orig = getattr(exc, "orig", None)
        lines = str(orig if orig is not None else type(exc).__name__).strip().splitlines()
        detail = lines[0][:200] if lines else type(exc).__name__
        return f"cannot reach the database {url!r}: {detail}"
    return None


def schema_problem(database: Database) -> str | None:
    """Why *database*'s schema is not usable by this rindle, or None if it is.

    Tables created by a host app's own migrations (no rindle revision
    recorded) are accepted. An unreachable database says so (it is not
    reported as one without tables).
    """
    problem = unreachable(database)
    if problem is not None:
        return problem
    if not database.has_tables():
        url = database.engine.url.render_as_string(hide_password=True)
        return f"the database {url!r} has no rindle tables"
    current, head = applied_revision(database), shipped_head()  # without importing Alembic
    if current is not None and current != head:
        return f"the database schema is at revision {current}, this rindle needs {head}"
    return None


# -----------------------------------------------------------------------------
# Loading
# -----------------------------------------------------------------------------


def embedded_config(
    directory: str | os.PathLike[str] = EMBEDDED_DIR,
    *,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """The embedded default, keeping its database and objects under *directory*.

    ``$RINDLE_DATABASE_URL`` in *environ* (default: none) replaces its
    database, as it does a file's ``database_url``; that database is then
    not created or migrated automatically.
    """
    base = Path(directory).absolute()
    from_env = (environ or {}).get(DATABASE_URL_ENV)
    return Config(
        database_url=from_env or f"sqlite:///{base / 'rindle.db'}",
        database_from_env=bool(from_env),
        storages={
            "local": StorageConfig(
                name="local", type="local", options={"root": str(base / "objects")}
            )
        },
        profiles=(Profile(name="default", storage="local"),),
        job_mode="inline",
        source=None,
    )


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Config:
    """Find and load the configuration (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    here = Path(cwd) if cwd is not None else Path.cwd()
    found = locate(path, environ=env, cwd=here)
    if found is None:
        return embedded_config(here / EMBEDDED_DIR, environ=env)
    file, origin = found
    return _from_file(validate(read(file, origin), source=file, environ=env))


def parse_config(
    data: Mapping[str, object],
    *,
    source: str | os.PathLike[str] = CONFIG_FILENAME,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate parsed TOML *data* (from the file *source*) into a :class:`Config`."""
    env = os.environ if environ is None else environ
    return _from_file(validate(data, source=Path(source), environ=env))


def load_broker(
    path: str | os.PathLike[str] | None = None,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Broker:
    """``load_config(path).build_broker()``: the one call an app needs."""
    return load_config(path).build_broker(plugin_manager=plugin_manager)


def _from_file(file: ConfigFile) -> Config:
    """The configuration a validated file describes; relative paths in storage
    options start at the file's directory."""
    base = file.source.parent
    return Config(
        database_url=file.database_url,
        storages={
            t.name: StorageConfig(name=t.name, type=t.type, options=t.options, base_dir=base)
            for t in file.storages
        },
        profiles=file.profiles,
        job_mode=file.job_mode,
        job_max_attempts=file.job_max_attempts,
        job_lease=file.job_lease,
        worker_interval=file.worker_interval,
        expire_batch_size=file.expire_batch_size,
        cleanup_grace=file.cleanup_grace,
        prune_after=file.prune_after,
        sweep_quarantined_after=file.sweep_quarantined_after,
        sweep_abandoned_after=file.sweep_abandoned_after,
        source=file.source,
        database_from_env=file.database_from_env,
    )


def _mask_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"
