"""``settings.RINDLE`` read and checked; Django's databases as rindle's URLs; the broker's life.

No HTTP here: what the settings say, what the system checks report, and
when the one broker of the process is built, shared and replaced.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import Client, override_settings
from web_django_support import rindle_settings

from rindle_core import Database, DatabaseError
from rindle_core.config import DATABASE_URL_ENV
from rindle_core.web.django import _runtime, get_api, get_broker
from rindle_core.web.django._conf import database_alias, read_settings
from rindle_core.web.django._dburl import database_url, url_of
from rindle_core.web.django.checks import check_settings

PG: dict[str, Any] = {
    "NAME": "app",
    "USER": "web",
    "PASSWORD": "s3cret",
    "HOST": "db",
    "PORT": 5433,
}


@pytest.fixture(autouse=True)
def _no_database_url_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)


def storage(tmp_path: Path) -> dict[str, Any]:
    return {"files": {"type": "local", "root": str(tmp_path / "objects")}}


# -- what RINDLE says -----------------------------------------------------------------------


def test_inline_keys_are_rindle_tomls_keys_in_upper_case(sqlite_test_db: str) -> None:
    value = {
        "STORAGE": {"files": {"type": "local", "root": "uploads"}},
        "PROFILES": {"avatars": {"max_bytes": "1 MiB", "allow_mime": ["image/png"]}},
        "JOB_MODE": "inline",
        "AUTHORIZE": "web_django_support.authorize",
        "EXPOSED_PROFILES": ["avatars"],
        "MAX_BODY": 4096,
    }
    with override_settings(RINDLE=value):
        read = read_settings()
    assert read.config.profile("avatars").max_bytes == 1024 * 1024
    # Relative paths start at BASE_DIR, as the project's own do.
    assert read.config.storages["files"].options["root"] == "uploads"
    assert read.config.storages["files"].base_dir == Path(settings.BASE_DIR)
    assert read.alias == "default"
    assert read.config.database_url == database_url("default")
    assert read.exposed_profiles == ("avatars",)
    assert read.max_body == 4096
    assert read.authorize is not None and read.authorize.__name__ == "authorize"


def test_a_mistake_is_named_by_its_key(sqlite_test_db: str, tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"STORAGES": {}}, "unknown key 'STORAGES' (did you mean 'STORAGE'?)"),
        ({"STORAGE": storage(tmp_path), "PROFILES": {"a": {"max_bytes": "lots"}}}, "profiles.a"),
        (
            {"STORAGE": storage(tmp_path), "PROFILES": {"a": {}}, "AUTHORIZE": "no.such.hook"},
            "AUTHORIZE",
        ),
        ({"STORAGE": storage(tmp_path), "PROFILES": {"a": {}}, "MAX_BODY": 10}, "MAX_BODY"),
        ({"CONFIG": "rindle.toml", "PROFILES": {"a": {}}}, "not both"),
        ({"STORAGE": storage(tmp_path), "PROFILES": {"a": {}}, "DATABASE": "nope"}, "'nope'"),
    ]
    for value, expected in cases:
        with override_settings(RINDLE=value), pytest.raises(ImproperlyConfigured) as caught:
            read_settings()
        assert expected in str(caught.value)
        assert str(caught.value).startswith("settings.RINDLE"), caught.value
    with override_settings(RINDLE=None), pytest.raises(ImproperlyConfigured, match="not set"):
        read_settings()


def test_a_rindle_toml_is_read_and_its_database_url_honoured(
    sqlite_test_db: str, tmp_path: Path
) -> None:
    toml = tmp_path / "rindle.toml"
    toml.write_text('[storage.files]\ntype = "local"\nroot = "objects"\n[profiles.docs]\n')
    with override_settings(RINDLE={"CONFIG": toml}):
        read = read_settings()
        # No database_url in the file: the tables live in Django's database.
        assert read.alias == "default"
        assert read.config.database_url == database_url("default")
        assert database_alias() == "default"
        assert read.config.storages["files"].base_dir == tmp_path
    toml.write_text('database_url = "sqlite:///elsewhere.db"\n' + toml.read_text())
    with override_settings(RINDLE={"CONFIG": toml}):
        read = read_settings()
        assert read.alias is None
        assert read.config.database_url == f"sqlite:///{tmp_path / 'elsewhere.db'}"
        assert database_alias() is None
    missing = {"CONFIG": tmp_path / "missing.toml"}
    with override_settings(RINDLE=missing), pytest.raises(ImproperlyConfigured, match="not exist"):
        read_settings()


def test_the_environments_database_url_names_rindles_database_as_for_the_cli(
    sqlite_test_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "sqlite:////tmp/from-env.db")
    with override_settings(RINDLE={"STORAGE": storage(tmp_path), "PROFILES": {"a": {}}}):
        read = read_settings()
        assert read.alias is None
        assert read.config.database_url == "sqlite:////tmp/from-env.db"
        assert database_alias() is None


# -- Django's database as a URL -------------------------------------------------------------


def test_sqlite_aliases_as_urls(tmp_path: Path) -> None:
    assert url_of("x", "sqlite", {"NAME": tmp_path / "db.sqlite3"}) == (
        f"sqlite:///{tmp_path / 'db.sqlite3'}"
    )
    shared = "file:memorydb_default?mode=memory&cache=shared"
    assert url_of("x", "sqlite", {"NAME": shared}) == f"sqlite:///{shared}&uri=true"
    for private in (":memory:", "", "file::memory:", "file:m?mode=memory"):
        with pytest.raises(ImproperlyConfigured, match="private in-memory"):
            url_of("x", "sqlite", {"NAME": private})


def test_postgresql_aliases_as_urls() -> None:
    url = url_of("x", "postgresql", {**PG, "OPTIONS": {"sslmode": "require", "pool": True}})
    assert url == "postgresql+psycopg://web:s3cret@db:5433/app?sslmode=require"
    socket = url_of("x", "postgresql", {"NAME": "app", "HOST": "/run/postgresql", "PORT": ""})
    assert socket == "postgresql+psycopg:///app?host=%2Frun%2Fpostgresql"
    with pytest.raises(ImproperlyConfigured, match="SQLite or PostgreSQL"):
        url_of("x", "mysql", {"NAME": "app"})


def test_the_password_of_djangos_database_is_never_shown(
    receiver_url: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    settings_dict = connections["pg"].settings_dict
    for key, value in {"HOST": "127.0.0.1", "PORT": "1", "PASSWORD": "s3cret"}.items():
        monkeypatch.setitem(settings_dict, key, value)
    assert "s3cret" in database_url("pg")
    with override_settings(RINDLE=rindle_settings(*receiver_url, "pg")):
        with pytest.raises(DatabaseError) as caught:
            get_broker()
        answer = Client().get("/api/uploads/openapi.json")
    assert "127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert answer.status_code == 503
    assert answer.json()["type"].endswith("#database-unavailable")
    assert "cannot reach the database" in caplog.text
    assert "s3cret" not in caplog.text + answer.content.decode()


# -- system checks --------------------------------------------------------------------------


def test_the_checks_report_a_missing_hook_and_a_broken_configuration(
    sqlite_test_db: str, tmp_path: Path
) -> None:
    good = {"STORAGE": storage(tmp_path), "PROFILES": {"a": {}}}
    with override_settings(RINDLE={**good, "AUTHORIZE": "web_django_support.authorize"}):
        assert check_settings() == []
    with override_settings(RINDLE=good):
        assert [m.id for m in check_settings()] == ["rindle.W001"]
    bad_type = {"STORAGE": {"f": {"type": "ftp"}}, "PROFILES": {"a": {}}}
    with override_settings(RINDLE=bad_type):
        (message,) = check_settings()
        assert message.id == "rindle.E001"
        assert "unknown storage type 'ftp'" in message.msg
    with override_settings(RINDLE={**good, "AUTHORIZE": "web_django_support.NOT_A_FUNCTION"}):
        assert [m.id for m in check_settings()] == ["rindle.E001"]


# -- one broker per process -----------------------------------------------------------------


def test_the_broker_is_built_once_however_many_threads_ask(
    sqlite_test_db: str, receiver_url: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[object] = []
    build = _runtime._build

    def counted() -> Any:
        built = build()
        builds.append(built)
        return built

    monkeypatch.setattr(_runtime, "_build", counted)
    seen: list[object] = []
    with override_settings(RINDLE=rindle_settings(*receiver_url, sqlite_test_db)):
        barrier = threading.Barrier(8)

        def ask() -> None:
            barrier.wait()
            seen.append(get_broker())

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(builds) == 1
        assert len({id(broker) for broker in seen}) == 1
        assert get_api().broker is seen[0]


def test_new_settings_or_another_database_build_a_new_broker(
    sqlite_test_db: str, receiver_url: tuple[Path, str], tmp_path: Path
) -> None:
    value = rindle_settings(*receiver_url, sqlite_test_db)
    with override_settings(RINDLE=value):
        first = get_broker()
        assert get_broker() is first
    with override_settings(RINDLE={**value, "UPPY_PROFILE": "images"}):
        second = get_broker()
        assert second is not first
        # The alias now names another database (as when the test runner swaps it in).
        other = tmp_path / "other.db"
        Database(f"sqlite:///{other}").upgrade()
        settings_dict = connections["default"].settings_dict
        name = settings_dict["NAME"]
        settings_dict["NAME"] = str(other)
        try:
            third = get_broker()
            assert third is not second
            assert str(other) in repr(third)
        finally:
            settings_dict["NAME"] = name
        assert get_broker() is not third


def test_a_database_without_rindles_tables_says_to_migrate(
    sqlite_test_db: str, receiver_url: tuple[Path, str], tmp_path: Path, caplog: Any
) -> None:
    settings_dict = connections["default"].settings_dict
    name = settings_dict["NAME"]
    settings_dict["NAME"] = str(tmp_path / "empty.db")
    try:
        with override_settings(RINDLE=rindle_settings(*receiver_url, sqlite_test_db)):
            with pytest.raises(ImproperlyConfigured, match="manage.py migrate"):
                get_broker()
            answer = Client().get("/api/uploads/uploads/" + "0" * 32)
    finally:
        settings_dict["NAME"] = name
    assert answer.status_code == 500
    assert answer.json()["type"].endswith("#server-misconfigured")
    assert "manage.py migrate" not in answer.content.decode()
    assert "run `python manage.py migrate`" in caplog.text


def test_the_package_imports_before_settings_and_only_django() -> None:
    import json
    import subprocess
    import sys

    others = ["starlette", "fastapi", "flask", "werkzeug", "anyio", "uvicorn"]
    code = (
        "import json, sys\n"
        "import rindle_core.web.django, rindle_core.web.django.apps\n"
        f"print(json.dumps([m for m in {[*others, 'django']!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == ["django"]
