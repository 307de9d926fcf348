"""Verified means final (issue 9): what reaches ``available`` is what was verified.

Each test reproduces a fault of the issue's "What was seen" against the
broker with the in-memory adapter, on SQLite and on PostgreSQL:

1. a verified object replaced afterwards (new bytes, or a new served type);
2. the served type chosen by the client (Azure: a SAS cannot bind it);
3. a multipart upload completed with parts missing, and a part ledger
   written before storage accepted the list;

plus the state-checked download URL that replaces reaching into the adapter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pluggy
import pytest

from fakes import (
    PNG,
    WITH_COMMITTED_PARTS,
    ClientRefused,
    MemoryStorage,
    broker_factory,
    etag_of,
)
from rindle_core import (
    AssetNotAvailable,
    AssetNotFound,
    AssetState,
    Broker,
    Database,
    InvalidArgument,
    InvalidParts,
    Profile,
    RindleError,
    SessionState,
    StorageConflict,
    StorageUnavailable,
    UploadedPart,
)
from rindle_core.db._repo import load_parts

#: A page that starts like a PNG: what an attacker swaps in (same length as PNG).
HTML = (b"\x89PNG\r\n\x1a\n<html><script>alert(document.cookie)</script></html>").ljust(
    len(PNG), b" "
)
assert len(HTML) == len(PNG)


@pytest.fixture
def make_broker(
    any_db: Database, memory: MemoryStorage, pm: pluggy.PluginManager
) -> Callable[..., Broker]:
    """Brokers on SQLite and on PostgreSQL: every test here runs on both."""
    return broker_factory(any_db, memory, pm)


def upload(
    broker: Broker,
    memory: MemoryStorage,
    data: bytes = PNG,
    *,
    served_as: str = "image/png",
    profile: str = "images",
    filename: str = "cat.png",
    declared: str = "image/png",
) -> str:
    """Initiate, sign and PUT; return the session id (not yet verified)."""
    session = broker.initiate_session(
        profile, filename=filename, content_type=declared, size=len(data)
    )
    broker.sign_url(session.id)
    memory.client_put(session.storage_key, data, served_as)
    return session.id


def ledger(broker: Broker, session_id: str) -> list[int]:
    with broker.database.read() as conn:
        return [p.part_number for p in load_parts(conn, session_id)]


def reason(asset: Any) -> str:
    return str(asset.quarantine_reason or "")


# =============================================================================
# 1. A verified object can be replaced
# =============================================================================


def test_verification_records_the_fingerprint_and_served_type(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    broker = make_broker(job_mode="worker")
    session_id = upload(broker, memory)
    asset = broker.verify_completion(session_id).asset
    key = broker.get_session(session_id).storage_key
    assert asset.stored_version == memory.versions[key]
    assert asset.served_content_type == "image/png"


def test_a_second_put_to_a_verified_key_is_refused_and_changes_nothing(
    broker: Broker, memory: MemoryStorage
) -> None:
    session_id = upload(broker, memory)
    asset = broker.verify_completion(session_id).asset
    assert asset.state is AssetState.AVAILABLE
    key = broker.get_session(session_id).storage_key
    with pytest.raises(ClientRefused) as info:  # the still-valid URL, used again
        memory.client_put(key, HTML, "text/html")
    assert info.value.status == 412
    assert memory.objects[key] == (PNG, "image/png") and memory.writes[key] == 1
    assert broker.get_asset(asset.id).state is AssetState.AVAILABLE


def test_bytes_replaced_between_verification_and_promotion_are_quarantined(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    broker = make_broker(job_mode="worker")
    session_id = upload(broker, memory)
    verified = broker.verify_completion(session_id).asset
    memory.replace_object(verified.storage_key, HTML)  # same length, same served type
    assert [o.result for o in broker.run_jobs()] == ["succeeded"]
    asset = broker.get_asset(verified.id)
    assert asset.state is AssetState.QUARANTINED
    assert reason(asset).startswith("object_changed"), reason(asset)


def test_bytes_replaced_between_the_promotion_head_and_its_read_are_quarantined(
    make_broker: Callable[..., Broker], memory: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranged read is bound to the verified version, not only the HEAD before it."""
    broker = make_broker(job_mode="worker")
    verified = broker.verify_completion(upload(broker, memory)).asset
    real_head = memory.head

    def head_then_swap(key: str) -> Any:
        result = real_head(key)
        memory.replace_object(key, HTML)
        monkeypatch.setattr(memory, "head", real_head)
        return result

    monkeypatch.setattr(memory, "head", head_then_swap)
    broker.run_jobs()
    asset = broker.get_asset(verified.id)
    assert asset.state is AssetState.QUARANTINED
    assert reason(asset).startswith("object_changed"), reason(asset)


@pytest.mark.parametrize("new_version", [False, True], ids=["gcs-like", "azure-like"])
def test_served_type_changed_after_verification_is_quarantined(
    make_broker: Callable[..., Broker], memory: MemoryStorage, new_version: bool
) -> None:
    """Metadata changed behind the broker: same bytes, served as HTML.

    GCS keeps the generation on a metadata update, Azure changes the ETag;
    either way the asset must not become ``available`` (whether the reason
    is the version or the type is the broker's choice).
    """
    broker = make_broker(job_mode="worker")
    verified = broker.verify_completion(upload(broker, memory)).asset
    memory.set_served_type(verified.storage_key, "text/html", new_version=new_version)
    broker.run_jobs()
    asset = broker.get_asset(verified.id)
    assert asset.state is AssetState.QUARANTINED
    assert reason(asset).startswith(("object_changed", "served_type_mismatch")), reason(asset)


def test_a_replacement_after_available_is_never_served(
    broker: Broker, memory: MemoryStorage
) -> None:
    """Documented limit: after ``available`` nothing re-reads the object.

    On real backends create-only uploads prevent the replacement (see the
    412 above); if a backend allowed it anyway, the download URL is bound to
    the verified version, so the new bytes are never served under it.
    """
    asset = broker.verify_completion(upload(broker, memory)).asset
    assert asset.state is AssetState.AVAILABLE
    url = broker.download_url(asset.id)
    assert memory.client_get(url)[0] == PNG
    memory.replace_object(asset.storage_key, HTML, "text/html")
    with pytest.raises(ClientRefused) as info:
        memory.client_get(url)
    assert info.value.status == 412
    with pytest.raises(ClientRefused):  # a fresh URL is bound to the verified version too
        memory.client_get(broker.download_url(asset.id))


# =============================================================================
# 2. The client chooses the served Content-Type (Azure: a SAS cannot bind it)
# =============================================================================


def test_served_type_other_than_the_declared_one_is_quarantined(
    broker: Broker, memory: MemoryStorage
) -> None:
    session_id = upload(broker, memory, HTML, served_as="text/html")
    asset = broker.verify_completion(session_id).asset
    assert asset.served_content_type == "text/html"
    assert asset.state is AssetState.QUARANTINED
    assert reason(asset).startswith("served_type_mismatch"), reason(asset)


def test_a_real_png_served_as_html_is_quarantined(broker: Broker, memory: MemoryStorage) -> None:
    """Content that passes every check is still refused when it would be served as HTML."""
    asset = broker.verify_completion(upload(broker, memory, served_as="text/html")).asset
    assert asset.state is AssetState.QUARANTINED
    assert reason(asset).startswith("served_type_mismatch"), reason(asset)


def test_served_type_parameters_are_not_a_mismatch(broker: Broker, memory: MemoryStorage) -> None:
    """``text/plain; charset=utf-8`` is the type ``text/plain`` (no false quarantine)."""
    session_id = upload(
        broker,
        memory,
        b"hello",
        served_as="text/plain; charset=utf-8",
        profile="any",
        filename="a.txt",
        declared="text/plain",
    )
    asset = broker.verify_completion(session_id).asset
    assert asset.state is AssetState.AVAILABLE, reason(asset)


# =============================================================================
# 3. A multipart upload completes with parts missing
# =============================================================================

DATA = bytes(range(25))  # 3 parts of 10, 10 and 5 bytes


def start(broker: Broker, size: int | None = 25) -> Any:
    started = broker.initiate_multipart_session(
        "any", filename="big.bin", content_type="application/octet-stream", size=size, part_size=10
    )
    broker.sign_multipart_parts(started.session.id, [1, 2, 3])
    return started


def put_parts(memory: MemoryStorage, upload_id: str, numbers: list[int]) -> list[UploadedPart]:
    return [
        UploadedPart(n, memory.client_put_part(upload_id, n, DATA[(n - 1) * 10 : n * 10]))
        for n in numbers
    ]


@pytest.mark.parametrize(
    ("sent", "missing"),
    [([1, 3], (2,)), ([1, 2], (3,)), ([2, 3], (1,)), ([3], (1, 2))],
    ids=["middle", "last", "first", "only-last"],
)
def test_an_incomplete_part_list_is_refused_and_the_client_can_finish(
    broker: Broker, memory: MemoryStorage, sent: list[int], missing: tuple[int, ...]
) -> None:
    started = start(broker)
    upload_id, key = started.multipart.upload_id, started.multipart.storage_key
    parts = put_parts(memory, upload_id, sent)
    with pytest.raises(InvalidParts) as info:
        broker.complete_multipart_upload(started.session.id, parts)
    assert info.value.missing == missing
    assert all(str(n) in str(info.value) for n in missing)
    # Nothing completed remotely, nothing recorded, the session still open:
    assert "complete_multipart" not in memory.calls
    assert key not in memory.objects and upload_id in memory.uploads
    assert ledger(broker, started.session.id) == []
    assert broker.get_session(started.session.id).state is SessionState.SIGNED
    # The client uploads what is missing and completes:
    parts += put_parts(memory, upload_id, list(missing))
    result = broker.complete_multipart_upload(started.session.id, parts)
    assert result.session.state is SessionState.COMPLETED
    assert memory.objects[key][0] == DATA
    assert ledger(broker, started.session.id) == [1, 2, 3]
    assert result.asset.state is AssetState.AVAILABLE


def test_a_rebuilt_part_list_with_a_gap_is_refused(broker: Broker, memory: MemoryStorage) -> None:
    """``parts=None`` (lost ETags) lists what storage holds: a gap is still refused."""
    started = start(broker)
    put_parts(memory, started.multipart.upload_id, [1, 3])
    with pytest.raises(InvalidParts) as info:
        broker.complete_multipart_upload(started.session.id, None)
    assert info.value.missing == (2,)
    assert "complete_multipart" not in memory.calls
    assert started.multipart.storage_key not in memory.objects
    assert ledger(broker, started.session.id) == []


def test_without_a_declared_size_a_gap_is_still_refused(
    broker: Broker, memory: MemoryStorage
) -> None:
    """No declared size: only gaps can be seen (a truncated tail cannot; documented)."""
    started = start(broker, size=None)
    parts = put_parts(memory, started.multipart.upload_id, [1, 3])
    with pytest.raises(InvalidParts) as info:
        broker.complete_multipart_upload(started.session.id, parts)
    assert info.value.missing == (2,)
    assert "complete_multipart" not in memory.calls


def test_parts_beyond_the_declared_size_are_refused(broker: Broker, memory: MemoryStorage) -> None:
    started = start(broker)
    parts = put_parts(memory, started.multipart.upload_id, [1, 2, 3])
    memory.uploads[started.multipart.upload_id][4] = b"x"
    with pytest.raises(InvalidParts):
        broker.complete_multipart_upload(
            started.session.id, [*parts, UploadedPart(4, etag_of(b"x"))]
        )
    assert "complete_multipart" not in memory.calls


@pytest.mark.parametrize("failure", ["unavailable", "wrong-etag"])
def test_a_refused_or_failed_complete_leaves_no_part_rows(
    broker: Broker, memory: MemoryStorage, failure: str
) -> None:
    started = start(broker)
    parts = put_parts(memory, started.multipart.upload_id, [1, 2, 3])
    sent = list(parts)
    if failure == "unavailable":
        memory.faults["complete_multipart"] = StorageUnavailable("503")
        expected: type[Exception] = StorageUnavailable
    else:
        sent[1] = UploadedPart(2, etag_of(b"not what was uploaded"))
        expected = InvalidParts
    with pytest.raises(expected):
        broker.complete_multipart_upload(started.session.id, sent)
    assert ledger(broker, started.session.id) == []
    status = broker.multipart_status(started.session.id)  # storage's view, not a stale ledger
    assert status.missing_part_numbers == ()
    # Storage holds parts: the session is uploading (nothing was completed).
    assert broker.get_session(started.session.id).state is SessionState.UPLOADING
    result = broker.complete_multipart_upload(started.session.id, parts)
    assert result.session.state is SessionState.COMPLETED
    assert ledger(broker, started.session.id) == [1, 2, 3]


def test_multipart_status_never_reports_a_part_that_was_not_uploaded(
    broker: Broker, memory: MemoryStorage
) -> None:
    """The fault's symptom: a refused complete used to leave part 2 in the ledger."""
    started = start(broker)
    put_parts(memory, started.multipart.upload_id, [1, 3])
    claimed = [UploadedPart(n, etag_of(DATA[(n - 1) * 10 : n * 10])) for n in (1, 2, 3)]
    with pytest.raises(InvalidParts):
        broker.complete_multipart_upload(started.session.id, claimed)
    assert ledger(broker, started.session.id) == []
    broker.abort_session(started.session.id)
    status = broker.multipart_status(started.session.id)  # terminal: read from the ledger
    assert 2 not in [p.part_number for p in status.parts]


def test_an_object_assembled_from_other_parts_never_becomes_available(
    make_broker: Callable[..., Broker],
) -> None:
    """Azure: a block SAS lets a client commit its own block list (same size, other order).

    Where the backend can list the committed parts, only the list the broker
    completed may reach ``available``.
    """
    memory = MemoryStorage(WITH_COMMITTED_PARTS)
    broker = make_broker(storages={"mem": memory}, job_mode="worker")
    started = start(broker)
    upload_id, key = started.multipart.upload_id, started.multipart.storage_key
    parts = put_parts(memory, upload_id, [1, 2, 3])
    reordered = [parts[1], parts[0], parts[2]]  # 25 bytes, but not the bytes uploaded in order
    memory.complete_multipart(key, upload_id, reordered, content_type="application/octet-stream")
    with contextlib.suppress(RindleError):  # refusing outright is fine too
        broker.complete_multipart_upload(started.session.id, parts)
    broker.run_jobs()
    assert broker.get_asset(started.session.asset_id).state is not AssetState.AVAILABLE


# =============================================================================
# Downloads go through the broker
# =============================================================================


def test_download_url_is_bound_to_the_verified_version_and_type(
    broker: Broker, memory: MemoryStorage
) -> None:
    asset = broker.verify_completion(upload(broker, memory)).asset
    request = broker.download_url(asset.id, expires_in=60)
    grant = memory.gets[-1]
    assert (grant.key, grant.version, grant.content_type, grant.expires_in) == (
        asset.storage_key,
        asset.stored_version,
        "image/png",
        60,
    )
    assert grant.content_disposition is None or grant.content_disposition.startswith("inline")
    data, headers = memory.client_get(request)
    assert data == PNG and headers["Content-Type"] == "image/png"
    assert "sig=" not in repr(request)


def test_download_url_can_ask_for_an_attachment(broker: Broker, memory: MemoryStorage) -> None:
    asset = broker.verify_completion(upload(broker, memory)).asset
    broker.download_url(asset.id, disposition="attachment")
    disposition = memory.gets[-1].content_disposition
    assert disposition is not None and disposition.startswith("attachment")


def test_active_types_download_as_attachment(
    make_broker: Callable[..., Broker], memory: MemoryStorage
) -> None:
    broker = make_broker(
        profiles=[
            Profile(name="web", storage="mem", allow_mime=["text/html"], allow_active_content=True)
        ]
    )
    page = b"<!doctype html><html><body>hi</body></html>"
    session_id = upload(
        broker,
        memory,
        page,
        served_as="text/html",
        profile="web",
        filename="page.html",
        declared="text/html",
    )
    asset = broker.verify_completion(session_id).asset
    assert asset.state is AssetState.AVAILABLE, reason(asset)
    broker.download_url(asset.id, disposition="inline")  # the caller cannot force inline
    disposition = memory.gets[-1].content_disposition
    assert disposition is not None and disposition.startswith("attachment")
    assert memory.gets[-1].content_type == "text/html"


def staged(broker: Broker, memory: MemoryStorage) -> str:
    return broker.initiate_session("images", filename="a.png", content_type="image/png").asset_id


def validating(broker: Broker, memory: MemoryStorage) -> str:
    return broker.verify_completion(upload(broker, memory)).asset.id


def quarantined(broker: Broker, memory: MemoryStorage) -> str:
    asset_id = broker.verify_completion(upload(broker, memory, b"no image here")).asset.id
    broker.run_jobs()
    return asset_id


def abandoned(broker: Broker, memory: MemoryStorage) -> str:
    return broker.abort_session(upload(broker, memory)).asset_id


@pytest.mark.parametrize(
    ("make", "state"),
    [
        (staged, "staged"),
        (validating, "validating"),
        (quarantined, "quarantined"),
        (abandoned, "abandoned"),
    ],
)
def test_download_url_refuses_assets_that_are_not_available(
    make_broker: Callable[..., Broker],
    memory: MemoryStorage,
    make: Callable[[Broker, MemoryStorage], str],
    state: str,
) -> None:
    broker = make_broker(job_mode="worker")
    asset_id = make(broker, memory)
    assert broker.get_asset(asset_id).state.value == state
    with pytest.raises(AssetNotAvailable) as info:
        broker.download_url(asset_id)
    assert (info.value.asset_id, info.value.state) == (asset_id, state)
    assert memory.gets == []  # nothing was signed


def test_download_url_of_unknown_or_malformed_ids(broker: Broker, memory: MemoryStorage) -> None:
    with pytest.raises(AssetNotFound):
        broker.download_url("0" * 32)
    for bad in ("", "../x", None, 42):
        with pytest.raises(InvalidArgument):
            broker.download_url(bad)  # type: ignore[arg-type]
    assert memory.gets == []


def test_a_complete_refused_because_the_key_is_taken_fails_the_session(
    broker: Broker, memory: MemoryStorage
) -> None:
    """Storage refuses the create-only complete: the session can never finish."""
    started = start(broker)
    parts = put_parts(memory, started.multipart.upload_id, [1, 2, 3])
    key = started.multipart.storage_key
    memory.client_put(key, b"someone else's bytes", "text/html")
    with pytest.raises(StorageConflict):
        broker.complete_multipart_upload(started.session.id, parts)
    session = broker.get_session(started.session.id)
    assert session.state is SessionState.FAILED
    assert (session.failure_reason or "").startswith("storage_conflict")
    assert broker.get_asset(session.asset_id).state is AssetState.ABANDONED
    assert key not in memory.objects  # cleanup removed the foreign object
    assert started.multipart.upload_id not in memory.uploads  # and aborted the upload
    assert ledger(broker, session.id) == []
