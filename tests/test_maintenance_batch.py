"""Set-based maintenance (issue 12, point 3) on SQLite, PostgreSQL and MariaDB.

Expiry and cleanup move whole batches with state-guarded statements, talk
to storage only for sessions that may have remote state, fire every
transition event after the commit, split the work between concurrent
passes exactly once, and read their candidates from an index.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa
from maintenance_rows import insert_sessions

from fakes import MemoryStorage
from rindle_core import (
    AssetState,
    Broker,
    Database,
    SessionState,
    UploadSession,
    hookimpl,
)
from rindle_core import _maintenance_batch as batch
from rindle_core.db import SessionRow, assets_table
from rindle_core.db._repo import session_from_row
from rindle_core.db._tables import EXPIRABLE_STATES
from rindle_core.models import MaintenanceReport

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
_sessions = SessionRow.__table__


class Recorder:
    """An observer that records every transition and what the database held then."""

    def __init__(self, database: Database | None = None) -> None:
        self.database = database
        self.sessions: list[tuple[str, str, str]] = []
        self.assets: list[tuple[str, str, str]] = []
        self.committed: list[str] = []
        self._lock = threading.Lock()

    @hookimpl
    def rindle_session_transitioned(
        self, session: UploadSession, from_state: str, to_state: str
    ) -> None:
        with self._lock:
            self.sessions.append((session.id, from_state, to_state))
        if self.database is not None and to_state == "expired":
            # A fresh connection: it sees only what was committed.
            with self.database.read() as conn:
                state = conn.execute(
                    sa.select(_sessions.c.state).where(_sessions.c.id == session.id)
                ).scalar_one()
            with self._lock:
                self.committed.append(state)

    @hookimpl
    def rindle_asset_transitioned(self, asset: Any, from_state: str, to_state: str) -> None:
        with self._lock:
            self.assets.append((asset.id, from_state, to_state))


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def broker(
    make_broker: Callable[..., Broker],
    any_db: Database,
    storage: MemoryStorage,
    pm: pluggy.PluginManager,
    recorder: Recorder,
) -> Broker:
    pm.register(recorder)
    return make_broker(database=any_db, storages={"mem": storage}, clock=lambda: T0)


def signed(broker: Broker, name: str = "a.txt") -> UploadSession:
    session = broker.initiate_session("any", filename=name, content_type="text/plain")
    broker.sign_url(session.id)
    return session


def unsigned(broker: Broker, name: str = "a.txt") -> UploadSession:
    return broker.initiate_session("any", filename=name, content_type="text/plain")


def drain(broker: Broker, now: dt.datetime, batch_size: int) -> MaintenanceReport:
    total = report = broker.expire_sessions(now=now, batch_size=batch_size)
    while report.progressed:
        report = broker.expire_sessions(now=now, batch_size=batch_size)
        total += report
    return total


def cleanup_of(database: Database, session_id: str) -> tuple[str | None, object]:
    with database.read() as conn:
        row = conn.execute(
            sa.select(_sessions.c.remote_cleanup, _sessions.c.cleanup_at).where(
                _sessions.c.id == session_id
            )
        ).one()
    return row.remote_cleanup, row.cleanup_at


def test_the_index_predicate_names_the_expirable_states() -> None:
    assert set(EXPIRABLE_STATES) == set(batch.EXPIRABLE)


def test_a_session_that_never_handed_out_a_url_never_reaches_storage(
    broker: Broker, storage: MemoryStorage, recorder: Recorder
) -> None:
    quiet = unsigned(broker, "quiet.txt")
    loud = signed(broker, "loud.txt")
    storage.client_put(loud.storage_key, b"x", "text/plain")
    storage.calls.clear()
    later = max(quiet.expires_at, loud.expires_at) + dt.timedelta(days=1)
    report = broker.expire_sessions(now=later)
    assert set(report.expired_session_ids) == {quiet.id, loud.id}
    assert (report.cleanups_finished, report.objects_deleted) == (1, 1)  # the signed one only
    assert cleanup_of(broker.database, quiet.id) == ("done", None)
    assert cleanup_of(broker.database, loud.id) == ("done", None)
    assert storage.calls == ["head", "delete"]  # one HEAD, one delete: the signed session's
    for session in (quiet, loud):
        assert broker.get_session(session.id).state is SessionState.EXPIRED
        assert broker.get_session(session.id).failure_reason == "expired"
        assert broker.get_asset(session.asset_id).state is AssetState.ABANDONED


def test_every_transition_fires_after_the_commit(
    broker: Broker, recorder: Recorder, storage: MemoryStorage
) -> None:
    recorder.database = broker.database
    sessions = [signed(broker, f"{i}.txt") for i in range(3)] + [unsigned(broker, "u.txt")]
    recorder.sessions.clear()
    recorder.assets.clear()
    broker.expire_sessions(now=T0 + dt.timedelta(days=2))
    assert sorted(recorder.sessions) == sorted(
        (s.id, "signed" if i < 3 else "initialized", "expired") for i, s in enumerate(sessions)
    )
    assert sorted(recorder.assets) == sorted((s.asset_id, "staged", "abandoned") for s in sessions)
    assert recorder.committed == ["expired"] * 4  # observers see the committed state


def test_a_backlog_larger_than_a_batch_drains_exactly_once(
    broker: Broker, recorder: Recorder, storage: MemoryStorage
) -> None:
    ours = [signed(broker, f"s{i}.txt") for i in range(60)]
    ours += [unsigned(broker, f"u{i}.txt") for i in range(40)]
    for session in ours[:25]:
        storage.client_put(session.storage_key, b"stray", "text/plain")
    recorder.sessions.clear()
    total = drain(broker, T0 + dt.timedelta(days=2), batch_size=7)
    assert sorted(total.expired_session_ids) == sorted(s.id for s in ours)
    assert total.batches == 100 // 7 + 2  # 15 batches that moved rows, one that found none
    assert (total.cleanups_finished, total.objects_deleted) == (60, 25)
    assert (total.cleanup_pending, total.failures) == (0, 0)
    assert storage.objects == {}
    assert len(recorder.sessions) == 100


def test_a_fresh_expiry_is_cleaned_now_and_swept_again_later(
    broker: Broker, storage: MemoryStorage
) -> None:
    session = signed(broker)
    report = broker.expire_sessions(now=session.expires_at)
    assert (report.final_sweeps_scheduled, report.cleanup_pending) == (1, 1)
    grace = broker.maintenance.cleanup_grace
    assert cleanup_of(broker.database, session.id) == ("pending", session.expires_at + grace)
    final = broker.expire_sessions(now=session.expires_at + grace)
    assert (final.cleanups_finished, final.cleanup_pending) == (1, 0)


def test_a_dry_run_lists_without_locking_or_moving(broker: Broker) -> None:
    sessions = [signed(broker, f"{i}.txt") for i in range(3)]
    dry = broker.expire_sessions(now=T0 + dt.timedelta(days=2), batch_size=2, dry_run=True)
    assert len(dry.expired_session_ids) == 2
    assert all(broker.get_session(s.id).state is SessionState.SIGNED for s in sessions)


# -- concurrent passes -------------------------------------------------------------------


def test_concurrent_passes_split_the_work_exactly_once(
    broker: Broker, recorder: Recorder, storage: MemoryStorage
) -> None:
    puts = [signed(broker, f"{i}.txt") for i in range(60)]
    quiet = [unsigned(broker, f"q{i}.txt") for i in range(20)]
    multiparts = [
        broker.initiate_multipart_session(
            "any", filename=f"m{i}.bin", content_type="application/octet-stream", size=20
        )
        for i in range(10)
    ]
    for session in puts[::2]:
        storage.client_put(session.storage_key, b"stray", "text/plain")
    storage.calls.clear()
    recorder.sessions.clear()
    recorder.assets.clear()
    later = T0 + dt.timedelta(days=2)
    barrier = threading.Barrier(4)

    def pass_(_: int) -> MaintenanceReport:
        barrier.wait()
        return drain(broker, later, batch_size=9)

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(pass_, range(4)))
    everyone = [s.id for s in puts + quiet] + [m.session.id for m in multiparts]
    expired = [sid for r in reports for sid in r.expired_session_ids]
    assert sorted(expired) == sorted(everyone)  # each session expired by one pass
    moved = collections.Counter(sid for sid, _, to in recorder.sessions if to == "expired")
    assert set(moved.values()) == {1} and len(moved) == len(everyone)
    assert len(recorder.assets) == len(everyone)  # each asset abandoned once
    assert sum(r.objects_deleted for r in reports) == 30
    assert sum(r.remote_aborted for r in reports) == 10
    assert sum(r.cleanups_finished for r in reports) == 70  # the 20 quiet ones had nothing
    # Each remote upload aborted, each object deleted, by one pass only.
    assert storage.calls.count("abort_multipart") == 10
    assert storage.calls.count("delete") == 30
    assert storage.objects == {} and storage.uploads == {}


@pytest.mark.postgres
def test_a_pass_skips_the_rows_another_pass_holds(postgres_db: Database) -> None:
    """SKIP LOCKED: a pass never waits for, nor takes, rows another holds.

    PostgreSQL only: SQLite serialises writers, and InnoDB locks every row a
    sort examined, so on a small MariaDB table the first pass holds them all
    (the second then skips them all: still never twice).
    """
    any_db = postgres_db
    now = T0 + dt.timedelta(days=1)
    with any_db.transaction() as conn:
        insert_sessions(conn, 6, state="signed", expires_at=T0)
    with any_db.engine.connect() as holder:
        held = holder.begin()
        taken = holder.execute(
            batch.candidates(now, 3, ())
            .with_only_columns(_sessions.c.id)
            .with_for_update(skip_locked=True)
        ).scalars()
        held_ids = set(taken)
        with any_db.transaction() as conn:
            moved = batch.expire_batch(conn, now, 10, (), now)
        held.rollback()
    assert len(held_ids) == 3
    assert {e.session.id for e in moved}.isdisjoint(held_ids)
    assert len(moved) == 3


# -- the candidate queries use their indexes (PostgreSQL) -------------------------------


def _plan(conn: sa.Connection, query: sa.Select[Any]) -> str:
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    lines = conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).scalars()
    return "\n".join(lines)


@pytest.fixture
def crowded_postgres(postgres_db: Database) -> Database:
    """20,000 finished sessions (done, cleaned) and a few due, analysed."""
    with postgres_db.transaction() as conn:
        insert_sessions(conn, 12_000, state="completed", expires_at=T0)
        insert_sessions(conn, 8_000, state="expired", expires_at=T0, remote_cleanup="done")
        insert_sessions(conn, 50, state="signed", expires_at=T0)
        insert_sessions(conn, 50, state="signed", expires_at=T0, strategy="presigned_post")
        insert_sessions(
            conn, 50, state="aborted", expires_at=T0, remote_cleanup="pending", cleanup_at=T0
        )
    with postgres_db.engine.connect() as conn:
        conn.execute(sa.text("ANALYZE rindle_upload_sessions"))
        conn.execute(sa.text("ANALYZE rindle_assets"))
        conn.commit()
    return postgres_db


@pytest.mark.postgres
def test_the_candidate_queries_read_their_indexes(crowded_postgres: Database) -> None:
    now = T0 + dt.timedelta(days=1)
    posts = (
        sa.select(_sessions.c.id)
        .where(
            _sessions.c.upload_strategy == "presigned_post",
            _sessions.c.state == "signed",
            _sessions.c.expires_at <= now,
        )
        .order_by(_sessions.c.expires_at)
        .limit(100)
    )
    with crowded_postgres.read() as conn:
        plans = {
            "ix_rindle_upload_sessions_expiry_due": _plan(conn, batch.candidates(now, 100, ())),
            "ix_rindle_upload_sessions_cleanup_due": _plan(conn, batch.due_cleanups(now, 100)),
            "ix_rindle_upload_sessions_posts_due": _plan(conn, posts),
        }
    for index, plan in plans.items():
        assert index in plan, plan
        assert "Seq Scan" not in plan, plan


# -- nobody listening: no snapshot, the same log records --------------------------------


@pytest.fixture
def quiet_broker(
    make_broker: Callable[..., Broker], any_db: Database, storage: MemoryStorage
) -> Broker:
    """A broker no observer listens to (PostgreSQL then moves a batch in one statement)."""
    return make_broker(database=any_db, storages={"mem": storage}, clock=lambda: T0)


def _transition_records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, Any]]]:
    return [
        (r.__dict__["rindle_event"], r.__dict__["rindle_fields"])
        for r in caplog.records
        if getattr(r, "rindle_event", None)
        in ("rindle.session.transition", "rindle.asset.transition")
    ]


def _expected_records(
    sessions: list[UploadSession], from_states: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    expected: list[tuple[str, dict[str, Any]]] = []
    for session, from_state in zip(sessions, from_states, strict=True):
        expected.append(
            (
                "rindle.session.transition",
                {
                    "session_id": session.id,
                    "asset_id": session.asset_id,
                    "profile": session.profile,
                    "strategy": session.upload_strategy,
                    "from_state": from_state,
                    "to_state": "expired",
                },
            )
        )
        expected.append(
            (
                "rindle.asset.transition",
                {
                    "asset_id": session.asset_id,
                    "profile": session.profile,
                    "from_state": "staged",
                    "to_state": "abandoned",
                },
            )
        )
    return expected


def _key(record: tuple[str, dict[str, Any]]) -> str:
    return repr(sorted(record[1].items())) + record[0]


@pytest.mark.parametrize("observed", [True, False], ids=["observed", "unobserved"])
def test_observed_or_not_a_pass_logs_every_transition_alike(
    quiet_broker: Broker,
    pm: pluggy.PluginManager,
    storage: MemoryStorage,
    caplog: pytest.LogCaptureFixture,
    observed: bool,
) -> None:
    recorder = Recorder()
    if observed:
        pm.register(recorder)
    sessions = [signed(quiet_broker, f"s{i}.txt") for i in range(3)]
    sessions += [unsigned(quiet_broker, f"u{i}.txt") for i in range(2)]
    storage.client_put(sessions[0].storage_key, b"stray", "text/plain")
    recorder.sessions.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rindle"):
        report = quiet_broker.expire_sessions(now=T0 + dt.timedelta(days=2))
    expected = _expected_records(sessions, ["signed"] * 3 + ["initialized"] * 2)
    assert sorted(_transition_records(caplog), key=_key) == sorted(expected, key=_key)
    assert sorted(report.expired_session_ids) == sorted(s.id for s in sessions)
    assert (report.cleanups_finished, report.objects_deleted) == (3, 1)
    assert len(recorder.sessions) == (5 if observed else 0)
    for session in sessions:
        assert quiet_broker.get_session(session.id).state is SessionState.EXPIRED
        assert quiet_broker.get_asset(session.asset_id).state is AssetState.ABANDONED


def test_with_nothing_listening_only_the_sessions_to_clean_are_loaded(
    quiet_broker: Broker, storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No observer, no log: a never-signed session is moved and never parsed
    (PostgreSQL); the signed ones are loaded for their cleanup only."""
    loud = [signed(quiet_broker, f"s{i}.txt") for i in range(2)]
    quiet = [unsigned(quiet_broker, f"u{i}.txt") for i in range(4)]
    loaded: list[str] = []
    real = session_from_row

    def counting(row: Any) -> UploadSession:
        loaded.append(row.id)
        return real(row)

    monkeypatch.setattr("rindle_core._maintenance_batch.session_from_row", counting)
    logging.getLogger("rindle").setLevel(logging.WARNING)
    try:
        report = quiet_broker.expire_sessions(now=T0 + dt.timedelta(days=2))
    finally:
        logging.getLogger("rindle").setLevel(logging.NOTSET)
    assert sorted(report.expired_session_ids) == sorted(s.id for s in loud + quiet)
    assert report.cleanups_finished == 2
    if quiet_broker.database.dialect == "postgresql":
        assert sorted(loaded) == sorted(s.id for s in loud)
    else:  # the portable path builds every snapshot
        assert set(loaded) >= {s.id for s in loud + quiet}
    for session in quiet:
        assert quiet_broker.get_asset(session.asset_id).state is AssetState.ABANDONED


def test_hook_call_monitoring_alone_still_sees_every_transition(
    quiet_broker: Broker, pm: pluggy.PluginManager
) -> None:
    """With no observer registered, monitoring still gets the hook calls
    (snapshots are built whenever a call would reach anyone)."""
    sessions = [signed(quiet_broker, f"s{i}.txt") for i in range(2)] + [unsigned(quiet_broker)]
    seen: list[str] = []

    def before(name: str, impls: Any, kwargs: Any) -> None:
        if name == "rindle_session_transitioned" and kwargs["to_state"] == "expired":
            seen.append(kwargs["session"].id)
        elif name == "rindle_asset_transitioned" and kwargs["to_state"] == "abandoned":
            seen.append(kwargs["asset"].id)

    undo = pm.add_hookcall_monitoring(before, lambda *_: None)
    try:
        quiet_broker.expire_sessions(now=T0 + dt.timedelta(days=2))
    finally:
        undo()
    assert sorted(seen) == sorted([s.id for s in sessions] + [s.asset_id for s in sessions])


def test_unobserved_concurrent_passes_split_the_work_exactly_once(
    quiet_broker: Broker, storage: MemoryStorage, caplog: pytest.LogCaptureFixture
) -> None:
    puts = [signed(quiet_broker, f"{i}.txt") for i in range(40)]
    quiet = [unsigned(quiet_broker, f"q{i}.txt") for i in range(40)]
    for session in puts[::2]:
        storage.client_put(session.storage_key, b"stray", "text/plain")
    storage.calls.clear()
    caplog.clear()
    later = T0 + dt.timedelta(days=2)
    barrier = threading.Barrier(4)

    def pass_(_: int) -> MaintenanceReport:
        barrier.wait()
        return drain(quiet_broker, later, batch_size=9)

    with caplog.at_level(logging.INFO, logger="rindle"), ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(pass_, range(4)))
    everyone = sorted(s.id for s in puts + quiet)
    assert sorted(sid for r in reports for sid in r.expired_session_ids) == everyone
    records = _transition_records(caplog)
    expired = [f["session_id"] for e, f in records if e == "rindle.session.transition"]
    abandoned = [f["asset_id"] for e, f in records if e == "rindle.asset.transition"]
    assert sorted(expired) == everyone  # one record per session: moved once
    assert sorted(abandoned) == sorted(s.asset_id for s in puts + quiet)
    assert sum(r.cleanups_finished for r in reports) == 40
    assert storage.calls.count("head") == 40  # the quiet ones never reach storage
    assert storage.calls.count("delete") == 20
    assert storage.objects == {}


@pytest.mark.postgres
def test_the_batch_statements_reach_rows_through_their_indexes(
    crowded_postgres: Database,
) -> None:
    """The one-statement expiry and the id-list guards (``among``) probe the
    primary keys: no sequential scan of the sessions or the assets, which
    here outnumber the sessions as they do once sessions are pruned."""
    now = T0 + dt.timedelta(days=1)
    assets = assets_table
    with crowded_postgres.transaction() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO rindle_assets (id, profile, state, storage, storage_key, filename,"
                " metadata, client_metadata, created_at, updated_at)"
                " SELECT md5(i::text), 'any', 'available', 'mem', 'old/' || i, 'f', '{}', '{}',"
                " :t, :t FROM generate_series(1, 100000) AS i"
            ),
            {"t": T0},
        )
    with crowded_postgres.engine.connect() as conn:
        conn.execute(sa.text("ANALYZE rindle_assets"))
        conn.commit()
    with crowded_postgres.read() as conn:
        ids = list(conn.execute(sa.select(assets.c.id).limit(1000)).scalars())
        by_ids = sa.select(assets.c.id).where(
            batch.among(conn, assets.c.id, ids), assets.c.state == "staged"
        )
        plans = [
            _plan(conn, batch.expire_moved_statement(conn, now, 1000, (), now)),
            _plan(conn, by_ids),
        ]
    assert "ix_rindle_upload_sessions_expiry_due" in plans[0], plans[0]
    for plan in plans:
        assert "pk_rindle_assets" in plan, plan
        assert "Seq Scan" not in plan, plan
