"""Django, configured once per test process, the way a project would be.

``default`` is the project's SQLite database; ``pg`` the suite's PostgreSQL
server (used only by the tests that ask for it, each process with a test
database of its own). The test databases are made by Django's own
``setup_databases``, the test runner's path, so ``migrate`` is what gives
them rindle's tables. Uploads go to a local storage whose receiver listens
on a real port (``receiver_url``) or is served by Django (``/files/``).
No test runs inside a transaction: rindle commits through its own
connection, as it does in a project.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings
from django.test.utils import (
    override_settings,
    setup_databases,
    setup_test_environment,
    teardown_databases,
    teardown_test_environment,
)
from sqlalchemy.engine import make_url

from rindle_core.local import serve_receiver

#: The suite's PostgreSQL server (tests/conftest.py's default too).
_PG = make_url(
    os.environ.get("RINDLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
)
#: This process's files: the project's SQLite database and uploads.
_HOME = Path(tempfile.mkdtemp(prefix="rindle-django-"))


def _configure() -> None:
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY=secrets.token_hex(32),
        BASE_DIR=_HOME,
        ALLOWED_HOSTS=["testserver", "localhost"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "rindle_core.web.django",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        ROOT_URLCONF="web_django_support",
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _HOME / "db.sqlite3"},
            "pg": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": _PG.database or "postgres",
                "USER": _PG.username or "",
                "PASSWORD": _PG.password or "",
                "HOST": _PG.host or "",
                "PORT": str(_PG.port or ""),
                "TEST": {"NAME": f"test_rindle_django_{secrets.token_hex(6)}", "DEPENDENCIES": []},
            },
        },
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()


_configure()


@pytest.fixture(scope="session")
def django_test_env() -> Iterator[None]:
    setup_test_environment()
    yield
    teardown_test_environment()


@pytest.fixture(scope="session")
def sqlite_test_db(django_test_env: None) -> Iterator[str]:
    """The test runner's database for ``default`` (in-memory SQLite), migrated."""
    old = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield "default"
    teardown_databases(old, verbosity=0)


@pytest.fixture(scope="session")
def postgres_test_db(sqlite_test_db: str, postgres_url: str) -> Iterator[str]:
    """The test runner's database for ``pg``: a PostgreSQL database of this process's own.

    Django's own tables (users, sessions) stay in ``default``.
    """
    old = setup_databases(verbosity=0, interactive=False, aliases={"pg"})
    yield "pg"
    teardown_databases(old, verbosity=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def alias(request: pytest.FixtureRequest) -> str:
    """The alias whose database holds rindle's tables: each test runs on both."""
    name = "sqlite_test_db" if request.param == "sqlite" else "postgres_test_db"
    value: str = request.getfixturevalue(name)
    return value


@pytest.fixture(scope="session")
def receiver_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A local storage root, and the URL of its receiver on a real port."""
    root = tmp_path_factory.mktemp("objects")
    server = serve_receiver(root, port=0)
    yield root, server.url
    server.close()


@pytest.fixture
def rindle(alias: str, receiver_url: tuple[Path, str]) -> Iterator[dict[str, Any]]:
    """``settings.RINDLE`` in force for one test (the broker is built anew for it)."""
    from web_django_support import rindle_settings  # it needs Django configured: imported here

    root, url = receiver_url
    value = rindle_settings(root, url, alias)
    with override_settings(RINDLE=value):
        yield value
