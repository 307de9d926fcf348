"""``settings.RINDLE``: a Django project's rindle configuration, read and checked.

rindle's own configuration is said as everywhere else, and read by
:mod:`rindle_core.config`: ``CONFIG`` names a ``rindle.toml``, or the
file's keys are given inline in upper case (``STORAGE``, ``PROFILES``,
``JOB_MODE``…). The mount's own keys: ``DATABASE`` (the alias whose
database holds rindle's tables, ``"default"``), ``AUTHORIZE`` (the hook's
dotted path), ``EXPOSED_PROFILES``, ``UPPY_PROFILE``, ``MAX_BODY`` (as
:class:`~rindle_core.web.UploadAPI` takes them) and ``RECEIVER`` (the local
storage :mod:`.receiver_urls` serves).

A database URL (``DATABASE_URL`` inline, ``database_url`` in the file, or
``$RINDLE_DATABASE_URL``) keeps rindle's tables in that database instead;
``manage.py migrate`` and the test runner then leave it alone.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..._config_file import _TOP_KEYS, DATABASE_URL_ENV, read
from ..._errors import ConfigurationError
from ...config import Config, parse_config
from .._access import Authorize
from .._api import DEFAULT_MAX_BODY
from ._dburl import database_url

__all__ = ["SETTING", "RindleSettings", "database_alias", "read_settings"]

#: The Django setting rindle reads.
SETTING: Final = "RINDLE"
#: rindle.toml's keys, as RINDLE spells them.
_FILE_KEYS: Final = {key.upper(): key for key in _TOP_KEYS}
_MOUNT_KEYS: Final = (
    "CONFIG",
    "DATABASE",
    "AUTHORIZE",
    "EXPOSED_PROFILES",
    "UPPY_PROFILE",
    "MAX_BODY",
    "RECEIVER",
)
_INLINE: Final = "settings.RINDLE"


@dataclass(frozen=True, slots=True)
class RindleSettings:
    """What ``settings.RINDLE`` says, validated.

    ``config.database_url`` is resolved: the URL given, else the database of
    Django's alias ``alias`` (None when a URL was given).
    """

    config: Config
    alias: str | None
    authorize: Authorize | None
    exposed_profiles: tuple[str, ...] | None
    uppy_profile: str | None
    max_body: int
    receiver: str | None


def read_settings() -> RindleSettings:
    """Read and validate ``settings.RINDLE`` (:class:`ImproperlyConfigured` if it is wrong).

    Nothing is built or connected to: storages, the database and the broker
    are :mod:`._runtime`'s.
    """
    raw = _raw()
    if not raw:
        raise ImproperlyConfigured(
            "settings.RINDLE is not set: name a rindle.toml ({'CONFIG': ...}) or give "
            "its STORAGE and PROFILES inline (see 'Add uploads to your Django app')"
        )
    data, source = _rindle_data(raw)
    alias: str | None = _alias(raw)
    if _explicit_url(data) is None:
        data["database_url"] = database_url(_alias(raw))
    else:
        alias = None
    return RindleSettings(
        config=_parse(data, source),
        alias=alias,
        authorize=_authorize(raw.get("AUTHORIZE")),
        exposed_profiles=_names(raw.get("EXPOSED_PROFILES"), "EXPOSED_PROFILES"),
        uppy_profile=_optional_text(raw.get("UPPY_PROFILE"), "UPPY_PROFILE"),
        max_body=_max_body(raw.get("MAX_BODY", DEFAULT_MAX_BODY)),
        receiver=_optional_text(raw.get("RECEIVER"), "RECEIVER"),
    )


def database_alias() -> str | None:
    """The alias whose database holds rindle's tables; None when a URL names another database.

    Reads only what says where the database is (no storage, no hook).
    """
    raw = _raw()
    data, _ = _rindle_data(raw)
    return None if _explicit_url(data) is not None else _alias(raw)


# -- the parts ---------------------------------------------------------------------------


def _raw() -> Mapping[str, object]:
    value = getattr(settings, SETTING, None)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured("settings.RINDLE must be a dict")
    known = (*_MOUNT_KEYS, *_FILE_KEYS)
    for key in value:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ImproperlyConfigured(f"settings.RINDLE: unknown key {key!r}{hint}")
    return value


def _base_dir() -> Path:
    """Where relative paths start: ``settings.BASE_DIR`` if the project has one."""
    base = getattr(settings, "BASE_DIR", None)
    return Path(base) if isinstance(base, str | os.PathLike) else Path.cwd()


def _rindle_data(raw: Mapping[str, object]) -> tuple[dict[str, object], Path]:
    """rindle's configuration as parsed TOML, and the file it is (said to be) from."""
    inline = {_FILE_KEYS[key]: value for key, value in raw.items() if key in _FILE_KEYS}
    config = raw.get("CONFIG")
    if config is None:
        return inline, _base_dir() / _INLINE
    if inline:
        raise ImproperlyConfigured(
            f"settings.RINDLE: give CONFIG or rindle's keys inline, not both "
            f"(found {', '.join(sorted(k for k in raw if k in _FILE_KEYS))})"
        )
    path = os.fspath(config) if isinstance(config, str | os.PathLike) else None
    if not isinstance(path, str) or not path:
        raise ImproperlyConfigured("settings.RINDLE['CONFIG'] must be the path of a rindle.toml")
    file = Path(path).expanduser()
    file = file if file.is_absolute() else _base_dir() / file
    try:
        return read(file, "settings.RINDLE['CONFIG']"), file
    except ConfigurationError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def _explicit_url(data: Mapping[str, object]) -> object:
    """The database URL the configuration names, if any (the environment's first)."""
    return os.environ.get(DATABASE_URL_ENV) or data.get("database_url")


def _alias(raw: Mapping[str, object]) -> str:
    alias = raw.get("DATABASE", "default")
    if not isinstance(alias, str) or not alias:
        raise ImproperlyConfigured("settings.RINDLE['DATABASE'] must be a database alias")
    return alias


def _parse(data: Mapping[str, object], source: Path) -> Config:
    try:
        return parse_config(data, source=source)
    except ConfigurationError as exc:
        message = str(exc)
        if source.name == _INLINE:
            message = message.replace(str(source), _INLINE, 1)
        raise ImproperlyConfigured(message) from None


def _authorize(path: object) -> Authorize | None:
    if path is None:
        return None
    if not isinstance(path, str) or not path:
        raise ImproperlyConfigured(
            "settings.RINDLE['AUTHORIZE'] must be the dotted path of a function"
        )
    try:
        hook: Authorize = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"settings.RINDLE['AUTHORIZE']: {exc}") from None
    if not callable(hook):
        raise ImproperlyConfigured(f"settings.RINDLE['AUTHORIZE']: {path!r} is not a function")
    return hook


def _names(value: object, key: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ImproperlyConfigured(f"settings.RINDLE[{key!r}] must be a list of profile names")
    if not all(isinstance(name, str) for name in value):
        raise ImproperlyConfigured(f"settings.RINDLE[{key!r}] must be a list of profile names")
    return tuple(value)


def _optional_text(value: object, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value:
        return value
    raise ImproperlyConfigured(f"settings.RINDLE[{key!r}] must be a name")


def _max_body(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ImproperlyConfigured("settings.RINDLE['MAX_BODY'] must be at least 1024 (bytes)")
    return value
