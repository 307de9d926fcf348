"""A Django database alias as the SQLAlchemy URL rindle connects to the same database with.

rindle keeps its own connection pool (its transactions are its own), so it
connects by URL to the database Django's alias names, as that alias says
*now*: during a test run that is the test database the runner created.
SQLite and PostgreSQL only, the two databases rindle supports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.connection import ConnectionDoesNotExist
from sqlalchemy.engine import URL

__all__ = ["database_url", "url_of"]

#: A PostgreSQL alias's ``OPTIONS`` that are Django's own, not libpq connection parameters.
_DJANGO_ONLY: Final = frozenset(
    {"isolation_level", "assume_role", "server_side_binding", "pool", "cursor_factory", "context"}
)


def database_url(alias: str) -> str:
    """The URL of the database Django's *alias* currently points at."""
    try:
        connection = connections[alias]
    except ConnectionDoesNotExist:
        raise ImproperlyConfigured(
            f"settings.RINDLE['DATABASE']: settings.DATABASES has no alias {alias!r}"
        ) from None
    return url_of(alias, connection.vendor, connection.settings_dict)


def url_of(alias: str, vendor: str, settings_dict: Mapping[str, object]) -> str:
    """The SQLAlchemy URL of one ``settings.DATABASES`` entry (its *vendor* as Django names it)."""
    if vendor == "sqlite":
        return _sqlite(alias, settings_dict.get("NAME"))
    if vendor == "postgresql":
        return _postgresql(settings_dict)
    raise ImproperlyConfigured(
        f"rindle keeps its tables in SQLite or PostgreSQL, and the database {alias!r} is "
        f"{vendor}: set RINDLE['DATABASE'] to another alias or RINDLE['DATABASE_URL']"
    )


def _sqlite(alias: str, name: object) -> str:
    raw = os.fspath(name) if isinstance(name, str | os.PathLike) else ""
    text = raw if isinstance(raw, str) else ""
    if not text or text == ":memory:" or _private_memory(text):
        raise ImproperlyConfigured(
            f"the database {alias!r} is a private in-memory SQLite database, which no other "
            "connection can open: give it a file, or set RINDLE['DATABASE_URL']"
        )
    if text.startswith("file:"):
        # A URI, as the test runner names its shared in-memory database.
        return f"sqlite:///{text}{'&' if '?' in text else '?'}uri=true"
    return f"sqlite:///{Path(text).expanduser().absolute()}"


def _private_memory(name: str) -> bool:
    """True for a SQLite URI of an in-memory database that is not shared."""
    if not name.startswith("file:"):
        return False
    memory = name.startswith("file::memory:") or "mode=memory" in name
    return memory and "cache=shared" not in name


def _postgresql(settings_dict: Mapping[str, object]) -> str:
    host = _text(settings_dict.get("HOST"))
    port = _text(settings_dict.get("PORT"))
    query: dict[str, str] = {}
    options = settings_dict.get("OPTIONS") or {}
    if isinstance(options, Mapping):
        for key, value in options.items():
            if key in _DJANGO_ONLY or isinstance(value, bool):
                continue
            if isinstance(value, str | int):
                query[str(key)] = str(value)
    if host and host.startswith("/"):
        query["host"] = host  # a Unix socket directory
        host = None
    if port is not None and not port.isdigit():
        raise ImproperlyConfigured("the database's PORT must be a number")
    url = URL.create(
        "postgresql+psycopg",
        username=_text(settings_dict.get("USER")),
        password=_text(settings_dict.get("PASSWORD")),
        host=host,
        port=int(port) if port else None,
        database=_text(settings_dict.get("NAME")),
        query=query,
    )
    return url.render_as_string(hide_password=False)


def _text(value: object) -> str | None:
    """A setting as text; Django's empty string (or None) as None."""
    if value is None or value == "":
        return None
    return str(value)
