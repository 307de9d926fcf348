"""A PostgreSQL schema of the benchmark's own, dropped at the end: the test suite's helper
(``tests/pg_schema.py``), with the benchmarks' prefix."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import pg_schema  # the test tree is on the path only from here

__all__ = ["own_schema"]


@contextlib.contextmanager
def own_schema(url: str) -> Iterator[str]:
    """Create a fresh schema on *url*, yield its name, drop it with everything in it."""
    with pg_schema.own_schema(url, "rindle_bench") as schema:
        yield schema
