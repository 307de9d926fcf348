"""Broker behaviour with the in-memory adapter (fault injection), on SQLite and PostgreSQL.

This module's ``make_broker`` (and through it conftest's ``broker``) is built
on conftest's parametrised ``any_db``: every test here runs once per database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa

from fakes import PNG, MemoryStorage, broker_factory
from rindle_core import (
    AssetState,
    Broker,
    Capability,
    ConfigurationError,
    Database,
    DatabaseError,
    InvalidArgument,
    InvalidParts,
    InvalidTransition,
    PolicyViolation,
    Profile,
    SessionExpired,
    SessionNotFound,
    SessionState,
    StorageObjectMissing,
    StorageUnavailable,
    UnknownProfile,
    UploadedPart,
    UploadUnsupported,
    hookimpl,
)
from rindle_core.db import AssetRow, JobRow, SessionRow


@pytest.fixture
def make_broker(
    any_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager
) -> Callable[..., Broker]:
    """Brokers on SQLite and on PostgreSQL: every test here runs on both."""
    return broker_factory(any_db, memory, pm)


def counts(broker: Broker) -> tuple[int, int, int]:
    with broker.database.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (AssetRow.__table__, SessionRow.__table__, JobRow.__table__)
        )


def upload_png(broker: Broker, memory: MemoryStorage, data: bytes = PNG) -> str:
    session = broker.initiate_session(
        "images", filename="cat.png", content_type="image/png", size=len(data)
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, data, "image/png")
    return session.id


# -- initiate -------------------------------------------------------------------


def test_initiate_creates_staged_asset_and_initialized_session(broker: Broker) -> None:
    session = broker.initiate_session(
        "images", filename="My Cat.PNG", content_type="image/png", size=10
    )
    assert session.state is SessionState.INITIALIZED
    assert session.upload_strategy == "presigned_put"
    asset = broker.get_asset(session.asset_id)
    assert asset.state is AssetState.STAGED
    assert asset.filename == "My_Cat.PNG"
    assert session.storage_key.startswith(f"images/{asset.id}/")
    assert session.storage_key.endswith(".png")
    assert "Cat" not in session.storage_key
    assert len(session.id) == 32 and session.id != asset.id


@pytest.mark.parametrize(
    "filename",
    ["../../etc/passwd.png", "/abs/x.png", "a\\..\\b.png", "\x00evil\n.png", "..", "", "😀.png"],
)
def test_hostile_filenames_never_reach_the_key(broker: Broker, filename: str) -> None:
    session = broker.initiate_session("any", filename=filename, content_type="image/png")
    prefix, asset_id, leaf = session.storage_key.split("/")
    assert (prefix, asset_id) == ("any", session.asset_id)
    assert ".." not in leaf and "\\" not in leaf and "\x00" not in leaf
    asset = broker.get_asset(session.asset_id)
    assert "/" not in asset.filename and "\x00" not in asset.filename


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"filename": "a.gif", "content_type": "image/gif"}, "mime_not_allowed"),
        (
            {"filename": "a.png", "content_type": "image/png", "size": 2_000_000},
            "max_bytes_exceeded",
        ),
        ({"filename": "a.jpg", "content_type": "image/png"}, "extension_type_mismatch"),
    ],
)
def test_policy_at_the_door_changes_nothing(
    broker: Broker, kwargs: dict[str, Any], reason: str
) -> None:
    before = counts(broker)
    with pytest.raises(PolicyViolation) as info:
        broker.initiate_session("images", **kwargs)
    assert info.value.reason == reason
    assert counts(broker) == before


def test_extension_allow_list(make_broker: Callable[..., Broker], memory: MemoryStorage) -> None:
    broker = make_broker(profiles=[Profile(name="docs", storage="mem", allow_extensions=["pdf"])])
    with pytest.raises(PolicyViolation, match="extension_not_allowed"):
        broker.initiate_session("docs", filename="x.exe", content_type="application/pdf")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": -1},
        {"size": "10"},
        {"content_type": "not a type"},
        {"content_type": "image/png\r\nX-Evil: 1"},
        {"expires_in": 0},
        {"expires_in": 10 * 24 * 3600},
        {"filename": None},
    ],
)
def test_bad_arguments_are_typed_and_change_nothing(broker: Broker, kwargs: dict[str, Any]) -> None:
    before = counts(broker)
    args: dict[str, Any] = {"filename": "a.png", "content_type": "image/png"} | kwargs
    with pytest.raises(InvalidArgument):
        broker.initiate_session("any", **args)
    assert counts(broker) == before


def test_unknown_profile(broker: Broker) -> None:
    with pytest.raises(UnknownProfile):
        broker.initiate_session("nope", filename="a.png", content_type="image/png")


def test_profile_with_unconfigured_storage_fails_at_start_up(memory: MemoryStorage) -> None:
    with pytest.raises(ConfigurationError, match="not configured"):
        Broker(
            Database("sqlite://"),
            profiles=[Profile(name="p", storage="elsewhere")],
            storages={"mem": memory},
        )


# -- sign -------------------------------------------------------------------------


def test_sign_binds_type_and_length(broker: Broker) -> None:
    session = broker.initiate_session("images", filename="a.png", content_type="image/png", size=7)
    result = broker.sign_url(session.id)
    assert result.session.state is SessionState.SIGNED
    assert result.presigned.method == "PUT"
    assert result.presigned.headers == {"Content-Type": "image/png", "Content-Length": "7"}
    again = broker.sign_url(session.id)  # re-signing a signed session is allowed
    assert again.session.state is SessionState.SIGNED
    assert "sig=" not in repr(result) and "sig=" not in repr(result.presigned)


def test_signed_url_never_outlives_the_session(broker: Broker) -> None:
    session = broker.initiate_session(
        "any", filename="a.txt", content_type="text/plain", expires_in=60
    )
    result = broker.sign_url(session.id, expires_in=3600)
    assert result.presigned.expires_at is not None
    assert result.presigned.expires_at <= session.expires_at + dt.timedelta(seconds=1)


@pytest.mark.parametrize("bad", ["", "x" * 32, "../" * 11, "0" * 31, 42, None])
def test_malformed_session_ids(broker: Broker, bad: Any) -> None:
    for call in (broker.sign_url, broker.verify_completion, broker.abort_session):
        with pytest.raises(InvalidArgument):
            call(bad)


def test_unknown_session(broker: Broker) -> None:
    with pytest.raises(SessionNotFound):
        broker.sign_url("0" * 32)


def test_expired_session_cannot_be_signed_or_verified(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    broker = make_broker(clock=lambda: now[0])
    session_id = upload_png(broker, memory)
    now[0] += dt.timedelta(days=2)
    with pytest.raises(SessionExpired):
        broker.sign_url(session_id)
    with pytest.raises(SessionExpired):
        broker.verify_completion(session_id)
    assert broker.get_session(session_id).state is SessionState.SIGNED


def test_storage_without_presigned_put(make_broker: Callable[..., Broker]) -> None:
    limited = MemoryStorage(frozenset({Capability.HEAD, Capability.MULTIPART_UPLOAD}))
    broker = make_broker(storages={"mem": limited})
    with pytest.raises(UploadUnsupported) as info:
        broker.initiate_session("any", filename="a", content_type="text/plain")
    assert info.value.capability is Capability.PRESIGNED_PUT


# -- verify -----------------------------------------------------------------------


def test_verify_completes_and_promotes_inline(broker: Broker, memory: MemoryStorage) -> None:
    session_id = upload_png(broker, memory)
    result = broker.verify_completion(session_id)
    assert result.session.state is SessionState.COMPLETED
    assert result.session.verified_at is not None
    assert result.asset.state is AssetState.AVAILABLE
    assert result.asset.byte_size == len(PNG)
    assert result.asset.content_type == "image/png"


def test_verify_in_worker_mode_leaves_validating_and_one_job(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    broker = make_broker(job_mode="worker")
    session_id = upload_png(broker, memory)
    result = broker.verify_completion(session_id)
    assert result.asset.state is AssetState.VALIDATING
    assert counts(broker)[2] == 1
    outcomes = broker.run_jobs()
    assert [o.result for o in outcomes] == ["succeeded"]
    assert broker.get_asset(result.asset.id).state is AssetState.AVAILABLE


def test_verify_is_idempotent(make_broker: Callable[..., Broker], memory: MemoryStorage) -> None:
    broker = make_broker(job_mode="worker")
    session_id = upload_png(broker, memory)
    first = broker.verify_completion(session_id)
    second = broker.verify_completion(session_id)
    assert second.session == first.session
    assert second.asset.id == first.asset.id
    assert counts(broker)[2] == 1


def test_missing_object_changes_nothing(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    session = broker.initiate_session("images", filename="a.png", content_type="image/png")
    broker.sign_url(session.id)
    with caplog.at_level(logging.INFO, logger="rindle"), pytest.raises(StorageObjectMissing):
        broker.verify_completion(session.id)
    logs = _events(caplog)
    assert broker.get_session(session.id).state is SessionState.SIGNED
    assert broker.get_asset(session.asset_id).state is AssetState.STAGED
    assert counts(broker)[2] == 0
    assert not [e for e in logs if e["event"] == "rindle.upload.stop"]


def test_verify_before_sign_is_an_invalid_transition(broker: Broker, memory: MemoryStorage) -> None:
    session = broker.initiate_session("images", filename="a.png", content_type="image/png")
    memory.client_put(session.storage_key, PNG, "image/png")
    with pytest.raises(InvalidTransition) as info:
        broker.verify_completion(session.id)
    assert (info.value.from_state, info.value.to_state) == ("initialized", "verifying")


def test_a_type_that_lies_is_quarantined(broker: Broker, memory: MemoryStorage) -> None:
    session_id = upload_png(broker, memory, data=b"just some text, not an image at all")
    result = broker.verify_completion(session_id)
    assert result.asset.state is AssetState.QUARANTINED
    assert result.asset.quarantine_reason is not None
    assert "size_mismatch" not in result.asset.quarantine_reason
    assert result.asset.quarantine_reason.startswith("type_mismatch")


def test_transient_storage_error_is_retried_not_quarantined(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    broker = make_broker(clock=lambda: now[0])
    session_id = upload_png(broker, memory)
    memory.faults["read_range"] = StorageUnavailable("503")
    result = broker.verify_completion(session_id)
    assert result.asset.state is AssetState.ANALYZING
    job = broker.jobs.list()[0]
    assert job.state.value == "pending" and job.attempts == 1
    assert job.last_error and "StorageUnavailable" in job.last_error
    assert broker.run_jobs() == []  # backoff: not due yet
    now[0] += dt.timedelta(minutes=5)
    assert [o.result for o in broker.run_jobs()] == ["succeeded"]
    assert broker.get_asset(result.asset.id).state is AssetState.AVAILABLE


# -- abort ------------------------------------------------------------------------


def test_abort_any_non_terminal_session(broker: Broker, memory: MemoryStorage) -> None:
    session_id = upload_png(broker, memory)
    key = broker.get_session(session_id).storage_key
    aborted = broker.abort_session(session_id)
    assert aborted.state is SessionState.ABORTED
    assert broker.get_asset(aborted.asset_id).state is AssetState.ABANDONED
    assert key not in memory.objects  # the stray upload is deleted
    assert broker.abort_session(session_id).state is SessionState.ABORTED


def test_abort_completed_is_refused(broker: Broker, memory: MemoryStorage) -> None:
    session_id = upload_png(broker, memory)
    broker.verify_completion(session_id)
    with pytest.raises(InvalidTransition):
        broker.abort_session(session_id)


# -- multipart --------------------------------------------------------------------


def start_multipart(broker: Broker, size: int = 25) -> Any:
    return broker.initiate_multipart_session(
        "any", filename="big.bin", content_type="application/octet-stream", size=size, part_size=10
    )


def test_multipart_flow_with_lost_etags(broker: Broker, memory: MemoryStorage) -> None:
    started = start_multipart(broker)
    info = started.multipart
    assert (info.part_size, info.part_count) == (10, 3)
    signed = broker.sign_multipart_parts(started.session.id, [3, 1, 2])
    assert [p.part_number for p in signed.parts] == [3, 1, 2]
    data = bytes(range(25))
    for n in (3, 1):
        memory.client_put_part(info.upload_id, n, data[(n - 1) * 10 : n * 10])
    status = broker.multipart_status(started.session.id)
    assert status.missing_part_numbers == (2,)
    assert status.committed_bytes == 15
    memory.client_put_part(info.upload_id, 2, data[10:20])
    result = broker.complete_multipart_upload(started.session.id, None)
    assert result.session.state is SessionState.COMPLETED
    assert memory.objects[info.storage_key][0] == data


@pytest.mark.parametrize(
    "parts",
    [
        [],
        [{"part_number": 0, "etag": '"a"'}],
        [{"part_number": 10_001, "etag": '"a"'}],
        [{"part_number": 1, "etag": '"a"'}, {"part_number": 1, "etag": '"b"'}],
        [{"part_number": 1}],
        [{"part_number": "1", "etag": '"a"'}],
        "1,2",
    ],
)
def test_bad_part_lists_change_nothing(broker: Broker, parts: Any) -> None:
    started = start_multipart(broker)
    broker.sign_multipart_part(started.session.id, 1)
    with pytest.raises(InvalidParts):
        broker.complete_multipart_upload(started.session.id, parts)
    assert broker.get_session(started.session.id).state is SessionState.SIGNED


@pytest.mark.parametrize("number", [0, -1, 10_001, True])
def test_part_numbers_out_of_range(broker: Broker, number: Any) -> None:
    started = start_multipart(broker, size=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        broker.sign_multipart_part(started.session.id, number)


def test_part_beyond_declared_size_is_refused(broker: Broker) -> None:
    started = start_multipart(broker, size=25)
    with pytest.raises(InvalidArgument, match="beyond"):
        broker.sign_multipart_part(started.session.id, 4)
    last = broker.sign_multipart_part(started.session.id, 3)
    assert last.presigned.part_number == 3


def test_complete_retried_after_crash_between_remote_and_db(
    broker: Broker, memory: MemoryStorage
) -> None:
    started = start_multipart(broker, size=5)
    broker.sign_multipart_part(started.session.id, 1)
    etag = memory.client_put_part(started.multipart.upload_id, 1, b"hello")
    parts = [UploadedPart(1, etag)]
    # The remote completion succeeded but the process died before the DB write:
    memory.complete_multipart(
        started.multipart.storage_key, started.multipart.upload_id, parts, content_type="x/y"
    )
    result = broker.complete_multipart_upload(started.session.id, parts)
    assert result.session.state is SessionState.COMPLETED
    again = broker.complete_multipart_upload(started.session.id, parts)
    assert again.session == result.session


def test_multipart_compensates_when_the_db_write_fails(
    broker: Broker, memory: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.OperationalError("insert", {}, Exception("db down"))

    monkeypatch.setattr(broker, "_insert", boom)
    with pytest.raises(sa.exc.OperationalError):
        start_multipart(broker)
    assert memory.calls[-2:] == ["create_multipart", "abort_multipart"]
    assert memory.uploads == {}


def test_sign_url_on_a_multipart_session_is_refused(broker: Broker) -> None:
    started = start_multipart(broker)
    with pytest.raises(InvalidArgument, match="multipart"):
        broker.sign_url(started.session.id)


# -- resumable ----------------------------------------------------------------------


def test_resumable_flow_and_idempotent_cancel(broker: Broker, memory: MemoryStorage) -> None:
    started = broker.initiate_resumable_session(
        "any",
        filename="v.bin",
        content_type="application/octet-stream",
        size=3,
        origin="https://app.example",
    )
    assert started.session.state is SessionState.SIGNED
    assert started.session.upload_strategy == "resumable"
    assert started.resumable.session_uri not in repr(started)
    assert started.resumable.session_uri not in repr(started.session)
    assert "session_uri" not in started.session.to_dict()
    memory.resumable[started.resumable.session_uri] += b"ab"
    result = broker.resumable_session_status(started.session.id)
    assert (result.status.committed_bytes, result.status.state) == (2, "in_progress")
    # A client asking where to continue, with bytes held: it is resuming.
    assert result.session.state is SessionState.RESUMING
    memory.resumable[started.resumable.session_uri] += b"c"
    again = broker.resumable_session_status(started.session.id)
    assert (again.status.committed_bytes, again.session.state) == (3, SessionState.UPLOADING)
    assert broker.resumable_session_status(started.session.id).session.state is (
        SessionState.UPLOADING
    )
    cancelled = broker.cancel_resumable_session(started.session.id)
    assert cancelled.state is SessionState.ABORTED
    assert started.resumable.session_uri not in memory.resumable
    assert broker.cancel_resumable_session(started.session.id).state is SessionState.ABORTED


def test_resumable_compensates_when_the_db_write_fails(
    broker: Broker, memory: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker, "_insert", lambda *a, **k: (_ for _ in ()).throw(RuntimeError()))
    with pytest.raises(RuntimeError):
        broker.initiate_resumable_session("any", filename="v", content_type="text/plain")
    assert memory.calls[-2:] == ["create_resumable", "cancel_resumable"]
    assert memory.resumable == {}


# -- maintenance --------------------------------------------------------------------


def test_expiry_settles_assets_aborts_remote_and_is_idempotent(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    broker = make_broker(clock=lambda: now[0])
    plain = broker.initiate_session("any", filename="a", content_type="text/plain")
    multi = start_multipart(broker)
    done_id = upload_png(broker, memory)
    broker.verify_completion(done_id)
    now[0] += dt.timedelta(days=2)
    dry = broker.expire_sessions(dry_run=True)
    assert set(dry.expired_session_ids) == {plain.id, multi.session.id}
    assert broker.get_session(plain.id).state is SessionState.INITIALIZED
    report = broker.expire_sessions()
    assert set(report.expired_session_ids) == {plain.id, multi.session.id}
    assert report.remote_aborted == 1
    assert multi.multipart.upload_id not in memory.uploads
    assert broker.get_asset(plain.asset_id).state is AssetState.ABANDONED
    assert broker.get_session(done_id).state is SessionState.COMPLETED
    assert broker.expire_sessions().expired_session_ids == ()


def test_failed_remote_cleanup_is_retried_by_the_next_pass(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    broker = make_broker(clock=lambda: now[0])
    multi = start_multipart(broker)
    now[0] += dt.timedelta(days=2)
    memory.faults["abort_multipart"] = StorageUnavailable("timeout")
    first = broker.expire_sessions()
    assert first.cleanup_failures == 1
    assert multi.multipart.upload_id in memory.uploads
    assert broker.expire_sessions().remote_aborted == 0  # backing off: not due yet
    now[0] += dt.timedelta(hours=2)
    second = broker.expire_sessions()
    assert (second.expired_session_ids, second.cleanup_failures, second.remote_aborted) == (
        (),
        0,
        1,
    )
    assert multi.multipart.upload_id not in memory.uploads


# -- telemetry and hooks -------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def rindle_session_transitioned(self, session: Any, from_state: str, to_state: str) -> None:
        self.calls.append(("session", (from_state, to_state)))

    @hookimpl
    def rindle_asset_transitioned(self, asset: Any, from_state: str, to_state: str) -> None:
        self.calls.append(("asset", (from_state, to_state)))

    @hookimpl
    def rindle_upload_started(self, session: Any) -> None:
        self.calls.append(("start", session.id))

    @hookimpl
    def rindle_dispatch_job(self, job: Any) -> None:
        self.calls.append(("dispatch", job.kind))


class Broken:
    @hookimpl
    def rindle_session_transitioned(self, session: Any, from_state: str, to_state: str) -> None:
        raise RuntimeError("observer bug")


def test_observers_see_every_transition_after_commit(
    make_broker: Callable[..., Broker],
    memory: MemoryStorage,
    pm: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    pm.register(recorder)
    pm.register(Broken())
    broker = make_broker()
    with caplog.at_level(logging.INFO, logger="rindle"):
        session_id = upload_png(broker, memory)
        broker.verify_completion(session_id)
    logs = _events(caplog)
    session_moves = [c[1] for c in recorder.calls if c[0] == "session"]
    assert session_moves == [
        ("initialized", "signed"),
        ("signed", "uploaded"),
        ("uploaded", "verifying"),
        ("verifying", "completed"),
    ]
    asset_moves = [c[1] for c in recorder.calls if c[0] == "asset"]
    assert asset_moves == [
        ("staged", "validating"),
        ("validating", "analyzing"),
        ("analyzing", "promoting"),
        ("promoting", "available"),
    ]
    assert ("dispatch", "promote") in recorder.calls
    names = [e["event"] for e in logs]
    assert names.index("rindle.upload.start") < names.index("rindle.upload.stop")
    assert "rindle.observer.failed" in names
    text = repr(logs) + caplog.text
    assert "sig=" not in text and "memory://" not in text


def test_session_uri_never_logged(
    broker: Broker, memory: MemoryStorage, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="rindle"):
        started = broker.initiate_resumable_session("any", filename="v", content_type="text/plain")
        broker.resumable_session_status(started.session.id)
        broker.cancel_resumable_session(started.session.id)
    logs = _events(caplog)
    assert started.resumable.session_uri not in repr(logs) + caplog.text


def test_concurrent_verifies_complete_once(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    broker = make_broker(job_mode="worker")
    session_id = upload_png(broker, memory)
    barrier = threading.Barrier(8)

    def verify(_: int) -> str:
        barrier.wait()
        return broker.verify_completion(session_id).session.state.value

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(verify, range(8))) == {"completed"}
    assert counts(broker)[2] == 1


class VirusScanner:
    @hookimpl
    def rindle_inspect_upload(self, asset: Any, head: Any, sample: bytes) -> str | None:
        return "virus_found: EICAR" if b"EICAR" in sample else None


def test_inspect_hooks_can_quarantine(
    make_broker: Callable[..., Broker], memory: MemoryStorage, pm: Any
) -> None:
    pm.register(VirusScanner())
    broker = make_broker()
    clean = broker.verify_completion(upload_png(broker, memory))
    assert clean.asset.state is AssetState.AVAILABLE
    infected = broker.verify_completion(upload_png(broker, memory, data=PNG + b"EICAR"))
    assert infected.asset.state is AssetState.QUARANTINED
    assert infected.asset.quarantine_reason == "virus_found: EICAR"


def test_promotion_reads_only_the_first_bytes(broker: Broker, memory: MemoryStorage) -> None:
    big = PNG + bytes(200_000)
    result = broker.verify_completion(upload_png(broker, memory, data=big))
    assert result.asset.state is AssetState.AVAILABLE
    assert "read_range" in memory.calls  # a ranged read, never a full download


def test_sql_errors_do_not_quote_parameters(broker: Broker, memory: MemoryStorage) -> None:
    started = broker.initiate_resumable_session("any", filename="v", content_type="text/plain")
    uri = started.resumable.session_uri
    sessions = SessionRow.__table__
    with broker.database.read() as conn:
        row = conn.execute(sa.select(sessions).where(sessions.c.id == started.session.id)).one()
    # The whole row again: a duplicate key on every database, the URI among its values.
    with pytest.raises(DatabaseError) as info, broker.database.transaction() as conn:
        conn.execute(sa.insert(sessions).values(**row._mapping))
    assert isinstance(info.value.__cause__, sa.exc.IntegrityError)
    assert uri not in str(info.value)
    assert uri not in str(info.value.__cause__)


# -- review findings: robustness of maintenance, status and arguments -----------------


def test_a_row_of_a_removed_profile_never_blocks_maintenance(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    old = make_broker(
        clock=lambda: now[0],
        profiles=[Profile(name="old", storage="mem"), Profile(name="any", storage="mem")],
    )
    gone = old.initiate_session("old", filename="a", content_type="text/plain")
    old.sign_url(gone.id)  # a URL was handed out: its cleanup needs the storage
    kept = start_multipart(old)
    now[0] += dt.timedelta(days=2)
    new = make_broker(clock=lambda: now[0])  # "old" was removed from the configuration
    first = new.expire_sessions()
    assert set(first.expired_session_ids) == {gone.id, kept.session.id}
    assert first.cleanup_failures == 1
    assert kept.multipart.upload_id not in memory.uploads  # the others were cleaned up
    now[0] += dt.timedelta(hours=2)  # past the failed row's backoff
    assert new.expire_sessions().cleanup_failures == 1  # still pending, still not blocking


def test_promotion_quarantines_an_asset_of_a_removed_profile(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    old = make_broker(
        job_mode="worker",
        profiles=[Profile(name="old", storage="mem"), Profile(name="any", storage="mem")],
    )
    session = old.initiate_session("old", filename="a.txt", content_type="text/plain")
    old.sign_url(session.id)
    memory.client_put(session.storage_key, b"hello", "text/plain")
    old.verify_completion(session.id)
    new = make_broker(job_mode="worker")
    assert [o.result for o in new.run_jobs()] == ["succeeded"]
    asset = new.get_asset(session.asset_id)
    assert asset.state is AssetState.QUARANTINED
    assert asset.quarantine_reason == "unknown_profile: old"


@pytest.mark.parametrize("prefix", ["..", "a/../b", "./x", "a//b", "/abs"])
def test_key_prefix_cannot_escape(prefix: str) -> None:
    from rindle_core import InvalidProfile

    with pytest.raises(InvalidProfile):
        Profile(name="p", key_prefix=prefix)


def test_sizes_beyond_64_bits_are_refused(broker: Broker) -> None:
    before = counts(broker)
    with pytest.raises(InvalidArgument):
        broker.initiate_session("any", filename="a", content_type="text/plain", size=2**63)
    assert counts(broker) == before


@pytest.mark.parametrize("bad", [0, -1, "x", True])
def test_maintenance_and_listing_arguments_are_typed(broker: Broker, bad: Any) -> None:
    with pytest.raises(InvalidArgument):
        broker.expire_sessions(batch_size=bad)
    with pytest.raises(InvalidArgument):
        broker.list_sessions(limit=bad)


def test_expired_resumable_session_keeps_its_offset_and_cancel_is_a_no_op(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    now = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    broker = make_broker(clock=lambda: now[0])
    started = broker.initiate_resumable_session(
        "any", filename="v", content_type="text/plain", size=10
    )
    memory.resumable[started.resumable.session_uri] += b"abcd"
    assert broker.resumable_session_status(started.session.id).status.committed_bytes == 4
    now[0] += dt.timedelta(days=8)
    report = broker.expire_sessions()
    assert report.expired_session_ids == (started.session.id,)
    assert started.resumable.session_uri not in memory.resumable  # remote session cancelled
    status = broker.resumable_session_status(started.session.id).status
    assert (status.state, status.committed_bytes) == ("expired", 4)
    cancelled = broker.cancel_resumable_session(started.session.id)
    assert cancelled.state is SessionState.EXPIRED


def test_completion_forgets_the_session_uri(broker: Broker, memory: MemoryStorage) -> None:
    started = broker.initiate_resumable_session(
        "any", filename="v.txt", content_type="text/plain", size=5
    )
    memory.client_put(started.session.storage_key, b"hello", "text/plain")
    result = broker.verify_completion(started.session.id)
    assert result.session.session_uri is None
    status = broker.resumable_session_status(started.session.id).status
    assert (status.state, status.committed_bytes) == ("complete", 5)


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """rindle's log records as ``{"event", "log_level", **fields}`` dicts."""
    return [
        {"event": r.rindle_event, "log_level": r.levelname.lower(), **r.rindle_fields}
        for r in caplog.records
        if hasattr(r, "rindle_event")
    ]
