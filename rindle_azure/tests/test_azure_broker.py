"""End to end through the broker on Azurite: the shared broker contract, and Azure's own flows.

A block SAS (``sp=w``) outlives completion: it could still commit another
block list, so promotion waits until the part URLs have expired (the
contract waits them out with its clock). The tests here are what only
Azure has: that wait, the headers a PUT is signed with, refused empty
blocks, and block lists a client commits itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from rindle_azure import AzureBlobStorage, block_id, new_upload_id
from rindle_core import AssetState, Broker, InvalidArgument, StorageConflict
from rindle_core.client import UploadClient
from rindle_core.testing import BrokerContract

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
PART = BrokerContract.part_size


def pdf_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / f"doc-{size}.pdf"
    path.write_bytes(PDF + os.urandom(size - len(PDF)))
    return path


def stored(adapter: AzureBlobStorage, key: str) -> bytes:
    return adapter.read_range(key, 0, adapter.head(key).size)


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


class TestAzureBrokerContract(BrokerContract):
    """Azurite 3.35 checks SAS signatures, expiry and create-only (``sp=c``,
    ``If-None-Match: *``) and serves the signed ``rsct``/``rscd`` overrides:
    every flag keeps its default."""

    @pytest.fixture
    def adapter(self, adapter: AzureBlobStorage) -> AzureBlobStorage:
        return adapter

    def test_the_broker_signs_the_blob_type_and_the_content_type(self, broker: Broker) -> None:
        session = broker.initiate_session(
            "contract", filename="a.pdf", content_type="application/pdf", size=300_000
        )
        signed = broker.sign_url(session.id)
        assert signed.presigned.headers == {
            "x-ms-blob-type": "BlockBlob",
            "Content-Type": "application/pdf",
        }

    def test_promotion_waits_until_the_block_urls_expire(
        self,
        broker: Broker,
        adapter: AzureBlobStorage,
        upload_client: UploadClient,
        clock: BrokerContract.Clock,
        tmp_path: Path,
    ) -> None:
        path = pdf_file(tmp_path, 7 * PART + 4321)
        started = broker.initiate_multipart_session(
            "contract", filename="big.pdf", content_type="application/pdf", size=7 * PART + 4321
        )
        info = started.multipart
        assert (info.part_size, info.part_count, dict(info.part_headers)) == (PART, 8, {})
        parts = upload_client.upload_parts(
            path, part_size=PART, sign=self.signer(broker, started.session.id), concurrency=4
        )
        assert [p.etag for p in parts] == [None] * 8  # Put Block returns no ETag

        done = broker.complete_multipart_upload(started.session.id, parts)
        assert done.session.state == "completed"
        # Part URLs (sp=w) could still rewrite the blob: not available before they expire.
        urls_expire_at = broker.get_session(started.session.id).urls_expire_at
        assert urls_expire_at is not None
        assert broker.get_asset(done.asset.id).state == AssetState.VALIDATING
        due = urls_expire_at + broker.maintenance.cleanup_grace  # the clock-skew grace
        clock.advance((due - clock()).total_seconds() - 5)
        broker.run_jobs()
        assert broker.get_asset(done.asset.id).state == AssetState.VALIDATING
        clock.advance_past(due)
        broker.run_jobs()
        assert broker.get_asset(done.asset.id).state == AssetState.AVAILABLE
        assert stored(adapter, info.storage_key or "") == path.read_bytes()

    def test_an_empty_file_cannot_go_up_as_blocks(self, broker: Broker) -> None:
        """Azure refuses empty blocks: the adapter refuses to sign one (use a single PUT)."""
        started = broker.initiate_multipart_session(
            "contract", filename="empty.pdf", content_type="application/pdf", size=0
        )
        with pytest.raises(InvalidArgument, match="block"):
            broker.sign_multipart_part(started.session.id, 1)

    # -- issue 9: verified means final ----------------------------------------------

    def test_a_block_list_the_client_committed_never_becomes_available(
        self, broker: Broker, upload_client: UploadClient, tmp_path: Path
    ) -> None:
        """Issue 9, fault 11: the client commits its own list (a stray block, text/html)."""
        path = pdf_file(tmp_path, 2 * PART)
        started = broker.initiate_multipart_session(
            "contract", filename="d.pdf", content_type="application/pdf", size=2 * PART
        )
        sid, info = started.session.id, started.multipart
        parts = upload_client.upload_parts(path, part_size=PART, sign=self.signer(broker, sid))
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
        assert broker.get_asset(started.session.asset_id).state != AssetState.AVAILABLE

    def test_the_brokers_blocks_committed_by_the_client_as_html_never_become_available(
        self, broker: Broker, upload_client: UploadClient, tmp_path: Path
    ) -> None:
        path = pdf_file(tmp_path, 2 * PART)
        started = broker.initiate_multipart_session(
            "contract", filename="e.pdf", content_type="application/pdf", size=2 * PART
        )
        sid, info = started.session.id, started.multipart
        parts = upload_client.upload_parts(path, part_size=PART, sign=self.signer(broker, sid))
        part_url = broker.sign_multipart_part(sid, 1).presigned.url
        _commit_as_client(
            _part_sas(part_url),
            [block_id(info.upload_id, 1), block_id(info.upload_id, 2)],
            "text/html",
        )
        with pytest.raises(StorageConflict):
            broker.complete_multipart_upload(sid, parts)
        assert broker.get_asset(started.session.asset_id).state != AssetState.AVAILABLE

    def test_a_blob_rewritten_with_a_part_url_after_completion_never_becomes_available(
        self,
        broker: Broker,
        upload_client: UploadClient,
        clock: BrokerContract.Clock,
        tmp_path: Path,
    ) -> None:
        """A block SAS (sp=w) outlives completion: promotion waits it out and sees the change."""
        path = pdf_file(tmp_path, 2 * PART)
        started = broker.initiate_multipart_session(
            "contract", filename="w.pdf", content_type="application/pdf", size=2 * PART
        )
        sid, info = started.session.id, started.multipart
        parts = upload_client.upload_parts(path, part_size=PART, sign=self.signer(broker, sid))
        part_url = broker.sign_multipart_part(sid, 1).presigned.url
        done = broker.complete_multipart_upload(sid, parts)
        assert broker.get_asset(done.asset.id).state == AssetState.VALIDATING
        # The same blocks, recommitted by the client as another type: a new ETag.
        _commit_as_client(
            _part_sas(part_url),
            [block_id(info.upload_id, 1), block_id(info.upload_id, 2)],
            "application/pdf",
        )
        asset = self.settle(broker, clock, done)
        assert asset.state == AssetState.QUARANTINED
        assert (asset.quarantine_reason or "").startswith("object_changed")
