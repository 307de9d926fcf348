"""``manage.py migrate`` (and so the test runner) gives a database rindle's tables.

The test databases here were made by ``setup_databases``, the test
runner's own path: they have rindle's tables because the runner's
``migrate`` applied this app's migration. Then the migration is reversed
and applied again with ``call_command("migrate", ...)`` as ``manage.py``
would, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

from rindle_core import Database
from rindle_core.config import DATABASE_URL_ENV
from rindle_core.web.django import migrations as django_migrations
from rindle_core.web.django._dburl import database_url
from rindle_core.web.django._schema import RindleSchema

TABLES = {"rindle_assets", "rindle_upload_sessions", "rindle_upload_parts", "rindle_jobs"}


class NoRindleHere:
    """A database router that keeps app ``rindle`` out of every database."""

    def allow_migrate(self, db: str, app_label: str, **hints: object) -> bool | None:
        return False if app_label == "rindle" else None


@pytest.fixture(autouse=True)
def _no_database_url_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)


@pytest.fixture
def database(alias: str) -> Iterator[Database]:
    """rindle's view of the test database behind *alias*."""
    db = Database(database_url(alias))
    yield db
    db.close()


def tables(database: Database) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(database.engine).get_table_names()) & TABLES


def applied(alias: str) -> set[str]:
    return {
        name
        for app, name in MigrationRecorder(connections[alias]).applied_migrations()
        if app == "rindle"
    }


def test_the_test_runners_database_has_rindles_tables(alias: str, database: Database) -> None:
    assert tables(database) == TABLES
    assert database.schema_revision() == database.head_revision()
    assert applied(alias) == {
        "0001_rindle_schema_0003",
        "0002_rindle_schema_0004",
        "0003_rindle_schema_0005",
    }


def test_migrate_zero_removes_them_and_migrate_brings_them_back(
    alias: str, database: Database
) -> None:
    try:
        call_command("migrate", "rindle", "zero", database=alias, verbosity=0)
        assert tables(database) == set()
        assert applied(alias) == set()
    finally:
        call_command("migrate", "rindle", database=alias, verbosity=0)
    assert tables(database) == TABLES
    assert database.schema_revision() == database.head_revision()


@pytest.mark.usefixtures("sqlite_test_db")
def test_a_database_url_in_the_settings_is_not_djangos_to_migrate(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    database = Database(database_url("default"))
    value = {
        "DATABASE_URL": f"sqlite:///{elsewhere}",
        "STORAGE": {"f": {"type": "local", "root": str(tmp_path)}},
        "PROFILES": {"a": {}},
    }
    try:
        with override_settings(RINDLE=value):
            call_command("migrate", "rindle", "zero", verbosity=0)
            assert tables(database) == TABLES  # left alone
            call_command("migrate", "rindle", verbosity=0)
        assert not elsewhere.exists()
    finally:
        database.close()


@pytest.mark.usefixtures("sqlite_test_db")
def test_a_router_that_keeps_rindle_out_is_obeyed() -> None:
    database = Database(database_url("default"))
    router = f"{__name__}.NoRindleHere"
    try:
        with override_settings(DATABASE_ROUTERS=[router]):
            call_command("migrate", "rindle", "zero", verbosity=0)
            assert tables(database) == TABLES
            call_command("migrate", "rindle", verbosity=0)
    finally:
        database.close()


@pytest.mark.usefixtures("sqlite_test_db")
def test_sqlmigrate_describes_the_operation_without_running_it() -> None:
    out = io.StringIO()
    call_command("sqlmigrate", "rindle", "0001", stdout=out)
    assert "Bring rindle's tables to revision 0003" in out.getvalue()
    assert "CREATE TABLE" not in out.getvalue()


def test_the_django_migrations_follow_rindles_history_to_its_head() -> None:
    """A new rindle schema revision needs a Django migration here, or this fails."""
    operations: list[RindleSchema] = []
    for info in sorted(pkgutil.iter_modules(django_migrations.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{django_migrations.__name__}.{info.name}")
        (operation,) = module.Migration.operations
        assert isinstance(operation, RindleSchema)
        assert info.name.endswith(f"_rindle_schema_{operation.revision}")
        operations.append(operation)
    previous = None
    for operation in operations:
        assert operation.previous == previous
        previous = operation.revision
    head = Database("sqlite://").head_revision()
    assert previous == head
