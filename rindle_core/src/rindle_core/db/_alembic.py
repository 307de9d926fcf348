"""Helpers for a host app whose own Alembic history meets rindle's tables.

See docs/migrations.md: either the host's ``env.py`` runs rindle's packaged
migrations after its own (:meth:`~rindle_core.Database.upgrade` is safe to
call there), or the host's autogenerate writes rindle's tables into its own
revisions (pass :func:`render_item` so the generated file needs no import
of rindle's private column types).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from ._dialects import family
from ._tables import UTCDateTime

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext

__all__ = ["keep_outer_alembic_environment", "render_item"]


def render_item(type_: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    """Alembic ``render_item`` hook: rindle's column types as plain SQLAlchemy types.

    rindle stores timestamps through a small ``TypeDecorator`` (UTC on every
    backend); the database type is ``DateTime(timezone=True)``, which is what
    a migration needs (on MySQL/MariaDB with a ``DATETIME(6)`` variant, which
    keeps microseconds). Without this hook autogenerate writes
    ``rindle_core.db._tables.UTCDateTime(...)`` into the revision, which fails
    with ``NameError`` (nothing imports it) and would tie the host's history
    to a private name. Everything else renders as Alembic would
    (``False``). Pass it as ``context.configure(..., render_item=render_item)``.
    """
    if type_ == "type" and isinstance(obj, UTCDateTime):
        prefix = autogen_context.opts.get("sqlalchemy_module_prefix") or "sa."
        if autogen_context.dialect is not None and family(autogen_context.dialect.name) == "mysql":
            # MySQL's DATETIME keeps microseconds only when told to.
            autogen_context.imports.add("from sqlalchemy.dialects import mysql")
            return (
                f"{prefix}DateTime(timezone=True)"
                '.with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")'
            )
        return f"{prefix}DateTime(timezone=True)"
    return False


@contextlib.contextmanager
def keep_outer_alembic_environment() -> Iterator[None]:
    """Run an Alembic command from inside another Alembic environment.

    Alembic publishes the running environment as module globals
    (``alembic.context`` and ``alembic.op``); a nested command removes them on
    exit, so the caller's own ``env.py`` then fails with ``KeyError: 'script'``
    when its command ends. The caller's proxies are put back afterwards.
    """
    from alembic import context, op

    saved = [getattr(module, "_proxy", None) for module in (context, op)]
    try:
        yield
    finally:
        for proxy in saved:
            if proxy is not None:
                proxy._install_proxy()
