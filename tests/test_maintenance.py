"""Maintenance on SQLite and PostgreSQL with the in-memory adapter.

Issue 9, "What was seen" 4 and 6: no orphan after abort or expiry (a final
sweep once every issued URL has expired), failing rows back off instead of
blocking the pass, one bad row never stops it, and the report counts effects.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from fakes import MemoryStorage
from rindle_core import (
    AssetState,
    Broker,
    Database,
    InvalidArgument,
    SessionState,
    StorageUnavailable,
    UploadSession,
)
from rindle_core import _maintenance_batch as maintenance_batch
from rindle_core._maintenance import Maintenance
from rindle_core.db import SessionRow
from rindle_core.models import MaintenanceReport

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
GRACE = dt.timedelta(seconds=Maintenance.DEFAULT_CLEANUP_GRACE)
_sessions = SessionRow.__table__


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


class BrokenStorage(MemoryStorage):
    """A memory adapter on which some keys always fail (every call, every time)."""

    def __init__(self) -> None:
        super().__init__()
        #: key -> the exception every head/delete of that key raises
        self.broken: dict[str, BaseException] = {}

    def _check(self, key: str) -> None:
        error = self.broken.get(key)
        if error is not None:
            raise error

    def head(self, key: str) -> Any:
        self._check(key)
        return super().head(key)

    def delete(self, key: str) -> None:
        self._check(key)
        super().delete(key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage() -> BrokenStorage:
    return BrokenStorage()


@pytest.fixture
def broker(
    make_broker: Callable[..., Broker], any_db: Database, storage: BrokenStorage, clock: Clock
) -> Broker:
    return make_broker(database=any_db, storages={"mem": storage}, clock=clock)


def put_session(broker: Broker, name: str = "a.txt", expires_in: int = 3600) -> UploadSession:
    """A signed single-PUT session (its URL is what a client holds)."""
    session = broker.initiate_session(
        "any", filename=name, content_type="text/plain", expires_in=expires_in
    )
    broker.sign_url(session.id)
    return session


def cleanup_row(broker: Broker, session_id: str) -> dict[str, Any]:
    with broker.database.read() as conn:
        row = conn.execute(
            sa.select(
                _sessions.c.remote_cleanup, _sessions.c.cleanup_at, _sessions.c.cleanup_attempts
            ).where(_sessions.c.id == session_id)
        ).one()
    return dict(row._mapping)


# -- (a) no orphan after abort or expiry -----------------------------------------------


def test_a_put_after_abort_is_removed_by_the_final_sweep(
    broker: Broker, storage: BrokenStorage, clock: Clock
) -> None:
    session = put_session(broker)
    aborted = broker.abort_session(session.id)
    assert aborted.state is SessionState.ABORTED
    # The URL signed before the abort is still valid: a client PUTs through it.
    storage.client_put(session.storage_key, b"late", "text/plain")

    clock.advance(minutes=30)  # the URL has not expired yet: nothing to do
    early = broker.expire_sessions()
    assert (early.objects_deleted, early.cleanup_failures) == (0, 0)
    assert session.storage_key in storage.objects
    assert cleanup_row(broker, session.id)["remote_cleanup"] == "pending"

    final = broker.expire_sessions(now=session.expires_at + GRACE)
    assert final.objects_deleted == 1
    assert final.cleanups_finished == 1
    assert session.storage_key not in storage.objects
    assert cleanup_row(broker, session.id) == {
        "remote_cleanup": "done",
        "cleanup_at": None,
        "cleanup_attempts": 0,
    }
    assert broker.expire_sessions(now=session.expires_at + 10 * GRACE).cleanups_finished == 0


def test_the_final_sweep_is_due_once_every_url_has_expired(
    broker: Broker, storage: BrokenStorage
) -> None:
    session = put_session(broker)
    broker.abort_session(session.id)
    assert cleanup_row(broker, session.id)["cleanup_at"] == session.expires_at + GRACE
    before = broker.expire_sessions(now=session.expires_at + GRACE - dt.timedelta(seconds=1))
    assert before.cleanups_finished == 0
    assert cleanup_row(broker, session.id)["remote_cleanup"] == "pending"


def test_a_recently_expired_session_is_swept_now_and_again_after_the_grace(
    broker: Broker, storage: BrokenStorage
) -> None:
    session = put_session(broker)
    storage.client_put(session.storage_key, b"first", "text/plain")  # uploaded, never verified
    first = broker.expire_sessions(now=session.expires_at + dt.timedelta(seconds=1))
    assert first.expired_session_ids == (session.id,)
    assert (first.objects_deleted, first.final_sweeps_scheduled) == (1, 1)
    # A URL signed in the last second (or a storage clock running behind)
    # still lands an object after the deadline: the final sweep removes it.
    storage.client_put(session.storage_key, b"second", "text/plain")
    final = broker.expire_sessions(now=session.expires_at + GRACE)
    assert (final.objects_deleted, final.cleanups_finished) == (1, 1)
    assert storage.objects == {}


def test_a_session_expired_longer_ago_than_the_grace_is_finished_in_one_pass(
    broker: Broker, storage: BrokenStorage
) -> None:
    session = put_session(broker)
    report = broker.expire_sessions(now=session.expires_at + GRACE)
    assert report.expired_session_ids == (session.id,)
    assert (report.cleanups_finished, report.final_sweeps_scheduled) == (1, 0)
    assert cleanup_row(broker, session.id)["remote_cleanup"] == "done"


def test_the_final_sweep_aborts_a_multipart_upload_again(
    broker: Broker, storage: BrokenStorage
) -> None:
    started = broker.initiate_multipart_session(
        "any", filename="big.bin", content_type="application/octet-stream", size=25, part_size=10
    )
    upload_id = started.multipart.upload_id
    storage.client_put_part(upload_id, 1, b"x" * 10)
    broker.abort_session(started.session.id)
    assert upload_id not in storage.uploads
    # A backend whose part URLs can recreate state (Azure blocks on a blob
    # that does not exist) is aborted once more by the final sweep.
    storage.uploads[upload_id] = {2: b"y" * 10}
    final = broker.expire_sessions(now=started.session.expires_at + GRACE)
    assert (final.remote_aborted, final.cleanups_finished) == (1, 1)
    assert upload_id not in storage.uploads


def test_a_cancelled_resumable_session_forgets_its_uri_at_once(
    broker: Broker, storage: BrokenStorage, clock: Clock
) -> None:
    clock.now = dt.datetime.now(dt.UTC)  # the fake's session URIs live 7 days of real time
    started = broker.initiate_resumable_session("any", filename="v", content_type="text/plain")
    uri = started.resumable.session_uri
    storage.resumable[uri] += b"abc"
    aborted = broker.abort_session(started.session.id)
    assert uri not in storage.resumable
    assert aborted.session_uri is None  # the bearer secret is dead and forgotten
    assert cleanup_row(broker, started.session.id)["remote_cleanup"] == "pending"


# -- (b) failing rows back off; they never block the others ----------------------------


def test_failing_rows_back_off_and_never_block_later_rows(
    broker: Broker, storage: BrokenStorage, clock: Clock
) -> None:
    bad = [put_session(broker, f"bad{i}.txt") for i in range(2)]
    for session in bad:
        storage.broken[session.storage_key] = StorageUnavailable("no route")
        broker.abort_session(session.id)  # first attempt fails at once
    assert {cleanup_row(broker, s.id)["cleanup_attempts"] for s in bad} == {1}
    clock.advance(minutes=1)
    good = [put_session(broker, f"good{i}.txt", expires_in=60) for i in range(3)]
    for session in good:
        storage.client_put(session.storage_key, b"stray", "text/plain")

    later = good[0].expires_at + GRACE
    reports = [broker.expire_sessions(now=later, batch_size=2) for _ in range(3)]
    assert sum(r.objects_deleted for r in reports) == 3
    assert all(s.storage_key not in storage.objects for s in good)
    assert sum(r.cleanup_failures for r in reports) == 2  # each bad row tried once
    for session in good:
        assert cleanup_row(broker, session.id)["remote_cleanup"] == "done"


def test_backoff_grows_with_each_failure_up_to_a_cap(
    make_broker: Callable[..., Broker], any_db: Database, storage: BrokenStorage, clock: Clock
) -> None:
    broker = make_broker(database=any_db, storages={"mem": storage}, clock=clock)
    maintenance = broker.maintenance
    session = put_session(broker, expires_in=2 * 86400)  # outlives the retries
    storage.broken[session.storage_key] = StorageUnavailable("down")
    broker.abort_session(session.id)
    seen = []
    for _ in range(12):
        row = cleanup_row(broker, session.id)
        seen.append(row["cleanup_at"] - clock.now)
        clock.now = row["cleanup_at"]
        assert broker.expire_sessions().cleanup_failures == 1
    assert seen[:3] == [maintenance.backoff(1), maintenance.backoff(2), maintenance.backoff(3)]
    assert seen[1] == 2 * seen[0]
    assert max(seen) == maintenance.backoff_max == seen[-1]
    assert cleanup_row(broker, session.id)["cleanup_attempts"] == 13

    del storage.broken[session.storage_key]
    clock.now = cleanup_row(broker, session.id)["cleanup_at"]
    broker.expire_sessions()
    row = cleanup_row(broker, session.id)
    # Success resets the count; the final sweep is still owed.
    assert (row["remote_cleanup"], row["cleanup_attempts"]) == ("pending", 0)
    assert row["cleanup_at"] == session.expires_at + GRACE


def test_rows_due_are_taken_oldest_due_first(
    broker: Broker, storage: BrokenStorage, clock: Clock
) -> None:
    sessions = [put_session(broker, f"{i}.txt") for i in range(3)]
    for session in reversed(sessions):  # the last one fails first: it is due first
        storage.broken[session.storage_key] = StorageUnavailable("down")
        broker.abort_session(session.id)
        clock.advance(minutes=1)
    storage.broken.clear()
    report = broker.expire_sessions(batch_size=1)
    assert report.final_sweeps_scheduled == 1
    attempts = [cleanup_row(broker, s.id)["cleanup_attempts"] for s in sessions]
    assert attempts == [1, 1, 0]


# -- (c) one bad row never stops the pass ------------------------------------------------


def test_an_unexpected_exception_in_one_row_does_not_stop_the_pass(
    broker: Broker,
    storage: BrokenStorage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    weird, fine = put_session(broker, "weird.txt"), put_session(broker, "fine.txt")
    storage.client_put(fine.storage_key, b"x", "text/plain")
    storage.broken[weird.storage_key] = ValueError("https://secret.example/?sig=abc")
    with caplog.at_level(logging.INFO, logger="rindle"):
        report = broker.expire_sessions(now=weird.expires_at + GRACE)
    logs = _events(caplog)
    assert set(report.expired_session_ids) == {weird.id, fine.id}
    assert (report.cleanup_failures, report.objects_deleted, report.cleanups_finished) == (1, 1, 1)
    failed = [e for e in logs if e["event"] == "rindle.maintenance.cleanup_failed"]
    assert failed == [
        {
            "event": "rindle.maintenance.cleanup_failed",
            "log_level": "info",
            "session_id": weird.id,
            "error": "ValueError",
            "attempts": 1,
        }
    ]
    assert "sig=abc" not in repr(logs) + caplog.text
    assert cleanup_row(broker, weird.id)["cleanup_attempts"] == 1


def test_a_crash_mid_cleanup_leaves_the_row_to_a_later_pass(
    broker: Broker, storage: BrokenStorage, clock: Clock
) -> None:
    session = put_session(broker)
    storage.client_put(session.storage_key, b"x", "text/plain")
    storage.broken[session.storage_key] = KeyboardInterrupt()
    later = session.expires_at + GRACE
    with pytest.raises(KeyboardInterrupt):
        broker.expire_sessions(now=later)
    # The row was claimed before the storage call: the next pass skips it …
    assert broker.expire_sessions(now=later).cleanups_finished == 0
    del storage.broken[session.storage_key]
    # … until the claim's lease runs out.
    due = broker.expire_sessions(now=later + broker.maintenance.claim_lease)
    assert (due.cleanups_finished, due.objects_deleted) == (1, 1)


def test_an_expiry_that_raises_is_counted_and_the_pass_goes_on(
    broker: Broker, storage: BrokenStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = put_session(broker, "1.txt"), put_session(broker, "2.txt")
    original = broker.maintenance.settle

    def batch_fails(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the set-based batch failed (a lock timeout, say)")

    # The batch fails as a whole: its sessions are expired one by one instead.
    monkeypatch.setattr(maintenance_batch, "expire_batch", batch_fails)
    monkeypatch.setattr(maintenance_batch, "expire_moved", batch_fails)  # PostgreSQL, unobserved

    def settle(session: UploadSession, target: SessionState, **kw: Any) -> Any:
        if session.id == one.id:
            raise RuntimeError("boom")
        return original(session, target, **kw)

    monkeypatch.setattr(broker.maintenance, "settle", settle)
    report = broker.expire_sessions(now=one.expires_at + GRACE)
    assert report.expired_session_ids == (two.id,)
    assert report.expiry_failures == 1
    assert report.cleanups_finished == 1  # the one expired is cleaned in the same pass


# -- (d) the report counts effects ----------------------------------------------------------


def test_the_report_counts_effects_not_calls(broker: Broker, storage: BrokenStorage) -> None:
    empty = put_session(broker, "empty.txt")
    stray = put_session(broker, "stray.txt")
    storage.client_put(stray.storage_key, b"x", "text/plain")
    multi = broker.initiate_multipart_session(
        "any", filename="m.bin", content_type="application/octet-stream", size=25, part_size=10
    )
    gone = broker.initiate_multipart_session(
        "any", filename="g.bin", content_type="application/octet-stream", size=25, part_size=10
    )
    del storage.uploads[gone.multipart.upload_id]  # already gone (a lifecycle rule, say)
    resumable = broker.initiate_resumable_session("any", filename="r", content_type="text/plain")
    later = max(s.expires_at for s in (empty, stray, multi.session)) + GRACE
    report = broker.expire_sessions(now=later + dt.timedelta(days=8))
    assert len(report.expired_session_ids) == 5
    assert report.objects_deleted == 1
    assert report.remote_aborted == 2  # the open multipart upload and resumable session
    assert (report.cleanups_finished, report.cleanup_failures) == (5, 0)
    assert resumable.resumable.session_uri not in storage.resumable
    again = broker.expire_sessions(now=later + dt.timedelta(days=9))
    assert again == MaintenanceReport(dry_run=False)  # nothing left, nothing counted


def test_an_abort_of_an_upload_found_gone_counts_nothing(
    broker: Broker, storage: BrokenStorage
) -> None:
    started = broker.initiate_multipart_session(
        "any", filename="m.bin", content_type="application/octet-stream", size=25, part_size=10
    )
    broker.abort_session(started.session.id)
    final = broker.expire_sessions(now=started.session.expires_at + GRACE)
    assert (final.remote_aborted, final.objects_deleted, final.cleanups_finished) == (0, 0, 1)


def test_dry_run_changes_nothing_and_reports_the_backlog(
    broker: Broker, storage: BrokenStorage
) -> None:
    aborted, old = put_session(broker, "a.txt"), put_session(broker, "o.txt")
    broker.abort_session(aborted.id)
    later = old.expires_at + GRACE
    dry = broker.expire_sessions(now=later, dry_run=True)
    assert dry.dry_run is True
    assert dry.expired_session_ids == (old.id,)
    assert dry.cleanup_due == 1
    assert broker.get_session(old.id).state is SessionState.SIGNED
    assert cleanup_row(broker, aborted.id)["remote_cleanup"] == "pending"


def test_every_pass_reports_the_backlog_left(broker: Broker, storage: BrokenStorage) -> None:
    sessions = [put_session(broker, f"{i}.txt") for i in range(3)]
    for session in sessions:
        broker.abort_session(session.id)
    report = broker.expire_sessions()
    assert report.cleanup_pending == 3  # waiting for their final sweep
    assert broker.expire_sessions(now=sessions[0].expires_at + GRACE).cleanup_pending == 0


def test_settle_marks_the_row_due_now(broker: Broker, clock: Clock) -> None:
    session = broker.get_session(put_session(broker).id)
    moved = broker.maintenance.settle(session, SessionState.ABORTED, reason="aborted")
    assert moved is not None
    assert cleanup_row(broker, session.id) == {
        "remote_cleanup": "pending",
        "cleanup_at": clock.now,
        "cleanup_attempts": 0,
    }
    assert broker.get_asset(session.asset_id).state is AssetState.ABANDONED


def test_reports_add_up() -> None:
    a = MaintenanceReport(
        dry_run=False, expired_session_ids=("x",), objects_deleted=1, cleanup_pending=5
    )
    b = MaintenanceReport(dry_run=False, expired_session_ids=("y",), cleanup_failures=2)
    total = a + b
    assert total.expired_session_ids == ("x", "y")
    assert (total.objects_deleted, total.cleanup_failures, total.batches) == (1, 2, 2)
    assert total.cleanup_pending == 0  # a snapshot: the later pass's
    assert total.failures == 2
    assert total.progressed and a.progressed
    assert not MaintenanceReport(dry_run=False, cleanup_pending=3, expiry_failures=1).progressed


def test_backoff_never_overflows(broker: Broker) -> None:
    week = 7 * 24 * 3600
    slow = Maintenance(
        broker.database,
        storage_for=lambda name: broker.storages["mem"],
        telemetry=broker.maintenance._telemetry,
        clock=lambda: T0,
        backoff_base=week,
        backoff_max=week,
    )
    assert slow.backoff(10**9) == dt.timedelta(seconds=week)
    assert broker.maintenance.backoff(0) == broker.maintenance.backoff_base


@pytest.mark.parametrize(
    "options",
    [
        {"cleanup_grace": -1},
        {"cleanup_grace": True},
        {"cleanup_grace": "300"},
        {"backoff_base": 0},
        {"backoff_max": 10, "backoff_base": 20},
        {"claim_lease": 0},
        {"cleanup_grace": float("nan")},
        {"cleanup_grace": 10**20},
    ],
)
def test_maintenance_settings_are_checked(broker: Broker, options: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        Maintenance(
            broker.database,
            storage_for=lambda name: broker.storages["mem"],
            telemetry=broker.maintenance._telemetry,
            clock=lambda: T0,
            **options,
        )


# -- concurrency (PostgreSQL) --------------------------------------------------------------


@pytest.fixture
def pg_broker(
    make_broker: Callable[..., Broker], postgres_db: Database, storage: BrokenStorage
) -> Broker:
    return make_broker(database=postgres_db, storages={"mem": storage})


def test_concurrent_passes_expire_and_clean_each_session_once(
    pg_broker: Broker, storage: BrokenStorage
) -> None:
    sessions = [put_session(pg_broker, f"{i}.txt", expires_in=1) for i in range(30)]
    for session in sessions:
        storage.client_put(session.storage_key, b"x", "text/plain")
    later = max(s.expires_at for s in sessions) + GRACE
    barrier = threading.Barrier(4)

    def expire(_: int) -> Any:
        barrier.wait()
        return pg_broker.expire_sessions(now=later, batch_size=100)

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(expire, range(4)))
    expired = [sid for r in reports for sid in r.expired_session_ids]
    assert sorted(expired) == sorted(s.id for s in sessions)  # each once
    assert sum(r.objects_deleted for r in reports) == 30  # each object counted once
    assert sum(r.cleanups_finished for r in reports) == 30
    assert storage.objects == {}
    assert storage.calls.count("delete") == 30


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """rindle's log records as ``{"event", "log_level", **fields}`` dicts."""
    return [
        {"event": r.rindle_event, "log_level": r.levelname.lower(), **r.rindle_fields}
        for r in caplog.records
        if hasattr(r, "rindle_event")
    ]
