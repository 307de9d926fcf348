"""MariaDB (the MySQL family): URLs and drivers, the start-up check, isolation,
exact text comparison, and exactly-once under concurrency.

The broker and job suites run on MariaDB through ``any_db``; this module
covers what only the MySQL family needs.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.mysql.base import MySQLDialect

from fakes import PNG, MemoryStorage, broker_factory
from rindle_core import (
    Broker,
    ConfigurationError,
    Database,
    DatabaseError,
    InvalidArgument,
    InvalidTransition,
    JobRunner,
    SessionNotFound,
    SessionState,
)
from rindle_core.adapters import utcnow
from rindle_core.db import sessions_table
from rindle_core.jobs import enqueue

pytestmark = pytest.mark.mariadb


def _isolation(conn: sa.Connection) -> str:
    return str(conn.exec_driver_sql("SELECT @@tx_isolation").scalar())


@pytest.fixture
def mariadb_engine(mariadb_database: str) -> Iterator[sa.Engine]:
    """A host's own engine, as SQLAlchemy makes it by default (REPEATABLE READ)."""
    engine = sa.create_engine(mariadb_database.replace("mysql+pymysql", "mariadb+pymysql"))
    yield engine
    engine.dispose()


# -- URLs, drivers, the start-up check ---------------------------------------------------


@pytest.mark.parametrize("scheme", ["mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql"])
def test_mysql_and_mariadb_urls_choose_pymysql(mariadb_database: str, scheme: str) -> None:
    url = mariadb_database.replace("mysql+pymysql://", f"{scheme}://")
    db = Database(url)
    try:
        assert db.engine.url.drivername == "mysql+pymysql"
        assert db.engine.url.query["charset"] == "utf8mb4"
        assert db.dialect == "mysql"
        with db.transaction() as conn:
            assert _isolation(conn) == "READ-COMMITTED"
    finally:
        db.close()


def test_a_missing_driver_names_the_extra(
    mariadb_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pymysql", None)  # `import pymysql` fails
    with pytest.raises(ConfigurationError, match=r"rindle-core\[mysql\]"):
        Database(mariadb_database)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("10.5.22-MariaDB-1:10.5.22+maria~deb11", "needs MariaDB 10.6 or later"),
        ("5.5.5-10.4.31-MariaDB-log", "needs MariaDB 10.6 or later"),
        ("5.7.44-log", "needs MySQL 8.0.17 or later"),
        ("8.0.16", "needs MySQL 8.0.17 or later"),
    ],
)
def test_a_server_too_old_fails_when_the_database_is_created(
    mariadb_database: str, monkeypatch: pytest.MonkeyPatch, version: str, message: str
) -> None:
    def fake_version(self: MySQLDialect, connection: Any) -> tuple[int, ...]:
        return self._parse_server_version(version)

    monkeypatch.setattr(MySQLDialect, "_get_server_version_info", fake_version)
    with pytest.raises(ConfigurationError, match=message):
        Database(mariadb_database)
    engine = sa.create_engine(mariadb_database)
    try:
        with pytest.raises(ConfigurationError, match=message):
            Database(engine)  # a host's engine: checked as well
    finally:
        engine.dispose()


@pytest.mark.parametrize("version", ["10.6.0-MariaDB", "11.4.2-MariaDB", "8.0.17", "8.4.0"])
def test_recent_servers_pass_the_check(
    mariadb_database: str, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    def fake_version(self: MySQLDialect, connection: Any) -> tuple[int, ...]:
        return self._parse_server_version(version)

    monkeypatch.setattr(MySQLDialect, "_get_server_version_info", fake_version)
    Database(mariadb_database).close()


def test_an_unreachable_server_is_a_database_error_when_used() -> None:
    # Nothing listens on port 9: creating the Database is no error (the
    # server is checked on the first connection that succeeds), using it is.
    db = Database("mysql://root@127.0.0.1:9/none", connect_args={"connect_timeout": 2})
    assert db.dialect == "mysql"
    with pytest.raises(DatabaseError), db.transaction():
        pass
    db.close()


# -- a host's shared engine ---------------------------------------------------------------


def test_a_shared_engine_keeps_its_isolation_and_rindle_reads_committed(
    mariadb_engine: sa.Engine, memory: MemoryStorage, pm: pluggy.PluginManager
) -> None:
    db = Database(mariadb_engine)
    db.create_all()
    with mariadb_engine.connect() as conn:
        assert _isolation(conn) == "REPEATABLE-READ"  # the host's own connections
    with db.transaction() as conn:
        assert _isolation(conn) == "READ-COMMITTED"
    with mariadb_engine.connect() as conn:
        assert _isolation(conn) == "REPEATABLE-READ"  # and again after rindle's
    broker = broker_factory(db, memory, pm)(job_mode="inline")
    session = broker.initiate_session(
        "images", filename="a.png", content_type="image/png", size=len(PNG)
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, PNG, "image/png")
    assert broker.verify_completion(session.id).asset.state.value == "available"
    db.close()
    with mariadb_engine.connect() as conn:  # close() leaves a shared engine alone
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


# -- exact text comparison ----------------------------------------------------------------


@pytest.fixture
def make_broker(
    mariadb_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager
) -> Callable[..., Broker]:
    return broker_factory(mariadb_db, memory, pm)


def _start(broker: Broker, owner: str) -> str:
    return broker.initiate_session(
        "any", filename="a.txt", content_type="text/plain", owner=owner
    ).id


def test_owners_differing_in_case_or_trailing_spaces_never_see_each_other(
    make_broker: Callable[..., Broker],
) -> None:
    broker = make_broker()
    mine = _start(broker, "alice")
    theirs = {_start(broker, name) for name in ("Alice", "ALICE", "alice ", "alicE")}
    assert [s.id for s in broker.list_sessions(owner="alice")] == [mine]
    assert [s.id for s in broker.list_sessions(owner="Alice")] != [mine]
    assert {s.id for s in broker.list_sessions(owner="alice ")} <= theirs


def test_ids_and_storage_keys_match_exactly(
    make_broker: Callable[..., Broker], mariadb_db: Database
) -> None:
    broker = make_broker()
    session = broker.get_session(_start(broker, "u"))
    for other in (session.id.upper(), session.id + " "):
        with pytest.raises((SessionNotFound, InvalidArgument)):
            broker.get_session(other)
    assert [s.id for s in broker.list_sessions(storage_key=session.storage_key)] == [session.id]
    assert broker.list_sessions(storage_key=session.storage_key.upper()) == []
    assert broker.list_sessions(storage_key=session.storage_key + " ") == []
    # Keys that differ only in case or padding are distinct rows, not duplicates.
    with mariadb_db.transaction() as conn:
        (count,) = conn.execute(
            sa.select(sa.func.count()).where(
                sessions_table.c.upload_key.in_([session.storage_key, session.storage_key.upper()])
            )
        ).one()
    assert count == 1


def test_a_claim_token_in_other_case_cannot_renew_the_lease(mariadb_db: Database) -> None:
    from rindle_core._leases import Lease

    with mariadb_db.transaction() as conn:
        enqueue(conn, kind="k", payload={}, dedupe_key="k:1", now=utcnow())
    runner = JobRunner(mariadb_db, {"k": lambda job: None})
    (job,) = runner.claim()
    with mariadb_db.transaction() as conn:
        token = conn.execute(
            sa.text("SELECT claim_token FROM rindle_jobs WHERE id = :id"), {"id": job.id}
        ).scalar_one()
    assert Lease(mariadb_db, job.id, token, 60, worker_id="w").renew()
    assert not Lease(mariadb_db, job.id, token.upper(), 60, worker_id="w").renew()
    assert not Lease(mariadb_db, job.id, token + " ", 60, worker_id="w").renew()


def test_dedupe_keys_differing_in_case_are_two_jobs(mariadb_db: Database) -> None:
    with mariadb_db.transaction() as conn:
        first = enqueue(conn, kind="k", payload={}, dedupe_key="promote:abc", now=utcnow())
        again = enqueue(conn, kind="k", payload={}, dedupe_key="promote:abc", now=utcnow())
        upper = enqueue(conn, kind="k", payload={}, dedupe_key="promote:ABC", now=utcnow())
        padded = enqueue(conn, kind="k", payload={}, dedupe_key="promote:abc ", now=utcnow())
    assert first is not None and again is None
    assert upper is not None and padded is not None and len({first, upper, padded}) == 3


def test_timestamps_keep_microseconds(make_broker: Callable[..., Broker]) -> None:
    import datetime as dt

    at = dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    broker = make_broker(clock=lambda: at)
    session = broker.get_session(_start(broker, "u"))
    assert session.created_at == at
    assert session.expires_at.microsecond == 678901


# -- exactly once under concurrency (SKIP LOCKED, compare-and-set) --------------------------


def test_two_workers_never_run_a_job_twice(mariadb_db: Database) -> None:
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(job: Any) -> None:
        with lock:
            runs[job.id] += 1

    with mariadb_db.transaction() as conn:
        ids = [
            enqueue(conn, kind="count", payload={}, dedupe_key=f"count:{i}", now=utcnow())
            for i in range(120)
        ]
    workers = [JobRunner(mariadb_db, {"count": handler}) for _ in range(3)]
    barrier = threading.Barrier(3)

    def work(runner: JobRunner) -> int:
        barrier.wait()
        return len(runner.run_due(limit=1000))

    with ThreadPoolExecutor(3) as pool:
        done = list(pool.map(work, workers))
    assert sum(done) == 120
    assert set(runs) == set(ids)
    assert set(runs.values()) == {1}


def test_concurrent_verifies_complete_once(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    broker = make_broker(job_mode="worker")
    session = broker.initiate_session(
        "images", filename="a.png", content_type="image/png", size=len(PNG)
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, PNG, "image/png")
    barrier = threading.Barrier(8)

    def verify(_: int) -> str:
        barrier.wait()
        try:
            return broker.verify_completion(session.id).session.state.value
        except InvalidTransition as exc:  # must never happen: losers converge
            return f"error:{exc}"

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(verify, range(8))) == ["completed"] * 8
    assert [j.kind for j in broker.jobs.list()] == ["promote"]
    assert broker.get_session(session.id).state is SessionState.COMPLETED


# -- a host's own Alembic history (docs/migrations.md, option 2) ----------------------------


def test_autogenerate_renders_timestamps_with_microseconds(mariadb_database: str) -> None:
    from alembic.autogenerate import render_python_code
    from alembic.operations import ops
    from alembic.runtime.migration import MigrationContext

    from rindle_core.db import metadata, render_item

    engine = sa.create_engine(mariadb_database)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"render_item": render_item})
            table = metadata.tables["rindle_jobs"]
            code = render_python_code(
                ops.UpgradeOps(ops=[ops.CreateTableOp.from_table(table)]),
                migration_context=context,
                render_item=render_item,
            )
    finally:
        engine.dispose()
    assert "UTCDateTime" not in code
    assert 'sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")' in (
        code
    )


# -- the command line ---------------------------------------------------------------------


def test_the_commands_on_mariadb(
    run: Callable[..., Any], tmp_path: Path, mariadb_database: str
) -> None:
    """db upgrade, doctor, upload, worker, expire on a `mariadb://` URL."""
    import json

    url = mariadb_database.replace("mysql+pymysql://", "mariadb://")
    (tmp_path / "rindle.toml").write_text(
        f'database_url = "{url}"\njob_mode = "worker"\n'
        '[storage.files]\ntype = "local"\nroot = "./objects"\n'
        '[profiles.docs]\nstorage = "files"\n'
    )
    run("doctor", code=1)  # no tables yet
    run("db", "upgrade")
    checks = json.loads(run("doctor", "--json").stdout)["checks"]
    database = next(c for c in checks if c["name"] == "database")
    assert database["status"] == "ok" and "(mysql)" in database["detail"]
    (tmp_path / "a.txt").write_text("hello\n")
    data = json.loads(run("upload", "a.txt", "--json").stdout)
    assert data["asset"]["state"] == "validating"
    outcomes = json.loads(run("worker", "--once", "--json").stdout)["outcomes"]
    assert [o["result"] for o in outcomes] == ["succeeded"]
    asset = json.loads(run("assets", "show", data["asset"]["id"], "--json").stdout)
    assert asset["asset"]["state"] == "available"
    assert json.loads(run("expire", "--json").stdout)["expired_session_ids"] == []
