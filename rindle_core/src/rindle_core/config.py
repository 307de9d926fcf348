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
storage) are relative to the file's directory. Every mistake raises one
:class:`~rindle_core.ConfigurationError` whose message names the file and
the key (``profiles.avatars.max_bytes``), or the storage and the option
(``storage 'media' (s3): unknown option 'bukcet' (did you mean 'bucket'?)``).
Storage options other than ``type`` go to the backend's factory
(:func:`rindle_core.plugins.build_storage`); their values never appear in
reprs or messages, since they may be credentials.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, get_args

import attrs
import pluggy
from sqlalchemy import text as sql_text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ._broker import Broker, JobMode
from ._errors import ConfigurationError, DatabaseError, InvalidProfile, UnknownStorage
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

#: Environment variable naming the configuration file.
CONFIG_ENV: Final = "RINDLE_CONFIG"
#: Environment variable that overrides ``database_url`` (keeps passwords out of files).
DATABASE_URL_ENV: Final = "RINDLE_DATABASE_URL"
#: The file looked for in the working directory.
CONFIG_FILENAME: Final = "rindle.toml"
#: Where the embedded default keeps its database and objects.
EMBEDDED_DIR: Final = Path(".rindle")

#: The largest size rindle stores (a signed 64-bit integer).
MAX_SIZE: Final = 2**63 - 1
#: The longest duration accepted: 100 years (far within datetime arithmetic).
MAX_DURATION: Final = 100 * 365 * 86400

# Always used with fullmatch; ASCII digits and spaces only (Arabic-Indic or
# full-width digits are refused),
# and few enough digits that no number is absurdly long to convert.
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
_SIZE: Final = re.compile(
    r"\s*([0-9]{1,20}(?:\.[0-9]{1,20})?)\s*([kmgt]i?b?|b)?\s*", re.IGNORECASE | re.ASCII
)
_DURATION: Final = re.compile(r"\s*([0-9]{1,20})\s*([smhd])?\s*", re.IGNORECASE | re.ASCII)
_DURATION_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


# -----------------------------------------------------------------------------
# Value parsing
# -----------------------------------------------------------------------------


def parse_size(value: object) -> int:
    """Bytes from an integer or a string such as ``"10 MB"``, ``"8MiB"``, ``"512k"``.

    Decimal units are powers of 1000, ``…iB`` units powers of 1024 (exact:
    ``"1.1 MB"`` is 1100000). Raises :class:`ValueError` for anything else:
    negative numbers, sizes above :data:`MAX_SIZE`, non-ASCII digits.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size in bytes, got {value!r}")
    if isinstance(value, int):
        return _at_most(value, MAX_SIZE, "a size")
    if isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        number, unit = match.group(1), (match.group(2) or "").lower()
        base = 1024 if unit.endswith("ib") or unit.endswith("i") else 1000
        power = "bkmgt".find(unit[:1]) if unit else 0
        scale = 1 if power <= 0 else base**power
        size = Fraction(number) * scale
        if size.denominator != 1:
            raise ValueError(f"{value!r} is not a whole number of bytes")
        return _at_most(int(size), MAX_SIZE, "a size")
    raise ValueError(f'expected a size such as 10485760 or "10 MiB", got {_shown(value)}')


def parse_duration(value: object) -> int:
    """Seconds from an integer or a string such as ``"90s"``, ``"15m"``, ``"24h"``, ``"7d"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration in seconds, got {value!r}")
    if isinstance(value, int):
        return _at_most(value, MAX_DURATION, "a duration")
    if isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = int(match.group(1)) * _DURATION_UNITS[(match.group(2) or "").lower()]
        return _at_most(seconds, MAX_DURATION, "a duration")
    raise ValueError(f'expected seconds or a duration such as "24h", got {_shown(value)}')


def _at_most(value: int, limit: int, what: str) -> int:
    if value < 0:
        raise ValueError(f"{what} cannot be negative, got {_shown(value)}")
    if value > limit:
        raise ValueError(f"{what} cannot exceed {limit}, got {_shown(value)}")
    return value


def _shown(value: object) -> str:
    """A short repr for messages: a 5000-digit number is not echoed whole."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a number of more than 30 digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
            if database.schema_revision() != database.head_revision():
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
    current, head = database.schema_revision(), database.head_revision()
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
    if path is not None:
        file, origin = Path(path), "--config"
    elif env.get(CONFIG_ENV):
        file, origin = Path(env[CONFIG_ENV]), CONFIG_ENV
    elif (here / CONFIG_FILENAME).is_file():
        file, origin = here / CONFIG_FILENAME, ""
    else:
        return embedded_config(here / EMBEDDED_DIR, environ=env)
    if not file.is_absolute():
        file = here / file
    try:
        text = file.read_text(encoding="utf-8-sig")  # a leading BOM is tolerated
    except FileNotFoundError:
        via = f" (from {origin})" if origin else ""
        raise ConfigurationError(f"configuration file {str(file)!r}{via} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read configuration file {str(file)!r}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{file}: invalid TOML: {exc}") from None
    except ValueError:  # Python's limit on digits in an integer literal
        raise ConfigurationError(f"{file}: invalid TOML: a number has too many digits") from None
    except RecursionError:
        raise ConfigurationError(
            f"{file}: invalid TOML: arrays or tables are nested too deeply"
        ) from None
    return parse_config(data, source=file, environ=env)


def load_broker(
    path: str | os.PathLike[str] | None = None,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Broker:
    """``load_config(path).build_broker()``: the one call an app needs."""
    return load_config(path).build_broker(plugin_manager=plugin_manager)


# -----------------------------------------------------------------------------
# Validation
# -----------------------------------------------------------------------------

_TOP_KEYS: Final = (
    "database_url",
    "job_mode",
    "job_max_attempts",
    "job_lease",
    "worker_interval",
    "expire_batch_size",
    "cleanup_grace",
    "storage",
    "profiles",
)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _string_list(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return value


def _string(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _positive_duration(value: object) -> int:
    seconds = parse_duration(value)
    if seconds < 1:
        raise ValueError("must be at least 1 second")
    return seconds


def _positive_size(value: object) -> int:
    size = parse_size(value)
    if size < 1:
        raise ValueError("must be at least 1 byte")
    return size


#: Profile keys and how each TOML value is converted to the Profile field.
_PROFILE_KEYS: Final[Mapping[str, Callable[[object], object]]] = {
    "storage": _string,
    "allow_mime": _string_list,
    "allow_extensions": _string_list,
    "max_bytes": parse_size,
    "min_bytes": parse_size,
    "session_ttl": _positive_duration,
    "url_ttl": _positive_duration,
    "part_size": _positive_size,
    "key_prefix": _string,
    "require_type_match": _bool,
    "allow_active_content": _bool,
}


class _Checker:
    """Collects the file name so every message names file and key."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def error(self, key: str, message: str) -> ConfigurationError:
        return ConfigurationError(f"{self.source}: {key}: {message}")

    def unknown(
        self, prefix: str, key: str, known: tuple[str, ...] | list[str]
    ) -> ConfigurationError:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return self.error(f"{prefix}{key}", f"unknown key{hint}")

    def table(self, key: str, value: object) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {type(value).__name__}")
        return value

    def convert(self, key: str, value: object, convert: Callable[[object], Any]) -> Any:
        try:
            return convert(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None


def parse_config(
    data: Mapping[str, Any],
    *,
    source: str | os.PathLike[str] = CONFIG_FILENAME,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate parsed TOML *data* (from the file *source*) into a :class:`Config`."""
    env = os.environ if environ is None else environ
    file = Path(source)
    base = file.parent
    check = _Checker(file)
    for key in data:
        if key not in _TOP_KEYS:
            raise check.unknown("", key, _TOP_KEYS)

    database_url = env.get(DATABASE_URL_ENV) or data.get("database_url")
    if database_url is None:
        raise check.error("database_url", 'missing (e.g. database_url = "sqlite:///rindle.db")')
    database_url = check.convert("database_url", database_url, _string)
    try:
        database_url = _resolve_sqlite(database_url, base)
    except ConfigurationError as exc:
        raise check.error("database_url", str(exc)) from None

    job_mode = data.get("job_mode", "inline")
    if job_mode not in get_args(JobMode):
        raise check.error("job_mode", f"must be 'inline' or 'worker', got {job_mode!r}")
    max_attempts = data.get("job_max_attempts", 10)
    if (
        isinstance(max_attempts, bool)
        or not isinstance(max_attempts, int)
        or not 1 <= max_attempts <= 100
    ):
        raise check.error(
            "job_max_attempts", f"must be an integer from 1 to 100, got {max_attempts!r}"
        )
    lease = data.get("job_lease", 300.0)
    if isinstance(lease, str):
        lease = check.convert("job_lease", lease, parse_duration)
    # "not 1 <= x" also refuses nan; the upper bound refuses inf.
    if isinstance(lease, bool) or not isinstance(lease, int | float) or not 1 <= lease <= 86_400:
        raise check.error(
            "job_lease", f'must be 1 to 86400 seconds (or a duration such as "5m"), got {lease!r}'
        )
    interval = data.get("worker_interval", 2.0)
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not 0 < interval <= 86_400
    ):
        raise check.error(
            "worker_interval",
            f"must be a positive, finite number of seconds up to 86400, got {interval!r}",
        )
    batch = data.get("expire_batch_size", 100)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10_000:
        raise check.error("expire_batch_size", f"must be an integer from 1 to 10000, got {batch!r}")
    grace = data.get("cleanup_grace", 300)
    if isinstance(grace, str):
        grace = check.convert("cleanup_grace", grace, parse_duration)
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= 604_800:
        raise check.error(
            "cleanup_grace",
            f'must be 0 to 604800 seconds (or a duration such as "5m"), got {grace!r}',
        )

    storages = _parse_storages(check, data.get("storage"), base)
    profiles = _parse_profiles(check, data.get("profiles"), storages)
    return Config(
        database_url=database_url,
        storages=storages,
        profiles=profiles,
        job_mode=job_mode,
        job_max_attempts=max_attempts,
        job_lease=float(lease),
        worker_interval=float(interval),
        expire_batch_size=batch,
        cleanup_grace=float(grace),
        source=file,
        database_from_env=bool(env.get(DATABASE_URL_ENV)),
    )


def _parse_storages(check: _Checker, raw: object, base: Path) -> dict[str, StorageConfig]:
    if raw is None:
        raise check.error(
            "storage", 'missing: add at least one [storage.<name>] table with a "type"'
        )
    tables = check.table("storage", raw)
    if not tables:
        raise check.error("storage", 'empty: add at least one [storage.<name>] table with a "type"')
    storages: dict[str, StorageConfig] = {}
    for name, value in tables.items():
        key = f"storage.{name}"
        if not _NAME.fullmatch(name):
            raise check.error(key, "a storage name is 1-63 chars of a-z, 0-9, '_', '.', '-'")
        options = dict(check.table(key, value))
        if "type" not in options:
            raise check.error(f"{key}.type", 'missing (the backend type, e.g. "local" or "s3")')
        backend = check.convert(f"{key}.type", options.pop("type"), _string)
        # Relative paths in options are the factory's to resolve, against base.
        storages[name] = StorageConfig(name=name, type=backend, options=options, base_dir=base)
    return storages


def _parse_profiles(
    check: _Checker, raw: object, storages: Mapping[str, StorageConfig]
) -> tuple[Profile, ...]:
    if raw is None:
        raise check.error("profiles", "missing: add at least one [profiles.<name>] table")
    tables = check.table("profiles", raw)
    if not tables:
        raise check.error("profiles", "empty: add at least one [profiles.<name>] table")
    profiles: list[Profile] = []
    for name, value in tables.items():
        key = f"profiles.{name}"
        fields: dict[str, Any] = {}
        for option, setting in check.table(key, value).items():
            if option not in _PROFILE_KEYS:
                raise check.unknown(f"{key}.", option, list(_PROFILE_KEYS))
            fields[option] = check.convert(f"{key}.{option}", setting, _PROFILE_KEYS[option])
        if "storage" not in fields:
            if len(storages) != 1:
                raise check.error(
                    f"{key}.storage", f"missing: name one of {', '.join(sorted(storages))}"
                )
            fields["storage"] = next(iter(storages))
        if fields["storage"] not in storages:
            raise check.error(
                f"{key}.storage",
                f"no storage named {fields['storage']!r} "
                f"(configured: {', '.join(sorted(storages))})",
            )
        try:
            profiles.append(Profile(name=name, **fields))
        except InvalidProfile as exc:
            raise check.error(key, str(exc)) from None
    return tuple(profiles)


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to *base*; other URLs pass unchanged."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigurationError("not a valid SQLAlchemy URL (e.g. sqlite:///rindle.db)") from None
    if parsed.get_backend_name() != "sqlite":
        return url
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    path = Path(database).expanduser()
    if path.is_absolute():
        return url
    return parsed.set(database=str((base / path).absolute())).render_as_string(hide_password=False)


def _mask_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"
