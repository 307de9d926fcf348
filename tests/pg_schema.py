"""A PostgreSQL schema of a test's own: created fresh, dropped with all it holds.

The shared server holds other runs' data too; each test that needs an empty
database gets a schema of its own (safe under xdist) and a URL or Database
whose ``search_path`` is that schema.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import make_url

__all__ = ["own_schema", "schema_url"]


@contextlib.contextmanager
def own_schema(postgres_url: str, prefix: str = "rindle_test") -> Iterator[str]:
    """Create a fresh schema on *postgres_url*, yield its name, drop it afterwards."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def schema_url(postgres_url: str, schema: str, *, password: str | None = None) -> str:
    """*postgres_url* with *schema* as its ``search_path`` (and *password*, if given)."""
    url = make_url(postgres_url)
    if password is not None:
        url = url.set(password=password)
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)
