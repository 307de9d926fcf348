"""Operations: ``rindle worker``, ``expire``, ``db upgrade|current`` and ``doctor``."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa
from click.testing import Result

from rindle_core import (
    Broker,
    Capability,
    HeadResult,
    Profile,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
)
from rindle_core.cli import _app
from rindle_core.config import load_config
from rindle_core.db import sessions_table
from rindle_core.local import LocalStorage
from rindle_core.plugins import hookimpl, make_plugin_manager

Run = Callable[..., Result]


def errors(result: Result) -> str:
    """stderr after its first line, which names the database (ADR 0091)."""
    named, _, rest = result.stderr.partition("\n")
    assert named.startswith("database: "), result.stderr
    return rest


CONFIG = """
    database_url = "sqlite:///rindle.db"
    job_mode = "worker"
    [storage.files]
    type = "local"
    root = "./objects"
    [profiles.docs]
    storage = "files"
"""


@pytest.fixture
def configured(tmp_path: Path) -> Path:
    path = tmp_path / "rindle.toml"
    path.write_text(textwrap.dedent(CONFIG))
    return path


def past_broker(config_path: Path, days_ago: int = 3) -> Broker:
    """A broker on the configured database whose clock runs *days_ago* behind."""
    config = load_config(config_path, environ={})
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return Broker(
        config.open_database(),
        profiles=config.profiles,
        # Signing needs a base URL; nothing is sent to it.
        storages={
            "files": LocalStorage(config_path.parent / "objects", base_url="http://127.0.0.1:1")
        },
        plugin_manager=make_plugin_manager(load_entrypoints=False),
        job_mode="worker",
        clock=lambda: then,
    )


# -- db -------------------------------------------------------------------------------


def test_a_configured_database_needs_db_upgrade_first(run: Run, configured: Path) -> None:
    for args in (["sessions", "list"], ["worker", "--once"], ["expire"]):
        result = run(*args, code=2)
        assert result.stderr.startswith("error: ConfigurationError: the database ")
        assert "has no rindle tables: run `rindle db upgrade`" in result.stderr
    current = json.loads(run("db", "current", "--json").stdout)
    assert current["current"] is None and current["tables"] is False
    assert "run `rindle db upgrade`" in run("db", "current").stdout
    upgraded = json.loads(run("db", "upgrade", "--json").stdout)
    assert upgraded["before"] is None
    assert upgraded["after"] == upgraded["head"]
    assert "already at" in run("db", "upgrade").stdout
    assert "up to date" in run("db", "current").stdout
    assert json.loads(run("sessions", "list", "--json").stdout) == {"sessions": []}


def test_db_upgrade_human_output(run: Run, configured: Path) -> None:
    assert "upgraded: empty ->" in run("db", "upgrade").stdout


# -- worker ---------------------------------------------------------------------------


def test_worker_once_with_nothing_due(run: Run, configured: Path) -> None:
    run("db", "upgrade")
    assert json.loads(run("worker", "--once", "--json").stdout) == {"outcomes": []}
    assert "0 job(s) run" in run("worker", "--once").stdout


def test_worker_once_runs_a_failing_job_and_records_it(run: Run, configured: Path) -> None:
    """A promotion whose object is gone quarantines (and the job itself succeeds)."""
    run("db", "upgrade")
    (Path("objects")).mkdir(exist_ok=True)
    (Path("a.txt")).write_text("hello\n")
    data = json.loads(run("upload", "a.txt", "--json").stdout)
    assert data["asset"]["state"] == "validating"
    (Path("objects") / data["asset"]["storage_key"]).unlink()
    result = run("worker", "--once")
    assert "promote succeeded (attempt 1)" in result.stdout
    asset = json.loads(run("assets", "show", data["asset"]["id"], "--json").stdout)["asset"]
    assert asset["state"] == "quarantined"


# -- expire ---------------------------------------------------------------------------


def test_expire_dry_run_then_for_real(run: Run, configured: Path) -> None:
    run("db", "upgrade")
    broker = past_broker(configured)
    old = broker.initiate_session("docs", filename="old.txt", content_type="text/plain", size=5)
    broker.sign_url(old.id)
    fresh = past_broker(configured, days_ago=0).initiate_session(
        "docs", filename="new.txt", content_type="text/plain", size=5
    )
    dry = json.loads(run("expire", "--dry-run", "--json").stdout)
    assert dry["dry_run"] is True
    assert dry["expired_session_ids"] == [old.id]
    shown = json.loads(run("sessions", "show", old.id, "--json").stdout)["session"]
    assert shown["state"] == "signed"  # a dry run changes nothing
    assert "would expire 1 session(s)" in run("expire", "--dry-run").stdout

    done = json.loads(run("expire", "--json").stdout)
    assert done["dry_run"] is False
    assert done["expired_session_ids"] == [old.id]
    assert done["cleanup_failures"] == 0
    states = {
        s["id"]: s["state"]
        for s in json.loads(run("sessions", "list", "--json").stdout)["sessions"]
    }
    assert states == {old.id: "expired", fresh.id: "initialized"}
    asset = json.loads(run("assets", "show", old.asset_id, "--json").stdout)["asset"]
    assert asset["state"] == "abandoned"
    again = run("expire")
    assert "expired 0 session(s)" in again.stdout


def test_expire_goes_through_every_batch(run: Run, configured: Path) -> None:
    run("db", "upgrade")
    broker = past_broker(configured)
    ids = {
        broker.initiate_session("docs", filename=f"{n}.txt", content_type="text/plain").id
        for n in range(5)
    }
    done = json.loads(run("expire", "--batch-size", "2", "--json").stdout)
    assert set(done["expired_session_ids"]) == ids


# -- doctor ---------------------------------------------------------------------------


def test_doctor_on_the_embedded_default(run: Run) -> None:
    result = run("doctor")
    assert "config: embedded default" in result.stdout
    # Doctor creates nothing (ADR 0092): the local root comes with the first upload.
    assert "storage local: local: root" in result.stdout
    assert "does not exist yet (created on first use)" in result.stdout
    data = json.loads(run("doctor", "--json").stdout)
    assert data["ok"] is True
    assert {c["name"]: c["status"] for c in data["checks"]} == {
        "config": "ok",
        "plugins": "ok",
        "database": "ok",
        "schema": "ok",
        "storage local": "ok",
        "profile default": "ok",
    }


def test_doctor_reports_a_missing_schema(run: Run, configured: Path) -> None:
    data = json.loads(run("doctor", "--json", code=1).stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert data["ok"] is False
    assert checks["database"]["status"] == "ok"
    assert checks["schema"]["status"] == "fail"
    assert "rindle db upgrade" in checks["schema"]["detail"]
    run("db", "upgrade")
    assert json.loads(run("doctor", "--json").stdout)["ok"] is True


def test_doctor_reports_an_unreachable_database(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text(
        textwrap.dedent(CONFIG).replace("sqlite:///rindle.db", "sqlite:///missing/dir/r.db")
    )
    data = json.loads(run("doctor", "--json", code=1).stdout)
    (database,) = [c for c in data["checks"] if c["name"] == "database"]
    assert database["status"] == "fail"
    assert "unreachable" in database["detail"]


def test_doctor_on_a_bad_config_exits_2(run: Run, tmp_path: Path) -> None:
    (tmp_path / "rindle.toml").write_text('database_url = "sqlite:///r.db"\n[storage.x]\n')
    result = run("doctor", code=2)
    assert "storage.x.type: missing" in result.stdout


class ProbeStorage:
    """A storage whose HEAD behaves as the test says (no RANGE_READ: HEAD is the probe)."""

    backend = "probe"
    capabilities = frozenset({Capability.HEAD, Capability.PRESIGNED_PUT})

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome

    def head(self, key: str) -> HeadResult:
        assert key.startswith("rindle-doctor/")
        if self.outcome == "missing":
            raise StorageNotFound(key)
        if self.outcome == "down":
            raise StorageUnavailable("connect timeout to http://127.0.0.1:9")
        if self.outcome == "denied":
            raise StorageError("HTTP 403 AccessDenied")
        if self.outcome == "crash":
            raise RuntimeError("boom at https://bucket.example/k?X-Amz-Signature=abc123")
        return HeadResult(size=1)


@pytest.fixture
def probe_pm(monkeypatch: pytest.MonkeyPatch) -> pluggy.PluginManager:
    pm = make_plugin_manager(load_entrypoints=False)

    class Plugin:
        @hookimpl
        def rindle_register_storage(self, register: Callable[..., None]) -> None:
            def create_storage(options: Mapping[str, object], /, *, base_dir: Path) -> Any:
                return ProbeStorage(str(options["outcome"]))

            register("probe", create_storage)

    pm.register(Plugin())
    monkeypatch.setattr(_app, "make_plugin_manager", lambda: pm)
    return pm


@pytest.mark.parametrize(
    ("outcome", "status", "detail", "code"),
    [
        ("missing", "ok", "probe: reachable, credentials and bucket OK", 0),
        ("found", "warn", "found an object", 0),
        ("down", "fail", "probe: unreachable (StorageUnavailable: connect timeout", 1),
        ("denied", "fail", "StorageError: HTTP 403 AccessDenied (credentials? bucket?)", 1),
        (
            "crash",
            "fail",
            "unexpected RuntimeError: boom at https://bucket.example/k?[REDACTED]",
            1,
        ),
    ],
)
def test_doctor_probes_each_storage_with_a_missing_key(
    run: Run,
    tmp_path: Path,
    probe_pm: pluggy.PluginManager,
    outcome: str,
    status: str,
    detail: str,
    code: int,
) -> None:
    (tmp_path / "rindle.toml").write_text(
        'database_url = "sqlite:///r.db"\n'
        f'[storage.cloud]\ntype = "probe"\noutcome = "{outcome}"\n[profiles.p]\n'
    )
    run("db", "upgrade")
    data = json.loads(run("doctor", "--json", code=code).stdout)
    (check,) = [c for c in data["checks"] if c["name"] == "storage cloud"]
    assert check["status"] == status
    assert detail in check["detail"]
    assert "abc123" not in json.dumps(data)


def test_a_broken_plugin_is_a_configuration_error(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> Any:
        raise ModuleNotFoundError("No module named 'boto4'")

    monkeypatch.setattr(_app, "make_plugin_manager", broken)
    result = run("sessions", "list", code=2)
    assert result.stderr == (
        "error: ConfigurationError: a rindle plugin failed to load: "
        "ModuleNotFoundError: No module named 'boto4'\n"
    )
    assert "a rindle plugin failed to load" in run("doctor", code=2).stdout


def test_profiles_of_the_past_broker_match(configured: Path) -> None:
    """Guard for the helper above: it builds the same profiles as the CLI."""
    assert [p.name for p in load_config(configured, environ={}).profiles] == ["docs"]
    assert isinstance(load_config(configured, environ={}).profiles[0], Profile)


# -- PostgreSQL -----------------------------------------------------------------------


@pytest.mark.postgres
def test_the_commands_on_postgresql(run: Run, tmp_path: Path, postgres_url: str) -> None:
    """db upgrade, doctor, upload, worker, sessions, expire on a schema of their own."""
    import sqlalchemy as sa
    from pg_schema import own_schema, schema_url

    with own_schema(postgres_url, "rindle_cli") as schema:
        url = schema_url(postgres_url, schema)
        (tmp_path / "rindle.toml").write_text(
            textwrap.dedent(CONFIG).replace("sqlite:///rindle.db", url)
        )
        run("doctor", code=1)  # no tables yet
        run("db", "upgrade")
        checks = json.loads(run("doctor", "--json").stdout)["checks"]
        assert {c["name"]: c["status"] for c in checks}["database"] == "ok"
        assert "(postgresql)" in [c for c in checks if c["name"] == "database"][0]["detail"]
        (tmp_path / "a.txt").write_text("hello\n")
        data = json.loads(run("upload", "a.txt", "--json").stdout)
        assert data["asset"]["state"] == "validating"
        outcomes = json.loads(run("worker", "--once", "--json").stdout)["outcomes"]
        assert [o["result"] for o in outcomes] == ["succeeded"]
        asset = json.loads(run("assets", "show", data["asset"]["id"], "--json").stdout)
        assert asset["asset"]["state"] == "available"
        assert json.loads(run("expire", "--json").stdout)["expired_session_ids"] == []
        admin = sa.create_engine(postgres_url)
        with admin.connect() as conn:
            tables = set(
                conn.execute(
                    sa.text(
                        "select table_name from information_schema.tables where table_schema = :s"
                    ),
                    {"s": schema},
                ).scalars()
            )
        admin.dispose()
        assert "rindle_upload_sessions" in tables


def test_expire_exits_1_when_a_remote_cleanup_fails(
    run: Run, configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("db", "upgrade")
    broker = past_broker(configured)
    old = broker.initiate_session("docs", filename="old.txt", content_type="text/plain")
    broker.sign_url(old.id)  # a URL was handed out: the cleanup looks for its object
    # A stray object (only an object found by HEAD is deleted, and counted).
    storage = LocalStorage(configured.parent / "objects")
    storage.write_bytes(old.storage_key, b"stray", content_type="text/plain")

    original = LocalStorage.delete
    broken = [True]

    def unreachable(self: LocalStorage, key: str) -> None:
        if broken[0]:
            raise StorageUnavailable("disk on fire")
        original(self, key)

    monkeypatch.setattr(LocalStorage, "delete", unreachable)
    result = run("expire", "--json", code=1)
    report = json.loads(result.stdout)
    assert report["expired_session_ids"] == [old.id]
    assert report["cleanup_failures"] == 1
    assert errors(result) == (
        "error: CleanupFailed: 1 remote cleanup(s) failed; they are retried on the next run\n"
    )
    broken[0] = False
    # The failed row backs off; let that time pass.
    database = load_config(configured, environ={}).open_database()
    with database.transaction() as conn:
        past = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        conn.execute(
            sa.update(sessions_table).where(sessions_table.c.id == old.id).values(cleanup_at=past)
        )
    database.dispose()
    retried = json.loads(run("expire", "--json").stdout)
    assert (retried["expired_session_ids"], retried["cleanup_failures"]) == ([], 0)
    assert retried["objects_deleted"] == 1


def test_worker_retry_failed_requeues_jobs_that_gave_up(run: Run, configured: Path) -> None:
    from rindle_core import JobRunner
    from rindle_core.jobs import enqueue

    run("db", "upgrade")
    db = load_config(configured, environ={}).open_database()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with db.transaction() as conn:
        enqueue(conn, kind="mystery", payload={}, dedupe_key="m", now=past, max_attempts=1)
    JobRunner(db, {}).run_due()  # no handler: the job fails for good
    assert JobRunner(db, {}).list()[0].state.value == "failed"
    result = run("worker", "--once", "--retry-failed", "--json")
    assert "1 failed job(s) re-queued" in result.stderr
    outcomes = json.loads(result.stdout)["outcomes"]
    assert [o["kind"] for o in outcomes] == ["mystery"]  # it ran again
