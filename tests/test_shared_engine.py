"""Sharing the host's database (ADR 0114): a host's engine keeps its own
behaviour, ``sqlite://`` works, and ``Database.atomic`` makes a host's own
write atomic with rindle's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa
from round_trip_counter import RoundTrips

from fakes import MemoryStorage, broker_factory
from rindle_core import (
    AssetState,
    Broker,
    Database,
    InvalidArgument,
    Job,
    SessionNotFound,
    SessionState,
    UploadSession,
    hookimpl,
)
from rindle_core.db import jobs_table, sessions_table

notes = sa.Table(
    "host_notes",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.String(36)),
)


class Seen:
    """Observer: what was emitted, and whether the session row was committed then."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.started: list[tuple[str, bool]] = []
        self.dispatched: list[str] = []

    def _committed(self, session_id: str) -> bool:
        query = sa.select(sessions_table.c.id).where(sessions_table.c.id == session_id)
        with self.database.engine.connect() as conn:  # another connection: sees commits only
            return conn.execute(query).first() is not None

    @hookimpl
    def rindle_upload_started(self, session: UploadSession) -> None:
        self.started.append((session.id, self._committed(session.id)))

    @hookimpl
    def rindle_dispatch_job(self, job: Job) -> None:
        self.dispatched.append(job.id)


@pytest.fixture
def seen(any_db: Database, pm: pluggy.PluginManager) -> Seen:
    observer = Seen(any_db)
    pm.register(observer)
    return observer


@pytest.fixture
def broker(any_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager) -> Iterator[Broker]:
    notes.create(any_db.engine)
    yield broker_factory(any_db, memory, pm)(job_mode="worker")
    notes.drop(any_db.engine)


def _notes(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(notes)).scalar_one())


def _initiate(broker: Broker) -> UploadSession:
    return broker.initiate_session("any", filename="a.txt", content_type="text/plain", size=5)


# -- atomic blocks ----------------------------------------------------------------------


def test_an_atomic_block_commits_the_hosts_row_with_rindles(broker: Broker, seen: Seen) -> None:
    db = broker.database
    with db.atomic() as conn:
        session = _initiate(broker)
        conn.execute(sa.insert(notes).values(session_id=session.id))
        assert seen.started == []  # telemetry waits for the commit
    assert broker.get_session(session.id).state is SessionState.INITIALIZED
    assert _notes(db) == 1
    assert seen.started == [(session.id, True)]  # emitted after the commit


def test_an_atomic_block_that_raises_leaves_nothing(broker: Broker, seen: Seen) -> None:
    db = broker.database
    started: list[UploadSession] = []

    def block() -> None:
        with db.atomic() as conn:
            started.append(_initiate(broker))
            conn.execute(sa.insert(notes).values(session_id=started[0].id))
            raise RuntimeError("the host changed its mind")

    with pytest.raises(RuntimeError):
        block()
    (session,) = started
    with pytest.raises(SessionNotFound):
        broker.get_session(session.id)
    assert _notes(db) == 0
    assert seen.started == []


def test_verify_in_a_block_asks_storage_before_the_transaction_opens(
    broker: Broker, memory: MemoryStorage, seen: Seen
) -> None:
    db = broker.database
    session = _initiate(broker)
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, b"hello", "text/plain")
    open_at_head: list[bool] = []
    head = memory.head

    def watched_head(key: str) -> Any:
        open_at_head.append(block.in_transaction())
        return head(key)

    memory.head = watched_head  # type: ignore[method-assign]
    with db.atomic() as block:
        verified = broker.verify_completion(session.id)
        block.execute(sa.insert(notes).values(session_id=session.id))
        assert seen.dispatched == []  # the job is handed off after the commit
    assert open_at_head == [False]
    assert verified.asset.state is AssetState.VALIDATING
    assert broker.get_session(session.id).state is SessionState.COMPLETED
    assert len(seen.dispatched) == 1


def test_a_rolled_back_verification_enqueues_nothing(
    broker: Broker, memory: MemoryStorage, seen: Seen
) -> None:
    db = broker.database
    session = _initiate(broker)
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, b"hello", "text/plain")

    def block() -> None:
        with db.atomic():
            broker.verify_completion(session.id)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        block()
    assert broker.get_session(session.id).state is SessionState.SIGNED
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(jobs_table)).scalar_one() == 0
    assert seen.dispatched == []
    assert broker.verify_completion(session.id).session.state is SessionState.COMPLETED


def test_a_caller_supplied_connection_is_the_blocks_transaction(broker: Broker) -> None:
    db = broker.database
    with db.engine.connect() as conn:
        with db.atomic(conn):
            session = _initiate(broker)
            conn.execute(sa.insert(notes).values(session_id=session.id))
        assert not conn.in_transaction()  # committed by the block
        conn.execute(sa.select(1))  # and the caller's connection is still usable
        with pytest.raises(InvalidArgument, match="no transaction open"), db.atomic(conn):
            pass
        conn.rollback()
    assert broker.get_session(session.id).state is SessionState.INITIALIZED
    assert _notes(db) == 1


def test_rindles_own_write_stays_whole_when_the_host_catches_its_failure(
    broker: Broker,
) -> None:
    db = broker.database

    def rindle_write() -> None:
        with db.transaction() as inner:
            inner.execute(sa.insert(notes).values(session_id="undone"))
            raise RuntimeError("rindle's write failed half-way")

    with db.atomic() as conn:
        conn.execute(sa.insert(notes).values(session_id="kept"))
        with pytest.raises(RuntimeError):
            rindle_write()
    with db.engine.connect() as check:
        assert list(check.execute(sa.select(notes.c.session_id)).scalars()) == ["kept"]


def test_atomic_blocks_do_not_nest(broker: Broker) -> None:
    inner = broker.database.atomic()
    with broker.database.atomic(), pytest.raises(InvalidArgument, match="nest"):
        inner.__enter__()


# -- a host's engine keeps its behaviour --------------------------------------------------


def test_a_hosts_sqlite_engine_keeps_its_transactions(
    tmp_path: Path, memory: MemoryStorage, pm: pluggy.PluginManager
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    notes.create(engine)
    db = Database(engine)
    db.create_all()
    broker = broker_factory(db, memory, pm)(job_mode="worker")
    counter = RoundTrips(engine)
    with counter.counting() as rindle:
        session = _initiate(broker)
    assert rindle[0] == "BEGIN IMMEDIATE"  # rindle's own transactions take the write lock
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, b"hello", "text/plain")
    assert broker.verify_completion(session.id).session.state is SessionState.COMPLETED
    with counter.counting() as host, engine.begin() as conn:
        conn.execute(sa.insert(notes).values(session_id=session.id))
    assert "BEGIN IMMEDIATE" not in host  # the host's are its driver's, as before
    with engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        assert driver.isolation_level == ""  # type: ignore[union-attr]
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
    engine.dispose()


def test_a_hosts_postgresql_engine_gets_its_connections_back_unchanged(
    postgres_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager
) -> None:
    engine = sa.create_engine(
        postgres_db.engine.url, pool_size=1, max_overflow=0, **_search_path(postgres_db)
    )
    db = Database(engine)
    broker = broker_factory(db, memory, pm)(job_mode="worker")
    session = _initiate(broker)
    broker.sign_url(session.id)  # autocommit statements on the one pooled connection
    with engine.connect() as conn:
        assert conn.get_isolation_level() == "READ COMMITTED"
        assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]
        conn.execute(sa.select(1))
        assert conn.in_transaction()
    engine.dispose()


def _search_path(db: Database) -> dict[str, Any]:
    with db.engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    return {"connect_args": {"options": f"-csearch_path={schema}"}}


# -- sqlite:// ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_works_from_threads(
    url: str, memory: MemoryStorage, pm: pluggy.PluginManager
) -> None:
    db = Database(url)
    db.create_all()
    broker = broker_factory(db, memory, pm)(job_mode="inline")
    states: list[AssetState] = []
    failures: list[BaseException] = []

    def upload(n: int) -> None:
        try:
            for i in range(5):
                session = broker.initiate_session(
                    "any", filename=f"{n}-{i}.txt", content_type="text/plain"
                )
                broker.sign_url(session.id)
                memory.client_put(session.storage_key, b"hello", "text/plain")
                states.append(broker.verify_completion(session.id).asset.state)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert states == [AssetState.AVAILABLE] * 20
    assert len(broker.list_sessions(limit=100)) == 20
    db.close()
