"""One memory server per test process, so the suite is safe under pytest-xdist."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rindle_memory import MemoryServer


@pytest.fixture(scope="session")
def server() -> Iterator[MemoryServer]:
    """A real server on 127.0.0.1 with the bucket ``contract``."""
    with MemoryServer(buckets=["contract"]) as server:
        yield server
