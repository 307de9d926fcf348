"""Round-trip budgets of a presigned-PUT lifecycle, counted with engine events.

Not timings: the number of statements (BEGIN, COMMIT and ROLLBACK included,
where the driver sends them) each broker call makes, per dialect, so that a
regression — a re-read after a write, a BEGIN/ROLLBACK around a one-statement
read, a write when nothing changes — fails here (ADR 0112, ADR 0113).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pluggy
import pytest
import sqlalchemy as sa
from round_trip_counter import RoundTrips

from fakes import MemoryStorage, broker_factory
from rindle_core import Broker, Database, InvalidArgument, SessionState, hookimpl
from rindle_core.db import sessions_table

#: Statements per call, per dialect family. PostgreSQL writes what spans
#: tables as one statement of data-modifying CTEs; SQLite has RETURNING but
#: no DML in CTEs, so it opens transactions; MySQL/MariaDB also lack
#: ``UPDATE … RETURNING`` and read a moved row back.
BUDGETS = {
    "postgresql": {"initiate": 1, "sign": 1, "re-sign": 1, "verify": 2, "lifecycle": 4},
    "sqlite": {"initiate": 4, "sign": 1, "re-sign": 2, "verify": 7, "lifecycle": 12},
    "mysql": {"initiate": 4, "sign": 2, "re-sign": 2, "verify": 9, "lifecycle": 15},
}


def _family(db: Database) -> str:
    return "mysql" if db.dialect in ("mysql", "mariadb") else db.dialect


@pytest.fixture
def make_broker(
    any_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager
) -> Callable[..., Broker]:
    return broker_factory(any_db, memory, pm)


@pytest.fixture
def broker(make_broker: Callable[..., Broker]) -> Broker:
    built = make_broker(job_mode="worker")
    # Warm up: the first connection runs the dialect's own setup queries.
    built.get_session(built.initiate_session("any", filename="w.txt", content_type="text/plain").id)
    return built


def _lifecycle(broker: Broker, memory: MemoryStorage, counter: RoundTrips) -> dict[str, list[str]]:
    sent: dict[str, list[str]] = {}
    with counter.counting() as sent["initiate"]:
        session = broker.initiate_session(
            "any", filename="report.txt", content_type="text/plain", size=5
        )
    with counter.counting() as sent["sign"]:
        signed = broker.sign_url(session.id)
    with counter.counting() as sent["re-sign"]:
        again = broker.sign_url(session.id)
    memory.client_put(session.storage_key, b"hello", "text/plain")
    with counter.counting() as sent["verify"]:
        verified = broker.verify_completion(session.id)
    assert signed.session.state is SessionState.SIGNED
    assert again.session.state is SessionState.SIGNED
    assert verified.session.state is SessionState.COMPLETED
    assert [job.payload["asset_id"] for job in broker.jobs.list()][-1] == session.asset_id
    return sent


def test_each_call_stays_within_its_round_trip_budget(
    broker: Broker, memory: MemoryStorage
) -> None:
    db = broker.database
    sent = _lifecycle(broker, memory, RoundTrips(db.engine))
    budget = BUDGETS[_family(db)]
    for call, statements in sent.items():
        assert len(statements) <= budget[call], (call, statements)
    whole = sent["initiate"] + sent["sign"] + sent["verify"]
    assert len(whole) <= budget["lifecycle"], whole
    if _family(db) == "postgresql":
        assert len(whole) <= 6  # the ceiling for a whole put lifecycle
    # No read is wrapped in BEGIN/ROLLBACK, and nothing is rolled back.
    assert "ROLLBACK" not in whole + sent["re-sign"]


def test_initiate_and_verify_are_one_transaction_each(
    broker: Broker, memory: MemoryStorage
) -> None:
    db = broker.database
    sent = _lifecycle(broker, memory, RoundTrips(db.engine))
    begins = ("BEGIN", "BEGIN IMMEDIATE")
    if _family(db) == "postgresql":
        # One statement each: atomic without BEGIN/COMMIT.
        assert [s.split()[0] for s in sent["initiate"]] == ["WITH"]
        assert [s.split()[0] for s in sent["verify"]] == ["SELECT", "WITH"]
        return
    for call in ("initiate", "verify"):
        statements = sent[call]
        assert sum(s in begins for s in statements) == 1, (call, statements)
        assert statements.count("COMMIT") == 1, (call, statements)
        assert statements[-1] == "COMMIT"
    verify = sent["verify"]
    inside = verify[next(i for i, s in enumerate(verify) if s in begins) :]
    assert any(s.startswith("INSERT INTO RINDLE_JOBS") for s in inside), verify


def test_a_read_is_one_statement(broker: Broker) -> None:
    session = broker.initiate_session("any", filename="a.txt", content_type="text/plain")
    counter = RoundTrips(broker.database.engine)
    with counter.counting() as sent:
        broker.get_session(session.id)
    assert len(sent) == 1 and sent[0].startswith("SELECT"), sent


def _row_version(db: Database, session_id: str) -> tuple[object, ...]:
    """What a write would change: updated_at, and PostgreSQL's row version (xmin)."""
    version = sa.literal_column("xmin::text" if db.dialect == "postgresql" else "NULL")
    query = sa.select(sessions_table.c.updated_at, sessions_table.c.state, version).where(
        sessions_table.c.id == session_id
    )
    with db.engine.connect() as conn:
        return tuple(conn.execute(query).one())


def test_signing_a_signed_session_again_writes_nothing(broker: Broker) -> None:
    session = broker.initiate_session("any", filename="a.txt", content_type="text/plain")
    broker.sign_url(session.id)
    before = _row_version(broker.database, session.id)
    counter = RoundTrips(broker.database.engine)
    with counter.counting() as sent:
        again = broker.sign_url(session.id)
    assert again.session.state is SessionState.SIGNED
    assert _row_version(broker.database, session.id) == before
    assert not any(s.startswith("BEGIN") or s == "COMMIT" for s in sent), sent


def test_concurrent_first_signatures_move_the_session_once(
    make_broker: Callable[..., Broker], pm: pluggy.PluginManager
) -> None:
    moves: list[tuple[str, str]] = []

    class Recorder:
        @hookimpl
        def rindle_session_transitioned(
            self, session: object, from_state: str, to_state: str
        ) -> None:
            moves.append((from_state, to_state))

    pm.register(Recorder())
    broker = make_broker(job_mode="worker")
    session = broker.initiate_session("any", filename="a.txt", content_type="text/plain")
    states: list[SessionState] = []
    barrier = threading.Barrier(6)

    def sign() -> None:
        barrier.wait()
        states.append(broker.sign_url(session.id).session.state)

    threads = [threading.Thread(target=sign) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert states == [SessionState.SIGNED] * 6
    assert moves.count(("initialized", "signed")) == 1
    assert broker.get_session(session.id).state is SessionState.SIGNED


def test_a_bad_expiry_is_refused_before_anything_is_written(broker: Broker) -> None:
    session = broker.initiate_session("any", filename="a.txt", content_type="text/plain")
    with pytest.raises(InvalidArgument):
        broker.sign_url(session.id, expires_in=0)
    assert broker.get_session(session.id).state is SessionState.INITIALIZED


def test_a_multipart_first_signature_is_one_read_and_one_compare_and_set(
    broker: Broker, any_db: Database
) -> None:
    opened = broker.initiate_multipart_session(
        "any", filename="big.bin", content_type="application/octet-stream", size=10
    )
    counter = RoundTrips(broker.database.engine)
    with counter.counting() as first:
        signed = broker.sign_multipart_parts(opened.session.id, [1])
    with counter.counting() as again:
        broker.sign_multipart_parts(opened.session.id, [1])
    assert signed.session.state is SessionState.SIGNED
    budget = {"postgresql": 2, "sqlite": 2, "mysql": 3}[_family(any_db)]
    assert len(first) == budget, first
    assert len(again) == 1, again  # signed already: one read, nothing written
    if _family(any_db) == "postgresql":
        assert not any(s.startswith("BEGIN") or s == "COMMIT" for s in first), first
