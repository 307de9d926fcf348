"""The configuration file: where it is, reading it, and validating its TOML.

The result is a :class:`ConfigFile` of plain, typed values; building
anything from them (adapters, a database, a broker) is
:mod:`rindle_core.config`'s job. Every mistake raises one
:class:`~rindle_core.ConfigurationError` naming the file and the key
(``profiles.avatars.max_bytes``), with a did-you-mean for an unknown key.
Storage options other than ``type`` are not read here: the backend's
factory validates them, and their values may be credentials.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, TypeGuard, TypeVar, get_args

import attrs
from sqlalchemy.engine import make_url

from ._broker import JobMode
from ._errors import ConfigurationError, InvalidProfile
from .profiles import Profile

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILENAME",
    "DATABASE_URL_ENV",
    "DEFAULT_PRUNE_AFTER",
    "EMBEDDED_DIR",
    "MAX_DURATION",
    "MAX_SIZE",
    "ConfigFile",
    "StorageTable",
    "locate",
    "parse_duration",
    "parse_size",
    "read",
    "validate",
]

T = TypeVar("T")

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
#: Seconds after which ``rindle prune`` deletes finished rows by default (30 days).
DEFAULT_PRUNE_AFTER: Final = 30 * 86400
# The ages rindle prune accepts (as Broker.prune and Broker.sweep_assets do).
_MIN_AGE: Final = 3600
_MAX_AGE: Final = 3650 * 86400

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
# Values
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


def _is_job_mode(value: object) -> TypeGuard[JobMode]:
    return value in get_args(JobMode)


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


# -----------------------------------------------------------------------------
# What a file says
# -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False)
class StorageTable:
    """One ``[storage.<name>]`` table: the backend type and its factory's options
    (``type`` removed). The repr lists option names only: values may be secrets."""

    name: str
    type: str
    options: Mapping[str, object]

    def __repr__(self) -> str:
        options = sorted(self.options)
        return f"StorageTable(name={self.name!r}, type={self.type!r}, options={options!r})"


@attrs.frozen(kw_only=True)
class ConfigFile:
    """A configuration file's validated content.

    Relative paths are already resolved (a SQLite file) or left to resolve
    against ``source.parent`` (storage options); ``database_from_env`` is
    true when ``$RINDLE_DATABASE_URL`` replaced the file's ``database_url``.
    """

    source: Path
    database_url: str = attrs.field(repr=False)  # may hold a password
    database_from_env: bool
    storages: tuple[StorageTable, ...]
    profiles: tuple[Profile, ...]
    job_mode: JobMode
    job_max_attempts: int
    job_lease: float
    worker_interval: float
    expire_batch_size: int
    cleanup_grace: float
    prune_after: float
    sweep_quarantined_after: float | None
    sweep_abandoned_after: float | None


# -----------------------------------------------------------------------------
# Finding and reading
# -----------------------------------------------------------------------------


def locate(
    path: str | os.PathLike[str] | None, *, environ: Mapping[str, str], cwd: Path
) -> tuple[Path, str] | None:
    """The file to read and what named it (``--config``, :data:`CONFIG_ENV`, or
    ``""`` for ``./rindle.toml``); None when there is none (the embedded default)."""
    if path is not None:
        file, origin = Path(path), "--config"
    elif environ.get(CONFIG_ENV):
        file, origin = Path(environ[CONFIG_ENV]), CONFIG_ENV
    elif (cwd / CONFIG_FILENAME).is_file():
        return cwd / CONFIG_FILENAME, ""
    else:
        return None
    return (file if file.is_absolute() else cwd / file), origin


def read(file: Path, origin: str = "") -> dict[str, object]:
    """The TOML in *file*; *origin* (what named the file) is cited if it is missing."""
    try:
        text = file.read_text(encoding="utf-8-sig")  # a leading BOM is tolerated
    except FileNotFoundError:
        via = f" (from {origin})" if origin else ""
        raise ConfigurationError(f"configuration file {str(file)!r}{via} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read configuration file {str(file)!r}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{file}: invalid TOML: {exc}") from None
    except ValueError:  # Python's limit on digits in an integer literal
        raise ConfigurationError(f"{file}: invalid TOML: a number has too many digits") from None
    except RecursionError:
        raise ConfigurationError(
            f"{file}: invalid TOML: arrays or tables are nested too deeply"
        ) from None


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
    "prune_after",
    "sweep_quarantined_after",
    "sweep_abandoned_after",
    "storage",
    "profiles",
)

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

    def table(self, key: str, value: object) -> Mapping[str, object]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {type(value).__name__}")
        return value

    def convert(self, key: str, value: object, convert: Callable[[object], T]) -> T:
        try:
            return convert(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def age(self, key: str, value: object) -> float:
        """Seconds from 1 hour to 3650 days: a number of seconds or a duration ("30d")."""
        seconds = value
        if isinstance(value, str):
            try:
                seconds = parse_duration(value)
            except ValueError:
                seconds = None
        # "not lo <= x <= hi" also refuses nan; the upper bound refuses inf.
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not _MIN_AGE <= seconds <= _MAX_AGE
        ):
            raise self.error(
                key,
                'must be 1 hour to 3650 days: a duration such as "30d" or "12h", '
                f"or seconds ({_MIN_AGE} to {_MAX_AGE}), got {_shown(value)}",
            )
        return float(seconds)


def validate(data: Mapping[str, object], *, source: Path, environ: Mapping[str, str]) -> ConfigFile:
    """Validate parsed TOML *data*, read from the file *source*."""
    base = source.parent
    check = _Checker(source)
    for key in data:
        if key not in _TOP_KEYS:
            raise check.unknown("", key, _TOP_KEYS)

    raw_url = environ.get(DATABASE_URL_ENV) or data.get("database_url")
    if raw_url is None:
        raise check.error("database_url", 'missing (e.g. database_url = "sqlite:///rindle.db")')
    database_url = check.convert("database_url", raw_url, _string)
    try:
        database_url = _resolve_sqlite(database_url, base)
    except ConfigurationError as exc:
        raise check.error("database_url", str(exc)) from None

    job_mode = data.get("job_mode", "inline")
    if not _is_job_mode(job_mode):
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
    prune_after = check.age("prune_after", data.get("prune_after", DEFAULT_PRUNE_AFTER))
    # Absent (or None, from settings.RINDLE) leaves that sweep off.
    sweeps = {
        key: None if data.get(key) is None else check.age(key, data[key])
        for key in ("sweep_quarantined_after", "sweep_abandoned_after")
    }

    storages = _storages(check, data.get("storage"))
    return ConfigFile(
        source=source,
        database_url=database_url,
        database_from_env=bool(environ.get(DATABASE_URL_ENV)),
        storages=storages,
        profiles=_profiles(check, data.get("profiles"), [s.name for s in storages]),
        job_mode=job_mode,
        job_max_attempts=max_attempts,
        job_lease=float(lease),
        worker_interval=float(interval),
        expire_batch_size=batch,
        cleanup_grace=float(grace),
        prune_after=prune_after,
        sweep_quarantined_after=sweeps["sweep_quarantined_after"],
        sweep_abandoned_after=sweeps["sweep_abandoned_after"],
    )


def _storages(check: _Checker, raw: object) -> tuple[StorageTable, ...]:
    if raw is None:
        raise check.error(
            "storage", 'missing: add at least one [storage.<name>] table with a "type"'
        )
    tables = check.table("storage", raw)
    if not tables:
        raise check.error("storage", 'empty: add at least one [storage.<name>] table with a "type"')
    storages: list[StorageTable] = []
    for name, value in tables.items():
        key = f"storage.{name}"
        if not _NAME.fullmatch(name):
            raise check.error(key, "a storage name is 1-63 chars of a-z, 0-9, '_', '.', '-'")
        options = dict(check.table(key, value))
        if "type" not in options:
            raise check.error(f"{key}.type", 'missing (the backend type, e.g. "local" or "s3")')
        backend = check.convert(f"{key}.type", options.pop("type"), _string)
        storages.append(StorageTable(name=name, type=backend, options=options))
    return tuple(storages)


def _profiles(check: _Checker, raw: object, storages: list[str]) -> tuple[Profile, ...]:
    if raw is None:
        raise check.error("profiles", "missing: add at least one [profiles.<name>] table")
    tables = check.table("profiles", raw)
    if not tables:
        raise check.error("profiles", "empty: add at least one [profiles.<name>] table")
    profiles: list[Profile] = []
    for name, value in tables.items():
        key = f"profiles.{name}"
        fields: dict[str, Any] = {}  # each value converted for its Profile field
        for option, setting in check.table(key, value).items():
            if option not in _PROFILE_KEYS:
                raise check.unknown(f"{key}.", option, list(_PROFILE_KEYS))
            fields[option] = check.convert(f"{key}.{option}", setting, _PROFILE_KEYS[option])
        if "storage" not in fields:
            if len(storages) != 1:
                raise check.error(
                    f"{key}.storage", f"missing: name one of {', '.join(sorted(storages))}"
                )
            fields["storage"] = storages[0]
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
