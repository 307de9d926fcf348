"""End to end through the broker: sign -> upload over HTTP -> verify -> available, on moto."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from rindle_core import (
    Broker,
    Database,
    Profile,
    StorageNotFound,
    TransferFailed,
    UploadedPart,
)
from rindle_core.client import UploadClient
from rindle_core.plugins import make_plugin_manager
from rindle_s3 import S3Storage

MIB = 1024 * 1024
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database("sqlite:///" + str(tmp_path / "rindle.db"))
    db.create_all()
    return db


@pytest.fixture
def make_broker(database: Database, storage: S3Storage) -> Callable[..., Broker]:
    """A broker on the shared database; calling it again is a process restart."""

    def make(adapter: Any = None) -> Broker:
        return Broker(
            database,
            profiles=[Profile(name="docs", storage="main", allow_mime=["application/pdf"])],
            storages={"main": adapter or storage},
            plugin_manager=make_plugin_manager(load_entrypoints=False),
            job_mode="inline",
        )

    return make


@pytest.fixture
def broker(make_broker: Callable[..., Broker]) -> Broker:
    return make_broker()


def stored_digest(admin_client: Any, bucket: str, key: str) -> str:
    body = admin_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return hashlib.sha256(body).hexdigest()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remote_uploads(admin_client: Any, bucket: str) -> list[str]:
    return [
        u["UploadId"] for u in admin_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    ]


def test_single_put_becomes_available(
    broker: Broker, make_file: Callable[..., Path], admin_client: Any, storage: S3Storage
) -> None:
    path = make_file(300_000, name="a.pdf", head=PDF)
    session = broker.initiate_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=300_000
    )
    signed = broker.sign_url(session.id)
    assert signed.session.state == "signed"
    assert signed.presigned.headers == {
        "Content-Type": "application/pdf",
        "Content-Length": "300000",
        "If-None-Match": "*",
    }
    assert (
        "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match"
        in signed.presigned.url
    )
    with UploadClient() as client:
        client.put(signed.presigned, path)

    verified = broker.verify_completion(session.id)
    assert verified.session.state == "completed"
    asset = broker.get_asset(verified.asset.id)
    assert asset.state == "available", asset.quarantine_reason
    assert asset.byte_size == 300_000
    assert asset.content_type == "application/pdf"
    assert stored_digest(admin_client, storage.bucket, asset.storage_key) == digest(path)


def test_a_verified_object_cannot_be_replaced_with_the_same_url(
    broker: Broker, admin_client: Any, storage: S3Storage
) -> None:
    """Issue 9 (1): after promotion, a second PUT with the still-valid URL replaced the bytes."""
    session = broker.initiate_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=len(PDF)
    )
    presigned = broker.sign_url(session.id).presigned
    UploadClient().put_bytes(presigned, PDF)
    asset = broker.get_asset(broker.verify_completion(session.id).asset.id)
    assert asset.state == "available", asset.quarantine_reason
    html = b"<html><script>alert(1)</script>".ljust(len(PDF), b" ")
    with pytest.raises(TransferFailed) as info:
        UploadClient().put_bytes(presigned, html)
    assert info.value.status == 412
    body = admin_client.get_object(Bucket=storage.bucket, Key=asset.storage_key)["Body"].read()
    assert body == PDF
    assert broker.get_asset(asset.id).state == "available"


def test_a_non_pdf_is_quarantined_after_a_ranged_read(
    broker: Broker, make_file: Callable[..., Path]
) -> None:
    path = make_file(50_000, name="fake.pdf", head=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    session = broker.initiate_session(
        "docs", filename="fake.pdf", content_type="application/pdf", size=50_000
    )
    UploadClient().put(broker.sign_url(session.id).presigned, path)
    asset = broker.get_asset(broker.verify_completion(session.id).asset.id)
    assert asset.state == "quarantined"


def _upload_parts(
    broker: Broker, session_id: str, path: Path, part_size: int, *, skip: Sequence[int] = ()
) -> list[UploadedPart]:
    return UploadClient().upload_parts(
        path,
        part_size=part_size,
        sign=lambda numbers: broker.sign_multipart_parts(session_id, list(numbers)).parts,
        concurrency=4,
        skip=set(skip),
        sign_batch=3,
    )


def test_multipart_parallel_out_of_order_becomes_available(
    broker: Broker, make_file: Callable[..., Path], admin_client: Any, storage: S3Storage
) -> None:
    size = 4 * 5 * MIB + 777
    path = make_file(size, name="big.pdf", head=PDF)
    started = broker.initiate_multipart_session(
        "docs", filename="big.pdf", content_type="application/pdf", size=size, part_size=5 * MIB
    )
    info = started.multipart
    assert (info.part_size, info.part_count, dict(info.part_headers)) == (5 * MIB, 5, {})
    parts = _upload_parts(broker, started.session.id, path, info.part_size)
    result = broker.complete_multipart_upload(started.session.id, list(reversed(parts)))
    assert result.session.state == "completed"
    asset = broker.get_asset(result.asset.id)
    assert asset.state == "available", asset.quarantine_reason
    assert asset.byte_size == size
    assert stored_digest(admin_client, storage.bucket, info.upload_key) == digest(path)
    assert remote_uploads(admin_client, storage.bucket) == []


def test_part_size_respects_s3_minimum(broker: Broker) -> None:
    started = broker.initiate_multipart_session(
        "docs", filename="x.pdf", content_type="application/pdf", size=12 * MIB, part_size=MIB
    )
    assert started.multipart.part_size == 5 * MIB
    assert started.multipart.part_count == 3


def test_resume_after_a_crash_uploads_only_the_missing_parts(
    make_broker: Callable[..., Broker],
    make_file: Callable[..., Path],
    admin_client: Any,
    storage: S3Storage,
) -> None:
    size = 3 * 5 * MIB + 99
    path = make_file(size, name="resume.pdf", head=PDF)
    first = make_broker()
    started = first.initiate_multipart_session(
        "docs",
        filename="resume.pdf",
        content_type="application/pdf",
        size=size,
        part_size=5 * MIB,
    )
    sid = started.session.id
    _upload_parts(first, sid, path, 5 * MIB, skip=[2, 4])  # then the client "crashes"

    restarted = make_broker()  # a new process; the browser lost its ETags
    status = restarted.multipart_status(sid)
    assert [p.part_number for p in status.parts] == [1, 3]
    assert status.missing_part_numbers == (2, 4)
    assert status.committed_bytes == 2 * 5 * MIB
    uploaded = _upload_parts(
        restarted, sid, path, 5 * MIB, skip=[p.part_number for p in status.parts]
    )
    assert [p.part_number for p in uploaded] == [2, 4]
    assert restarted.multipart_status(sid).missing_part_numbers == ()

    result = restarted.complete_multipart_upload(sid, None)  # rebuilt from ListParts
    assert restarted.get_asset(result.asset.id).state == "available"
    assert stored_digest(admin_client, storage.bucket, started.multipart.upload_key) == digest(path)


def test_complete_called_twice_returns_the_same_result(
    broker: Broker, make_file: Callable[..., Path]
) -> None:
    path = make_file(5 * MIB + 10, name="twice.pdf", head=PDF)
    started = broker.initiate_multipart_session(
        "docs",
        filename="twice.pdf",
        content_type="application/pdf",
        size=path.stat().st_size,
    )
    parts = _upload_parts(broker, started.session.id, path, started.multipart.part_size)
    first = broker.complete_multipart_upload(started.session.id, parts)
    again = broker.complete_multipart_upload(started.session.id, parts)
    assert (again.session.id, again.asset.id) == (first.session.id, first.asset.id)
    assert again.session.state == "completed"
    assert broker.get_asset(first.asset.id).state == "available"


class CrashAfterComplete:
    """Delegates to an adapter; completes remotely, then dies before the DB write."""

    def __init__(self, inner: S3Storage) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def complete_multipart(self, *args: Any, **kwargs: Any) -> None:
        self._inner.complete_multipart(*args, **kwargs)
        raise SystemExit("simulated crash after the remote completion")


@pytest.mark.parametrize("retry_parts", ["same", "rebuilt"])
def test_crash_after_remote_complete_converges_on_retry(
    make_broker: Callable[..., Broker],
    make_file: Callable[..., Path],
    storage: S3Storage,
    admin_client: Any,
    retry_parts: str,
) -> None:
    path = make_file(2 * 5 * MIB + 5, name="crash.pdf", head=PDF)
    crashing = make_broker(CrashAfterComplete(storage))
    started = crashing.initiate_multipart_session(
        "docs",
        filename="crash.pdf",
        content_type="application/pdf",
        size=path.stat().st_size,
        part_size=5 * MIB,
    )
    sid = started.session.id
    parts = _upload_parts(crashing, sid, path, 5 * MIB)
    with pytest.raises(SystemExit):
        crashing.complete_multipart_upload(sid, parts)
    assert crashing.get_session(sid).state != "completed"
    assert storage.head(started.multipart.upload_key).size == path.stat().st_size

    restarted = make_broker()
    result = restarted.complete_multipart_upload(sid, parts if retry_parts == "same" else None)
    assert result.session.state == "completed"
    assert restarted.get_asset(result.asset.id).state == "available"
    assert stored_digest(admin_client, storage.bucket, started.multipart.upload_key) == digest(path)


def test_abort_removes_the_remote_upload(
    broker: Broker, storage: S3Storage, admin_client: Any
) -> None:
    started = broker.initiate_multipart_session(
        "docs", filename="x.pdf", content_type="application/pdf", size=6 * MIB
    )
    sid, info = started.session.id, started.multipart
    UploadClient().put_bytes(broker.sign_multipart_part(sid, 1).presigned, b"x" * 1024)
    assert remote_uploads(admin_client, storage.bucket) == [info.upload_id]

    assert broker.abort_session(sid).state == "aborted"
    assert remote_uploads(admin_client, storage.bucket) == []
    with pytest.raises(StorageNotFound):
        storage.list_parts(info.upload_key, info.upload_id)
    assert broker.abort_session(sid).state == "aborted"


def test_expiry_aborts_the_remote_upload(
    broker: Broker, storage: S3Storage, admin_client: Any
) -> None:
    started = broker.initiate_multipart_session(
        "docs", filename="x.pdf", content_type="application/pdf", size=6 * MIB
    )
    sid, info = started.session.id, started.multipart
    UploadClient().put_bytes(broker.sign_multipart_part(sid, 1).presigned, b"x" * 1024)
    assert remote_uploads(admin_client, storage.bucket) == [info.upload_id]

    report = broker.expire_sessions(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    assert sid in report.expired_session_ids
    assert report.remote_aborted >= 1
    assert broker.get_session(sid).state == "expired"
    assert remote_uploads(admin_client, storage.bucket) == []
    with pytest.raises(StorageNotFound):
        storage.list_parts(info.upload_key, info.upload_id)


def test_a_failed_database_write_aborts_the_remote_upload(
    broker: Broker, admin_client: Any, storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    def database_down(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.OperationalError("INSERT", {}, Exception("connection lost"))

    monkeypatch.setattr(broker, "_insert", database_down)
    with pytest.raises(sa.exc.OperationalError):
        broker.initiate_multipart_session(
            "docs", filename="x.pdf", content_type="application/pdf", size=6 * MIB
        )
    assert remote_uploads(admin_client, storage.bucket) == []
