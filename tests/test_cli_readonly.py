"""Commands that read state: which database they use, and what they leave behind.

Read-only commands (``READ_ONLY_COMMANDS``) create no file or directory — not
an absent SQLite database, not a local storage root — and build no storage
adapter, so cloud storages configured without credentials do not stop them.
Every command that reads state names its database on the first line of
stderr, password masked. ``RINDLE_DATABASE_URL`` is honoured wherever the
docs say it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import Result
from pg_schema import own_schema, schema_url

from fakes import MemoryStorage
from rindle_core import Broker, Database
from rindle_core.cli import cli
from rindle_core.cli._app import READ_ONLY_COMMANDS
from rindle_core.config import load_broker, load_config
from rindle_core.plugins import make_plugin_manager
from rindle_core.profiles import Profile

Run = Callable[..., Result]
UNKNOWN = "0123456789abcdef" * 2

LOCAL = (
    'database_url = "sqlite:///r.db"\n[storage.files]\ntype = "local"\nroot = "o"\n[profiles.p]\n'
)


def tree(root: Path) -> set[str]:
    """Every file and directory under *root*, relative."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def database_line(result: Result) -> str:
    first = result.stderr.splitlines()[0] if result.stderr else ""
    assert first.startswith("database: "), result.stderr
    return first


READS: dict[str, list[str]] = {
    "sessions list": ["sessions", "list"],
    "sessions show": ["sessions", "show", UNKNOWN],
    "assets show": ["assets", "show", UNKNOWN],
    "db current": ["db", "current"],
    "doctor": ["doctor"],
    "metrics": ["metrics"],
}


def test_the_read_only_commands_are_these() -> None:
    assert set(READ_ONLY_COMMANDS) == set(READS)
    for words in READ_ONLY_COMMANDS:
        command = cli
        for word in words.split():
            assert isinstance(command, click.Group)
            command = command.commands[word]


# -- nothing is created -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(READS))
def test_on_the_embedded_default_a_read_creates_nothing(
    run: Run, tmp_path: Path, name: str
) -> None:
    expected = {"db current": 0, "doctor": 0, "metrics": 0}.get(name, 2)
    result = run(*READS[name], code=expected)
    assert tree(tmp_path) == set()
    assert "Traceback" not in result.output
    if expected == 2:
        assert "does not exist yet" in result.stderr
        assert result.stderr.splitlines()[-1].startswith("error: ConfigurationError: ")


@pytest.mark.parametrize("name", sorted(READS))
def test_with_an_absent_database_file_and_local_root_a_read_creates_nothing(
    run: Run, tmp_path: Path, name: str
) -> None:
    (tmp_path / "rindle.toml").write_text(LOCAL)
    expected = {"db current": 0, "doctor": 1, "metrics": 0}.get(name, 2)
    result = run(*READS[name], code=expected)
    assert tree(tmp_path) == {"rindle.toml"}
    assert "Traceback" not in result.output
    if expected == 2:
        assert "r.db' does not exist, so has no rindle tables: run `rindle db upgrade`" in (
            result.stderr
        )


def test_db_current_and_doctor_on_an_absent_database(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(LOCAL)
    current = json.loads(run("db", "current", "--json").stdout)
    assert current["current"] is None and current["tables"] is False
    checks = {c["name"]: c for c in json.loads(run("doctor", "--json", code=1).stdout)["checks"]}
    assert "does not exist yet" in checks["database"]["detail"]
    assert checks["schema"]["status"] == "fail"
    assert "rindle db upgrade" in checks["schema"]["detail"]
    assert "does not exist yet" in checks["storage files"]["detail"]
    assert tree(tmp_path) == {"rindle.toml"}


def test_reads_of_a_migrated_database_leave_the_local_root_alone(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(LOCAL)
    run("db", "upgrade")
    before = tree(tmp_path)
    assert "o" not in before
    assert run("sessions", "list").stdout == "no sessions\n"
    run("sessions", "show", UNKNOWN, code=1)
    run("assets", "show", UNKNOWN, code=1)
    assert "up to date" in run("db", "current").stdout
    doctor = run("doctor")
    assert "root" in doctor.stdout and "does not exist yet" in doctor.stdout
    assert tree(tmp_path) == before


def test_a_write_still_creates_the_embedded_default(run: Run, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    run("upload", "a.txt", "--json")
    assert {".rindle/rindle.db", ".rindle/objects"} <= tree(tmp_path)
    assert len(json.loads(run("sessions", "list", "--json").stdout)["sessions"]) == 1


# -- no cloud credentials needed ----------------------------------------------------------

CLOUDS = """\
database_url = "sqlite:///r.db"

[storage.media]
type = "s3"
bucket = "rindle-readonly"
region = "eu-west-1"

[storage.gcs]
type = "gcs"
bucket = "rindle-readonly"

[storage.blobs]
type = "azure"
container = "rindle"

[profiles.s3]
storage = "media"

[profiles.gcs]
storage = "gcs"

[profiles.azure]
storage = "blobs"
"""


@pytest.fixture
def no_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No AWS, Google or Azure credentials anywhere a client would look."""
    pytest.importorskip("rindle_s3")
    pytest.importorskip("rindle_gcs")
    pytest.importorskip("rindle_azure")
    for name in list(os.environ):
        if name.startswith(("AWS_", "GOOGLE_", "GCLOUD", "CLOUDSDK_", "AZURE_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    home = tmp_path_factory.mktemp("home")
    nowhere = str(home / "absent")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", nowhere)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", nowhere)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", nowhere)
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")


def _record_one_session_per_storage(database_url: str) -> dict[str, str]:
    """Sessions in the database, written by a broker on memory storages of the same names."""
    storages = {"media": MemoryStorage(), "gcs": MemoryStorage(), "blobs": MemoryStorage()}
    profiles = [Profile(name=n, storage=s) for n, s in [("s3", "media"), ("gcs", "gcs")]]
    profiles.append(Profile(name="azure", storage="blobs"))
    database = Database(database_url)
    broker = Broker(
        database,
        profiles=profiles,
        storages=storages,
        plugin_manager=make_plugin_manager(load_entrypoints=False),
    )
    try:
        return {
            p.name: broker.initiate_session(p.name, filename="a.txt", content_type="text/plain").id
            for p in profiles
        }
    finally:
        database.dispose()


@pytest.mark.usefixtures("no_credentials")
def test_reads_need_no_cloud_credentials(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(CLOUDS)
    # Writing needs the adapters, and so the credentials:
    (tmp_path / "a.txt").write_text("a")
    refused = run("upload", "a.txt", "-p", "s3", code=2)
    assert "credentials" in refused.stderr
    run("db", "upgrade")
    ids = _record_one_session_per_storage(f"sqlite:///{tmp_path / 'r.db'}")
    before = tree(tmp_path)

    listed = run("sessions", "list", "--json")
    assert {s["id"] for s in json.loads(listed.stdout)["sessions"]} == set(ids.values())
    for profile, session_id in ids.items():
        shown = json.loads(run("sessions", "show", session_id, "--json").stdout)["session"]
        assert shown["profile"] == profile
        asset = json.loads(run("assets", "show", shown["asset_id"], "--json").stdout)["asset"]
        assert asset["state"] == "staged"
    assert "up to date" in run("db", "current").stdout
    human = run("sessions", "list")
    for result in (listed, human):
        assert "credential" not in result.output.lower()
        assert result.stderr.splitlines() == [database_line(result)]
    assert tree(tmp_path) == before


@pytest.mark.usefixtures("no_credentials")
def test_doctor_reports_missing_credentials_as_failed_checks(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(CLOUDS)
    run("db", "upgrade")
    data = json.loads(run("doctor", "--json", code=1).stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["database"]["status"] == checks["schema"]["status"] == "ok"
    for name in ("storage media", "storage gcs", "storage blobs"):
        assert checks[name]["status"] == "fail"
    assert "credentials" in checks["storage media"]["detail"].lower()


@pytest.mark.usefixtures("no_credentials")
@pytest.mark.parametrize("name", ["sessions list", "sessions show", "assets show"])
def test_an_absent_database_is_named_not_a_credentials_error(
    run: Run, tmp_path: Path, name: str
) -> None:
    (tmp_path / "rindle.toml").write_text(CLOUDS)
    result = run(*READS[name], code=2)
    assert "does not exist, so has no rindle tables: run `rindle db upgrade`" in result.stderr
    assert "credential" not in result.output.lower()
    assert tree(tmp_path) == {"rindle.toml"}


# -- the database is named ----------------------------------------------------------------


def test_every_command_that_reads_state_names_its_database(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "rindle.toml"
    config.write_text(LOCAL)
    expected = f"database: sqlite:///{tmp_path / 'r.db'} (from {config})"
    (tmp_path / "a.txt").write_text("a")
    commands: list[tuple[list[str], int]] = [
        (["db", "upgrade"], 0),
        (["db", "current"], 0),
        (["upload", "a.txt", "--json"], 0),
        (["sessions", "list"], 0),
        (["sessions", "list", "--json"], 0),
        (["sessions", "show", UNKNOWN], 1),
        (["assets", "show", UNKNOWN, "--json"], 1),
        (["worker", "--once", "--json"], 0),
        (["expire", "--json"], 0),
        (["doctor"], 0),
    ]
    for args, code in commands:
        result = run(*args, code=code)
        assert database_line(result) == expected, args
        assert result.stderr.count("database: ") == 1
        if code:
            assert result.stderr.splitlines()[1].startswith("error: ")
    assert json.loads(run("sessions", "list", "--json").stdout)["sessions"]  # stdout: JSON only


def test_the_embedded_default_is_named(run: Run, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    result = run("upload", "a.txt")
    db = tmp_path / ".rindle" / "rindle.db"
    assert database_line(result) == f"database: sqlite:///{db} (embedded default)"


def test_no_database_line_before_the_configuration_is_read(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text('database_url = "sqlite:///r.db"\njob_mode = "later"\n')
    result = run("sessions", "list", code=2)
    assert result.stderr.startswith("error: ConfigurationError: ")
    assert "database: " not in result.stderr


# -- RINDLE_DATABASE_URL ------------------------------------------------------------------


def test_it_overrides_the_files_database_url(run: Run, tmp_path: Path) -> None:
    """docs/configuration.md: "RINDLE_DATABASE_URL overrides it" (top-level keys, env table)."""
    (tmp_path / "rindle.toml").write_text(LOCAL)
    other = tmp_path / "elsewhere.db"
    env = {"RINDLE_DATABASE_URL": f"sqlite:///{other}"}
    named = f"database: sqlite:///{other} (from RINDLE_DATABASE_URL)"
    assert database_line(run("db", "upgrade", env=env)) == named
    assert other.exists() and not (tmp_path / "r.db").exists()
    assert "up to date" in run("db", "current", env=env).stdout
    (tmp_path / "a.txt").write_text("a")
    session = json.loads(run("upload", "a.txt", "--json", env=env).stdout)["session"]
    listed = run("sessions", "list", "--json", env=env)
    assert database_line(listed) == named
    assert [s["id"] for s in json.loads(listed.stdout)["sessions"]] == [session["id"]]
    assert json.loads(run("sessions", "show", session["id"], "--json", env=env).stdout)
    assert json.loads(run("assets", "show", session["asset_id"], "--json", env=env).stdout)
    doctor = json.loads(run("doctor", "--json", env=env).stdout)
    (database,) = [c for c in doctor["checks"] if c["name"] == "database"]
    assert str(other) in database["detail"]
    assert not (tmp_path / "r.db").exists()
    # Without it, the file's database (not migrated) is the one used.
    run("sessions", "list", code=2)


def test_the_worker_and_expire_use_it(run: Run, tmp_path: Path) -> None:
    """docs/operations.md: the systemd units keep RINDLE_DATABASE_URL in rindle.env."""
    (tmp_path / "rindle.toml").write_text('job_mode = "worker"\n' + LOCAL)
    other = tmp_path / "elsewhere.db"
    env = {"RINDLE_DATABASE_URL": f"sqlite:///{other}"}
    run("db", "upgrade", env=env)
    (tmp_path / "a.txt").write_text("a")
    run("upload", "a.txt", env=env)
    outcomes = json.loads(run("worker", "--once", "--json", env=env).stdout)["outcomes"]
    assert [o["result"] for o in outcomes] == ["succeeded"]
    report = run("expire", "--json", env=env)
    assert json.loads(report.stdout)["expired_session_ids"] == []
    assert "elsewhere.db (from RINDLE_DATABASE_URL)" in database_line(report)
    assert not (tmp_path / "r.db").exists()


def test_load_broker_uses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/getting-started.md: ``load_broker()`` reads the same configuration as the CLI."""
    (tmp_path / "rindle.toml").write_text(LOCAL)
    other = tmp_path / "elsewhere.db"
    database = Database(f"sqlite:///{other}")
    database.upgrade()
    database.dispose()
    monkeypatch.setenv("RINDLE_DATABASE_URL", f"sqlite:///{other}")
    monkeypatch.delenv("RINDLE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with load_broker(plugin_manager=make_plugin_manager(load_entrypoints=False)) as broker:
        assert broker.database.engine.url.database == str(other)
    config = load_config()
    assert config.database_from_env
    assert config.describe_database() == f"sqlite:///{other} (from RINDLE_DATABASE_URL)"


def test_it_replaces_the_embedded_defaults_database_too(run: Run, tmp_path: Path) -> None:
    """Without a file, it still names the database; that one is not created on the spot."""
    other = tmp_path / "data" / "elsewhere.db"
    other.parent.mkdir()
    env = {"RINDLE_DATABASE_URL": f"sqlite:///{other}"}
    result = run("sessions", "list", code=2, env=env)
    assert str(other) in result.stderr  # the error names it
    assert "does not exist, so has no rindle tables: run `rindle db upgrade`" in result.stderr
    assert tree(tmp_path) == {"data"}
    run("db", "upgrade", env=env)
    listed = run("sessions", "list", env=env)
    assert database_line(listed) == f"database: sqlite:///{other} (from RINDLE_DATABASE_URL)"
    assert listed.stdout == "no sessions\n"
    (tmp_path / "a.txt").write_text("a")
    run("upload", "a.txt", env=env)  # the embedded storage, the named database
    assert not (tmp_path / ".rindle" / "rindle.db").exists()
    assert len(json.loads(run("sessions", "list", "--json", env=env).stdout)["sessions"]) == 1


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL with a password, on a fresh PostgreSQL schema (the server trusts local users)."""
    with own_schema(postgres_url, "rindle_ro") as schema:
        yield schema_url(postgres_url, schema, password="hunter2-secret")


@pytest.mark.postgres
def test_the_named_database_hides_its_password(
    run: Run, tmp_path: Path, postgres_schema_url: str
) -> None:
    (tmp_path / "rindle.toml").write_text(LOCAL)
    env = {"RINDLE_DATABASE_URL": postgres_schema_url}
    for args in (["db", "upgrade"], ["db", "current"], ["sessions", "list"], ["doctor"]):
        result = run(*args, env=env)
        line = database_line(result)
        assert ":***@" in line and line.endswith("(from RINDLE_DATABASE_URL)")
        assert "hunter2" not in result.output
    assert tree(tmp_path) == {"rindle.toml"}
