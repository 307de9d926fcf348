"""End to end through the broker on Azurite: sign -> upload over HTTP -> verify -> available."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from rindle_azure import AzureBlobStorage, block_id, new_upload_id
from rindle_core import (
    Broker,
    Database,
    InvalidArgument,
    InvalidParts,
    InvalidTransition,
    PresignedRequest,
    Profile,
    StorageConflict,
    TransferFailed,
    UploadedPart,
)
from rindle_core.client import UploadClient
from rindle_core.plugins import make_plugin_manager

PART = 64 * 1024
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database("sqlite:///" + str(tmp_path / "rindle.db"))
    db.create_all()
    return db


class Clock:
    """The brokers' clock: real time until a test moves it forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def after_part_urls_expire(broker: Broker, clock: Clock) -> None:
    """Block URLs (sp=w) can rewrite a committed blob: promotion waits them out."""
    clock.advance(3600 + 300 + 1)  # the profile's url_ttl + the clock-skew grace
    broker.run_jobs()


@pytest.fixture
def make_broker(
    database: Database, adapter: AzureBlobStorage, clock: Clock
) -> Callable[[], Broker]:
    """A broker on the shared database; calling it again is a process restart."""

    def make() -> Broker:
        return Broker(
            database,
            profiles=[
                Profile(name="docs", storage="main", allow_mime=["application/pdf"], part_size=PART)
            ],
            storages={"main": adapter},
            plugin_manager=make_plugin_manager(load_entrypoints=False),
            job_mode="inline",
            clock=clock,
        )

    return make


@pytest.fixture
def broker(make_broker: Callable[[], Broker]) -> Broker:
    return make_broker()


@pytest.fixture
def pdf(tmp_path: Path) -> Callable[[int], Path]:
    def make(size: int) -> Path:
        path = tmp_path / f"doc-{size}.pdf"
        path.write_bytes(PDF + os.urandom(size - len(PDF)))
        return path

    return make


def stored(adapter: AzureBlobStorage, key: str) -> bytes:
    return adapter.read_range(key, 0, adapter.head(key).size)


def remote_blocks(service: BlobServiceClient, container: str, key: str) -> list[str] | None:
    """Every block (committed or not) Azure holds for *key*; None if nothing at all."""
    try:
        committed, uncommitted = service.get_blob_client(container, key).get_block_list("all")
    except ResourceNotFoundError:
        return None
    return [str(b.id) for b in [*committed, *uncommitted]]


def signer(
    broker: Broker, session_id: str
) -> Callable[[Sequence[int]], Sequence[PresignedRequest]]:
    return lambda numbers: broker.sign_multipart_parts(session_id, list(numbers)).parts


# -- single uploads ------------------------------------------------------------------


def test_single_put_becomes_available(
    broker: Broker, adapter: AzureBlobStorage, upload_client: UploadClient, pdf: Any
) -> None:
    path = pdf(300_000)
    session = broker.initiate_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=300_000
    )
    signed = broker.sign_url(session.id)
    assert signed.session.state == "signed"
    assert signed.presigned.headers == {
        "x-ms-blob-type": "BlockBlob",
        "Content-Type": "application/pdf",
    }
    upload_client.put(signed.presigned, path)

    verified = broker.verify_completion(session.id)
    assert verified.session.state == "completed"
    asset = broker.get_asset(verified.asset.id)
    assert asset.state == "available"
    assert asset.byte_size == 300_000
    assert stored(adapter, session.upload_key) == path.read_bytes()


def test_a_body_other_than_declared_is_quarantined(
    broker: Broker, upload_client: UploadClient, tmp_path: Path
) -> None:
    """A SAS cannot bind Content-Type or Content-Length: promotion catches both."""
    session = broker.initiate_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=5000
    )
    signed = broker.sign_url(session.id)
    forged = PresignedRequest(
        url=signed.presigned.url,
        method="PUT",
        headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "image/png"},
    )
    upload_client.put_bytes(forged, PNG + os.urandom(100))
    verified = broker.verify_completion(session.id)
    asset = broker.get_asset(verified.asset.id)
    assert asset.state == "quarantined"
    assert asset.quarantine_reason


# -- block uploads -------------------------------------------------------------------


def test_block_upload_in_parallel_becomes_available(
    broker: Broker, adapter: AzureBlobStorage, upload_client: UploadClient, pdf: Any, clock: Clock
) -> None:
    size = 7 * PART + 4321
    path = pdf(size)
    started = broker.initiate_multipart_session(
        "docs", filename="big.pdf", content_type="application/pdf", size=size
    )
    info = started.multipart
    assert (info.part_size, info.part_count, dict(info.part_headers)) == (PART, 8, {})

    parts = upload_client.upload_parts(
        path, part_size=info.part_size, sign=signer(broker, started.session.id), concurrency=4,
        sign_batch=3,
    )  # fmt: skip
    assert [p.etag for p in parts] == [None] * 8  # Put Block returns no ETag

    done = broker.complete_multipart_upload(started.session.id, parts)
    assert done.session.state == "completed"
    # Part URLs (sp=w) could still rewrite the blob: not available before they expire.
    assert broker.get_asset(done.asset.id).state == "validating"
    broker.run_jobs()
    assert broker.get_asset(done.asset.id).state == "validating"
    after_part_urls_expire(broker, clock)
    assert broker.get_asset(done.asset.id).state == "available"
    assert stored(adapter, info.upload_key) == path.read_bytes()
    assert adapter.head(info.upload_key).content_type == "application/pdf"


def test_blocks_sent_out_of_order_complete_from_the_block_list(
    broker: Broker, adapter: AzureBlobStorage, upload_client: UploadClient, pdf: Any, clock: Clock
) -> None:
    size = 2 * PART + 10
    data = pdf(size).read_bytes()
    started = broker.initiate_multipart_session(
        "docs", filename="c.pdf", content_type="application/pdf", size=size
    )
    sid = started.session.id
    for number in (3, 1, 2):
        request = broker.sign_multipart_part(sid, number).presigned
        upload_client.put_bytes(request, data[(number - 1) * PART : number * PART])

    done = broker.complete_multipart_upload(sid, None)  # rebuilt from list_parts
    after_part_urls_expire(broker, clock)
    assert broker.get_asset(done.asset.id).state == "available"
    assert stored(adapter, started.multipart.upload_key) == data


def test_resume_after_an_interruption_sends_only_the_missing_blocks(
    make_broker: Callable[[], Broker],
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    pdf: Any,
    clock: Clock,
) -> None:
    size = 5 * PART + 99
    path = pdf(size)
    broker = make_broker()
    started = broker.initiate_multipart_session(
        "docs", filename="r.pdf", content_type="application/pdf", size=size
    )
    sid = started.session.id
    upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid), skip={2, 4, 6})

    restarted = make_broker()  # the client and the app lost everything but the session id
    status = restarted.multipart_status(sid)
    assert status.missing_part_numbers == (2, 4, 6)
    assert [p.part_number for p in status.parts] == [1, 3, 5]
    assert status.committed_bytes == 3 * PART
    progress = restarted.resumable_session_status(sid)
    assert (progress.state, progress.committed_bytes) == ("in_progress", 3 * PART)

    sent: list[int] = []

    def sign(numbers: Sequence[int]) -> Sequence[PresignedRequest]:
        sent.extend(numbers)
        return restarted.sign_multipart_parts(sid, list(numbers)).parts

    held = {p.part_number for p in status.parts}
    upload_client.upload_parts(path, part_size=PART, sign=sign, skip=held)
    assert sorted(sent) == [2, 4, 6]

    done = restarted.complete_multipart_upload(sid, None)
    after_part_urls_expire(restarted, clock)
    assert broker.get_asset(done.asset.id).state == "available"
    assert stored(adapter, started.multipart.upload_key) == path.read_bytes()


def test_completing_with_a_block_never_uploaded_is_refused(
    broker: Broker,
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    pdf: Any,
    blob_service: BlobServiceClient,
    clock: Clock,
) -> None:
    size = 2 * PART
    path = pdf(size)
    started = broker.initiate_multipart_session(
        "docs", filename="m.pdf", content_type="application/pdf", size=size
    )
    sid, key = started.session.id, started.multipart.upload_key
    upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid), skip={2})
    with pytest.raises(InvalidParts):
        broker.complete_multipart_upload(sid, [UploadedPart(1), UploadedPart(2)])
    assert broker.get_session(sid).state not in ("completed", "verifying")
    assert remote_blocks(blob_service, adapter.container_name, key) is not None
    with pytest.raises(ResourceNotFoundError):
        blob_service.get_blob_client(adapter.container_name, key).get_blob_properties()

    upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid), skip={1})
    done = broker.complete_multipart_upload(sid, [UploadedPart(1), UploadedPart(2)])
    after_part_urls_expire(broker, clock)
    assert broker.get_asset(done.asset.id).state == "available"


def test_complete_retried_after_a_crash_past_the_commit_converges(
    make_broker: Callable[[], Broker],
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    pdf: Any,
    clock: Clock,
) -> None:
    size = PART + 1
    path = pdf(size)
    broker = make_broker()
    started = broker.initiate_multipart_session(
        "docs", filename="x.pdf", content_type="application/pdf", size=size
    )
    sid, info = started.session.id, started.multipart
    parts = upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid))
    # The first attempt committed the block list, then the process died
    # before the database learned about it.
    adapter.complete_multipart(
        info.upload_key, info.upload_id, parts, content_type="application/pdf"
    )

    done = make_broker().complete_multipart_upload(sid, parts)
    assert done.session.state == "completed"
    after_part_urls_expire(make_broker(), clock)
    assert make_broker().get_asset(done.asset.id).state == "available"
    again = make_broker().complete_multipart_upload(sid, parts)
    assert again.session.id == done.session.id and again.session.state == "completed"


def test_part_numbers_outside_the_block_limit_are_refused(broker: Broker) -> None:
    started = broker.initiate_multipart_session(
        "docs", filename="n.pdf", content_type="application/pdf", size=None
    )
    for number in (0, 50_001):
        with pytest.raises(InvalidArgument):
            broker.sign_multipart_part(started.session.id, number)
    assert broker.sign_multipart_part(started.session.id, 50_000).presigned.part_number == 50_000


# -- abort and expiry -------------------------------------------------------------------


def test_abort_leaves_nothing_behind(
    broker: Broker,
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    pdf: Any,
    blob_service: BlobServiceClient,
) -> None:
    path = pdf(3 * PART)
    started = broker.initiate_multipart_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=3 * PART
    )
    sid, key = started.session.id, started.multipart.upload_key
    upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid), skip={3})
    assert len(remote_blocks(blob_service, adapter.container_name, key) or []) == 2

    assert broker.abort_session(sid).state == "aborted"
    assert remote_blocks(blob_service, adapter.container_name, key) is None
    assert broker.abort_session(sid).state == "aborted"


def test_expiry_through_maintenance_discards_blocks_and_stray_blobs(
    broker: Broker,
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    pdf: Any,
    blob_service: BlobServiceClient,
) -> None:
    path = pdf(2 * PART)
    blocks = broker.initiate_multipart_session(
        "docs", filename="b.pdf", content_type="application/pdf", size=2 * PART
    )
    upload_client.upload_parts(
        path, part_size=PART, sign=signer(broker, blocks.session.id), skip={2}
    )
    single = broker.initiate_session(
        "docs", filename="s.pdf", content_type="application/pdf", size=2 * PART
    )
    upload_client.put(broker.sign_url(single.id).presigned, path)  # uploaded, never verified

    report = broker.expire_sessions(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    assert set(report.expired_session_ids) >= {blocks.session.id, single.id}
    assert report.cleanup_failures == 0
    assert broker.get_session(blocks.session.id).state == "expired"
    assert broker.get_session(single.id).state == "expired"
    assert remote_blocks(blob_service, adapter.container_name, blocks.multipart.upload_key) is None
    with pytest.raises(ResourceNotFoundError):
        blob_service.get_blob_client(
            adapter.container_name, single.upload_key
        ).get_blob_properties()


def test_an_empty_file_cannot_go_up_as_blocks(broker: Broker) -> None:
    """Azure refuses empty blocks: the adapter refuses to sign one (use a single PUT)."""
    started = broker.initiate_multipart_session(
        "docs", filename="empty.pdf", content_type="application/pdf", size=0
    )
    with pytest.raises(InvalidArgument, match="block"):
        broker.sign_multipart_part(started.session.id, 1)


# -- issue 9: verified means final ------------------------------------------------------


HTML_PAGE = PNG + b"<html><body><script>alert(document.domain)</script></body></html>"


@pytest.fixture
def images(database: Database, adapter: AzureBlobStorage) -> Broker:
    return Broker(
        database,
        profiles=[Profile(name="images", storage="main", allow_mime=["image/*"], part_size=PART)],
        storages={"main": adapter},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
        job_mode="inline",
    )


def test_a_verified_upload_cannot_be_replaced_with_its_still_valid_url(
    broker: Broker, adapter: AzureBlobStorage, upload_client: UploadClient, pdf: Any
) -> None:
    path = pdf(4096)
    session = broker.initiate_session(
        "docs", filename="a.pdf", content_type="application/pdf", size=4096
    )
    signed = broker.sign_url(session.id).presigned
    upload_client.put(signed, path)
    asset = broker.get_asset(broker.verify_completion(session.id).asset.id)
    assert asset.state == "available"
    with pytest.raises(TransferFailed) as info:
        upload_client.put_bytes(signed, HTML_PAGE + b"\0" * (4096 - len(HTML_PAGE)))
    assert info.value.status == 403
    assert stored(adapter, session.upload_key) == path.read_bytes()
    assert adapter.head(session.upload_key).version == asset.stored_version


def test_a_png_prefixed_page_sent_as_text_html_is_not_promoted(
    images: Broker, adapter: AzureBlobStorage, upload_client: UploadClient
) -> None:
    """Issue 9, fault 2: the SAS cannot bind the type; promotion compares what Azure serves."""
    session = images.initiate_session(
        "images", filename="cat.png", content_type="image/png", size=len(HTML_PAGE)
    )
    signed = images.sign_url(session.id).presigned
    forged = PresignedRequest(
        url=signed.url,
        method="PUT",
        headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "text/html"},
    )
    upload_client.put_bytes(forged, HTML_PAGE)
    assert adapter.head(session.upload_key).content_type == "text/html"
    asset = images.get_asset(images.verify_completion(session.id).asset.id)
    assert asset.state == "quarantined"
    assert asset.quarantine_reason


def _part_sas(url: str) -> str:
    base, _, query = url.partition("?")
    kept = [f for f in query.split("&") if not f.startswith(("comp=", "blockid="))]
    return f"{base}?{'&'.join(kept)}"


def _commit_as_client(sas_url: str, wire_ids: Sequence[str], content_type: str) -> None:
    base, _, sas = sas_url.partition("?")
    body = "".join(f"<Latest>{i}</Latest>" for i in wire_ids)
    response = httpx.put(
        f"{base}?comp=blocklist&{sas}",
        content=f'<?xml version="1.0" encoding="utf-8"?><BlockList>{body}</BlockList>',
        headers={"x-ms-blob-content-type": content_type},
    )
    assert response.status_code == 201  # a part URL (sp=w) may commit


def test_a_block_list_the_client_committed_never_becomes_available(
    broker: Broker, adapter: AzureBlobStorage, upload_client: UploadClient, pdf: Any
) -> None:
    """Issue 9, fault 11: the client commits its own list (a stray block, text/html)."""
    path = pdf(2 * PART)
    started = broker.initiate_multipart_session(
        "docs", filename="d.pdf", content_type="application/pdf", size=2 * PART
    )
    sid, info = started.session.id, started.multipart
    parts = upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid))
    part_url = broker.sign_multipart_part(sid, 1).presigned.url
    stray = block_id(new_upload_id("elsewhere"), 1)
    response = httpx.put(
        f"{part_url.partition('?')[0]}?comp=block&blockid={quote(stray, safe='')}"
        f"&{_part_sas(part_url).partition('?')[2]}",
        content=b"<script>alert(1)</script>",
    )
    assert response.status_code == 201
    _commit_as_client(
        _part_sas(part_url),
        [block_id(info.upload_id, 1), stray, block_id(info.upload_id, 2)],
        "text/html",
    )
    with pytest.raises(StorageConflict):
        broker.complete_multipart_upload(sid, parts)
    assert broker.get_asset(started.session.asset_id).state != "available"


def test_the_brokers_blocks_committed_by_the_client_as_html_never_become_available(
    broker: Broker, adapter: AzureBlobStorage, upload_client: UploadClient, pdf: Any
) -> None:
    path = pdf(2 * PART)
    started = broker.initiate_multipart_session(
        "docs", filename="e.pdf", content_type="application/pdf", size=2 * PART
    )
    sid, info = started.session.id, started.multipart
    parts = upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid))
    part_url = broker.sign_multipart_part(sid, 1).presigned.url
    _commit_as_client(
        _part_sas(part_url),
        [block_id(info.upload_id, 1), block_id(info.upload_id, 2)],
        "text/html",
    )
    with pytest.raises(StorageConflict):
        broker.complete_multipart_upload(sid, parts)
    assert broker.get_asset(started.session.asset_id).state != "available"


def test_a_crash_past_the_commit_converges_without_the_part_list(
    make_broker: Callable[[], Broker],
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    pdf: Any,
    clock: Clock,
) -> None:
    """parts=None after the commit: the committed blocks go through the same checks."""
    size = 2 * PART + 5
    path = pdf(size)
    broker = make_broker()
    started = broker.initiate_multipart_session(
        "docs", filename="y.pdf", content_type="application/pdf", size=size
    )
    sid, info = started.session.id, started.multipart
    parts = upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid))
    adapter.complete_multipart(
        info.upload_key, info.upload_id, parts, content_type="application/pdf"
    )
    restarted = make_broker()
    done = restarted.complete_multipart_upload(sid, None)
    assert done.session.state == "completed"
    assert [p.part_number for p in restarted.multipart_status(sid).parts] == [1, 2, 3]
    after_part_urls_expire(restarted, clock)
    assert restarted.get_asset(done.asset.id).state == "available"


def test_a_blob_rewritten_with_a_part_url_after_completion_never_becomes_available(
    broker: Broker, adapter: AzureBlobStorage, upload_client: UploadClient, pdf: Any, clock: Clock
) -> None:
    """A block SAS (sp=w) outlives completion: promotion waits it out and sees the change."""
    path = pdf(2 * PART)
    started = broker.initiate_multipart_session(
        "docs", filename="w.pdf", content_type="application/pdf", size=2 * PART
    )
    sid, info = started.session.id, started.multipart
    parts = upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid))
    part_url = broker.sign_multipart_part(sid, 1).presigned.url
    done = broker.complete_multipart_upload(sid, parts)
    assert broker.get_asset(done.asset.id).state == "validating"
    # The same blocks, recommitted by the client as another type: a new ETag.
    _commit_as_client(
        _part_sas(part_url),
        [block_id(info.upload_id, 1), block_id(info.upload_id, 2)],
        "application/pdf",
    )
    after_part_urls_expire(broker, clock)
    asset = broker.get_asset(done.asset.id)
    assert asset.state == "quarantined"
    assert (asset.quarantine_reason or "").startswith("object_changed")


def test_signing_a_part_after_completion_is_refused(
    broker: Broker, upload_client: UploadClient, pdf: Any
) -> None:
    path = pdf(PART)
    started = broker.initiate_multipart_session(
        "docs", filename="z.pdf", content_type="application/pdf", size=PART
    )
    sid = started.session.id
    parts = upload_client.upload_parts(path, part_size=PART, sign=signer(broker, sid))
    broker.complete_multipart_upload(sid, parts)
    with pytest.raises(InvalidTransition):
        broker.sign_multipart_part(sid, 1)
