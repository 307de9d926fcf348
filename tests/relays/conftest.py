"""Fixtures of the relay suite: a PostgreSQL schema and rindle.toml per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_harness import RelayEnv, make_env


@pytest.fixture
def relay_env(postgres_url: str, tmp_path: Path) -> Iterator[RelayEnv]:
    yield from make_env(postgres_url, tmp_path)
