"""Dialect families and default drivers.

rindle's SQL knows three families: ``sqlite``, ``postgresql`` and ``mysql``
(MySQL and MariaDB: SQLAlchemy names the latter ``mariadb`` when its URL
says so). Statements that differ (upserts, ``SKIP LOCKED``, the database
clock) branch on :func:`family`.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from .._errors import ConfigurationError

__all__ = ["MYSQL_NAMES", "default_driver", "family", "missing_driver"]

#: SQLAlchemy's names for the MySQL family.
MYSQL_NAMES = frozenset({"mysql", "mariadb"})

_DRIVER_EXTRAS = {"postgresql": "postgres", "mysql": "mysql"}


def family(name: str) -> str:
    """``"mysql"`` for SQLAlchemy's ``mysql`` and ``mariadb`` dialects; other names unchanged."""
    return "mysql" if name in MYSQL_NAMES else name


def default_driver(url: URL) -> URL:
    """*url* with rindle's default driver where it names none, and UTF-8 on MySQL.

    ``postgresql://`` → psycopg 3; ``mysql://`` and ``mariadb://`` → PyMySQL.
    A MariaDB URL becomes a ``mysql+…`` one: SQLAlchemy's MySQL dialect
    recognises MariaDB by its version, and rindle's SQL branches on one name.
    """
    backend = url.get_backend_name()
    if backend == "postgresql" and url.drivername == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if backend in MYSQL_NAMES:
        driver = url.get_driver_name() if "+" in url.drivername else "pymysql"
        url = url.set(drivername=f"mysql+{driver}")
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
    return url


def missing_driver(url: URL, exc: ImportError) -> ConfigurationError:
    """The error for a URL whose driver is not installed, naming the extra that has it."""
    extra = _DRIVER_EXTRAS.get(family(url.get_backend_name()))
    hint = f': pip install "rindle-core[{extra}]"' if extra else ""
    module = exc.name or "its driver"
    return ConfigurationError(
        f"database_url needs the {url.drivername!r} driver ({module}), which is not installed{hint}"
    )
