"""The project's one broker and upload API: built on first use, rebuilt when settings change.

Built lazily (the settings, the test database, the storages are only
ready once Django is), once per process under a lock, and closed at exit.
The database is followed: when the alias rindle uses points at another
database (the test runner's), the next request builds anew; so does a
change of ``settings.RINDLE`` (``override_settings`` in tests).
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from ..._broker import Broker
from ..._errors import ConfigurationError, DatabaseError
from ...config import schema_problem, unreachable
from ...db import Database
from ...local import LocalStorage, UploadReceiver
from .._api import UploadAPI
from ._conf import RindleSettings, read_settings
from ._dburl import database_url

__all__ = ["Runtime", "runtime"]


@dataclass
class _Built:
    settings: RindleSettings
    broker: Broker
    api: UploadAPI
    receiver: UploadReceiver | None = field(default=None)


class Runtime:
    """Holds what ``settings.RINDLE`` builds; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: _Built | None = None
        self._closes_at_exit = False

    def api(self) -> UploadAPI:
        """The upload API (built on first use)."""
        return self._current().api

    def broker(self) -> Broker:
        """The broker behind the upload API."""
        return self._current().broker

    def receiver(self) -> UploadReceiver:
        """The receiver of the local storage ``RINDLE['RECEIVER']`` names (or the only one)."""
        built = self._current()
        with self._lock:
            if built.receiver is None:
                built.receiver = _receiver(built)
            return built.receiver

    def reset(self) -> None:
        """Close what was built; the next use builds anew."""
        with self._lock:
            built, self._built = self._built, None
        if built is not None:
            built.broker.close()

    def _current(self) -> _Built:
        built = self._built
        if built is not None and _fresh(built):
            return built
        with self._lock:
            stale = self._built
            if stale is not None and _fresh(stale):
                return stale
            built = _build()
            self._built = built
            if not self._closes_at_exit:
                atexit.register(self.reset)
                self._closes_at_exit = True
        if stale is not None:
            stale.broker.close()
        return built


#: The process's runtime.
runtime = Runtime()


def _fresh(built: _Built) -> bool:
    """True while the alias rindle uses still points at the database it was built on."""
    alias = built.settings.alias
    return alias is None or database_url(alias) == built.settings.config.database_url


def _build() -> _Built:
    settings = read_settings()
    database = _database(settings)
    try:
        broker = settings.config.build_broker(database=database)
    except BaseException:
        database.close()
        raise
    try:
        api = UploadAPI(
            broker,
            authorize=settings.authorize,
            profiles=settings.exposed_profiles,
            uppy_profile=settings.uppy_profile,
            max_body=settings.max_body,
        )
    except ConfigurationError as exc:
        broker.close()
        raise ImproperlyConfigured(f"settings.RINDLE: {exc}") from None
    return _Built(settings, broker, api)


def _database(settings: RindleSettings) -> Database:
    """rindle's database, reachable and migrated (else an error that says what to run)."""
    config = settings.config
    if settings.alias is None:
        database = config.database(create=False)
        command = "`rindle db upgrade`"
    else:
        database = Database(config.database_url)
        command = "`python manage.py migrate`"
    problem = unreachable(database)
    if problem is not None:
        database.close()
        raise DatabaseError(problem)
    problem = schema_problem(database)
    if problem is not None:
        database.close()
        raise ImproperlyConfigured(f"{problem}: run {command}")
    return database


def _receiver(built: _Built) -> UploadReceiver:
    storages = built.broker.storages
    name = built.settings.receiver
    if name is None:
        local = sorted(n for n, s in storages.items() if isinstance(s, LocalStorage))
        if len(local) != 1:
            raise ImproperlyConfigured(
                "settings.RINDLE['RECEIVER'] must name the local storage whose uploads "
                f"receiver_urls serves (local storages: {', '.join(local) or 'none'})"
            )
        (name,) = local
    storage = storages.get(name)
    if not isinstance(storage, LocalStorage):
        raise ImproperlyConfigured(
            f"settings.RINDLE['RECEIVER']: {name!r} is not a local storage of the configuration"
        )
    return storage.receiver()
