"""A PostgreSQL schema of the benchmark's own, dropped at the end."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import sqlalchemy as sa

__all__ = ["own_schema"]


@contextlib.contextmanager
def own_schema(url: str) -> Iterator[str]:
    """Create a fresh schema on *url*, yield its name, drop it with everything in it."""
    schema = f"rindle_bench_{secrets.token_hex(6)}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
