"""Shared fixtures: databases (SQLite, PostgreSQL, MariaDB), the memory adapter, brokers."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa
from hypothesis import settings
from pg_schema import own_schema

from fakes import MemoryStorage, broker_factory
from rindle_core import Broker, Database
from rindle_core.plugins import make_plugin_manager

# CI runs Hypothesis derandomized: the same examples every run, so a landing
# never fails on a newly drawn example; developers keep random exploration.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("RINDLE_HYPOTHESIS_PROFILE", "default"))

POSTGRES_URL = os.environ.get(
    "RINDLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("RINDLE_REQUIRE_POSTGRES") == "1"
MARIADB_URL = os.environ.get("RINDLE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REQUIRE_MARIADB = os.environ.get("RINDLE_REQUIRE_MARIADB") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mariadb: needs the MariaDB/MySQL server (RINDLE_TEST_MARIADB_URL)"
    )


def _postgres_reachable() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL at {POSTGRES_URL} is not reachable ({type(exc).__name__})"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL URL; skips (or fails under RINDLE_REQUIRE_POSTGRES=1) without a server."""
    problem = _postgres_reachable()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem + " and RINDLE_REQUIRE_POSTGRES=1")
        pytest.skip(problem)
    return POSTGRES_URL


@contextlib.contextmanager
def _schema_database(postgres_url: str, **options: Any) -> Iterator[tuple[Database, str]]:
    """A Database on a fresh, empty PostgreSQL schema of its own, and the schema's name."""
    with own_schema(postgres_url) as schema:
        db = Database(postgres_url, connect_args={"options": f"-csearch_path={schema}"}, **options)
        try:
            yield db, schema
        finally:
            db.dispose()


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    """A Database with rindle's tables on a fresh PostgreSQL schema of its own."""
    with _schema_database(postgres_url, pool_size=20, max_overflow=10) as (db, _):
        db.create_all()
        yield db


@pytest.fixture
def bare_postgres(postgres_url: str) -> Iterator[tuple[Database, str]]:
    """A Database on a fresh, empty PostgreSQL schema (no tables), and the schema's name."""
    with _schema_database(postgres_url) as created:
        yield created


@pytest.fixture
def empty_postgres(bare_postgres: tuple[Database, str]) -> Database:
    """A Database on a fresh, empty PostgreSQL schema (no tables)."""
    return bare_postgres[0]


def _mariadb_reachable() -> str | None:
    try:
        engine = sa.create_engine(MARIADB_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"MariaDB at {MARIADB_URL} is not reachable ({type(exc).__name__})"
    return None


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """The MariaDB URL; skips (or fails under RINDLE_REQUIRE_MARIADB=1) without a server."""
    problem = _mariadb_reachable()
    if problem:
        if REQUIRE_MARIADB:
            pytest.fail(problem + " and RINDLE_REQUIRE_MARIADB=1")
        pytest.skip(problem)
    return MARIADB_URL


@pytest.fixture
def mariadb_database(mariadb_url: str) -> Iterator[str]:
    """The URL of a fresh, empty MariaDB database of its own, dropped afterwards."""
    name = f"rindle_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(mariadb_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield sa.make_url(mariadb_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture
def mariadb_db(mariadb_database: str) -> Iterator[Database]:
    """A Database with rindle's tables on a fresh MariaDB database of its own."""
    db = Database(mariadb_database, pool_size=20, max_overflow=10)
    db.create_all()
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Invoke ``rindle`` in a fresh working directory, without any outside config.

    ``run(*args, code=0, env=None)`` asserts the exit code and returns click's Result.
    """
    from click.testing import CliRunner, Result

    from rindle_core.cli import cli

    monkeypatch.chdir(tmp_path)
    for name in ("RINDLE_CONFIG", "RINDLE_DATABASE_URL", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, env: dict[str, str] | None = None) -> Result:
        result = runner.invoke(cli, list(args), catch_exceptions=False, env=env)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    return invoke


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A Database on a fresh SQLite file."""
    db = Database(f"sqlite:///{tmp_path / 'rindle.db'}")
    db.create_all()
    yield db
    db.dispose()


_DB_FIXTURES = {"sqlite": "sqlite_db", "postgresql": "postgres_db", "mariadb": "mariadb_db"}


@pytest.fixture(params=list(_DB_FIXTURES))
def any_db(request: pytest.FixtureRequest) -> Database:
    """Each test using it runs on SQLite, PostgreSQL and MariaDB."""
    return request.getfixturevalue(_DB_FIXTURES[request.param])  # type: ignore[no-any-return]


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A plugin manager with rindle's hookspecs and built-ins, no entry points."""
    return make_plugin_manager(load_entrypoints=False)


@pytest.fixture
def memory() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def make_broker(
    sqlite_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager
) -> Callable[..., Broker]:
    """Build a broker on SQLite + memory storage; keyword overrides welcome.

    Suites that must run on every database override this with
    ``broker_factory(any_db, memory, pm)``.
    """
    return broker_factory(sqlite_db, memory, pm)


@pytest.fixture
def broker(make_broker: Callable[..., Broker]) -> Broker:
    return make_broker()
