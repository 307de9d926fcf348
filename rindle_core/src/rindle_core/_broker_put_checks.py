"""The broker contract's single-PUT flows: upload, verify, download, create-only, expiry.

Mixed into :class:`rindle_core.testing.BrokerContract` (each flow's ``self``
is a :class:`~rindle_core._broker_kit.BrokerSelf`).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Literal

import httpx
import pytest

from rindle_core import AssetState, Broker, SessionState, StorageObjectMissing, TransferFailed
from rindle_core._broker_kit import (
    CONTENT_TYPE,
    PNG,
    SOME_TIME_LATER,
    BrokerSelf,
    assert_no_object,
    pdf,
    stored,
)
from rindle_core._contract_helpers import fail_unless
from rindle_core.client import UploadClient
from rindle_core.storage import Capability, PresignedRequest, StorageAdapter

if TYPE_CHECKING:
    from rindle_core._broker_contract import BrokerContract

__all__ = ["SinglePutChecks"]


class SinglePutChecks:
    """One signed PUT per upload: promotion, downloads, forged headers, create-only, expiry."""

    def test_single_put_becomes_available(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker, upload_client: UploadClient
    ) -> None:
        self.require_single_put(adapter)
        data = pdf(300_000)
        session_id, presigned = self.upload_single(broker, upload_client, data)
        sent = {k.lower(): v for k, v in presigned.headers.items()}
        fail_unless(sent.get("content-type") == CONTENT_TYPE, "the PUT is not signed for its type")

        verified = broker.verify_completion(session_id)
        fail_unless(verified.session.state is SessionState.COMPLETED, f"{verified.session.state}")
        asset = broker.get_asset(verified.asset.id)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        fail_unless(asset.byte_size == len(data), f"asset byte_size {asset.byte_size}")
        fail_unless(
            asset.content_type == CONTENT_TYPE, f"asset content_type {asset.content_type!r}"
        )
        fail_unless(stored(adapter, asset.storage_key) == data, "storage holds other bytes")
        again = broker.verify_completion(session_id)
        fail_unless(again.asset.id == asset.id, "verifying twice gave another asset")

    def test_verify_before_the_upload_changes_nothing(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker
    ) -> None:
        self.require_single_put(adapter)
        session = broker.initiate_session(
            "contract", filename="a.pdf", content_type=CONTENT_TYPE, size=10
        )
        broker.sign_url(session.id)
        with pytest.raises(StorageObjectMissing):
            broker.verify_completion(session.id)
        fail_unless(
            broker.get_session(session.id).state is SessionState.SIGNED, "the session moved"
        )

    def test_download_url_serves_the_verified_type(
        self: BrokerSelf,
        adapter: StorageAdapter,
        broker: Broker,
        upload_client: UploadClient,
        http_client: httpx.Client,
    ) -> None:
        self.require_single_put(adapter)
        self.require(adapter, Capability.SIGNED_GET)
        data = pdf(5000)
        session_id, _ = self.upload_single(broker, upload_client, data, name="report.pdf")
        asset = broker.get_asset(broker.verify_completion(session_id).asset.id)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )

        request = broker.download_url(asset.id, disposition="attachment")
        response = http_client.request(request.method, request.url, headers=dict(request.headers))
        fail_unless(
            response.status_code == 200, f"the download URL answered {response.status_code}"
        )
        fail_unless(response.content == data, "the download URL served other bytes")
        if self.sets_response_headers:
            served = response.headers.get("content-type", "").split(";")[0].strip()
            fail_unless(served == CONTENT_TYPE, f"served as {served!r}")
            disposition = response.headers.get("content-disposition", "")
            fail_unless(
                disposition.startswith("attachment") and "report.pdf" in disposition,
                f"Content-Disposition is {disposition!r}",
            )

    def test_a_body_of_another_type_is_quarantined(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker, upload_client: UploadClient
    ) -> None:
        self.require_single_put(adapter)
        session_id, _ = self.upload_single(broker, upload_client, PNG + os.urandom(50_000))
        asset = broker.get_asset(broker.verify_completion(session_id).asset.id)
        fail_unless(asset.state is AssetState.QUARANTINED, f"a PNG sent as a PDF is {asset.state}")
        fail_unless(bool(asset.quarantine_reason), "quarantined without a reason")

    @pytest.mark.parametrize("forged", ["content_type", "length"])
    def test_a_put_with_other_headers_than_signed_never_becomes_available(
        self: BrokerSelf,
        adapter: StorageAdapter,
        broker: Broker,
        upload_client: UploadClient,
        forged: Literal["content_type", "length"],
    ) -> None:
        """Either the server refuses it, or promotion sees what storage holds."""
        self.require_single_put(adapter)
        size = 5000
        session = broker.initiate_session(
            "contract", filename="a.pdf", content_type=CONTENT_TYPE, size=size
        )
        signed = broker.sign_url(session.id).presigned
        headers = dict(signed.headers)
        data = pdf(size)
        if forged == "content_type":
            for name in [n for n in headers if n.lower() == "content-type"]:
                headers[name] = "image/png"
        else:
            data = pdf(size + 100)
        forgery = PresignedRequest(url=signed.url, method=signed.method, headers=headers)
        try:
            upload_client.put_bytes(forgery, data)
        except TransferFailed:
            with pytest.raises(StorageObjectMissing):  # refused: nothing was stored
                broker.verify_completion(session.id)
            return
        asset = broker.get_asset(broker.verify_completion(session.id).asset.id)
        fail_unless(
            asset.state is AssetState.QUARANTINED, f"a forged {forged} left it {asset.state}"
        )
        fail_unless(bool(asset.quarantine_reason), "quarantined without a reason")

    def test_the_url_cannot_replace_a_verified_object(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker, upload_client: UploadClient
    ) -> None:
        self.require_single_put(adapter)
        if not self.enforces_create_only:
            pytest.skip("this server does not refuse an upload over an existing object")
        data = pdf(4096)
        session_id, presigned = self.upload_single(broker, upload_client, data)
        asset = broker.get_asset(broker.verify_completion(session_id).asset.id)
        fail_unless(
            asset.state is AssetState.AVAILABLE, f"asset {asset.state}: {asset.quarantine_reason}"
        )
        page = b"<html><script>alert(document.domain)</script></html>".ljust(len(data), b" ")
        with pytest.raises(TransferFailed) as refused:
            upload_client.put_bytes(presigned, page)
        status = refused.value.status
        fail_unless(status is not None and 400 <= status < 500, f"the second PUT got HTTP {status}")
        fail_unless(stored(adapter, asset.storage_key) == data, "the second PUT changed the object")
        fail_unless(
            adapter.head(asset.storage_key).version == asset.stored_version, "a new version"
        )
        fail_unless(broker.get_asset(asset.id).state is AssetState.AVAILABLE, "the asset moved")

    def test_an_object_replaced_before_promotion_is_quarantined(
        self: BrokerSelf,
        adapter: StorageAdapter,
        make_broker: BrokerContract.BrokerFactory,
        upload_client: UploadClient,
    ) -> None:
        self.require_single_put(adapter)
        self.require(adapter, Capability.DELETE)
        broker = make_broker(job_mode="worker")
        data = pdf(4096)
        session_id, _ = self.upload_single(broker, upload_client, data)
        verified = broker.verify_completion(session_id)
        fail_unless(verified.asset.state is AssetState.VALIDATING, f"asset {verified.asset.state}")
        key = verified.asset.storage_key
        adapter.delete(key)  # someone swaps the object between verification and promotion
        replacement = adapter.presign_put(
            key, content_type=CONTENT_TYPE, content_length=len(data), expires_in=600
        )
        upload_client.put_bytes(replacement, pdf(len(data)))
        broker.run_jobs()
        asset = broker.get_asset(verified.asset.id)
        fail_unless(
            asset.state is AssetState.QUARANTINED, f"a replaced object became {asset.state}"
        )
        reason = asset.quarantine_reason or ""
        fail_unless(reason.startswith("object_changed"), f"quarantined for {reason!r}")

    def test_expiry_deletes_an_unverified_upload(
        self: BrokerSelf, adapter: StorageAdapter, broker: Broker, upload_client: UploadClient
    ) -> None:
        self.require_single_put(adapter)
        self.require(adapter, Capability.DELETE)
        session_id, _ = self.upload_single(broker, upload_client, pdf(2000))
        key = broker.get_session(session_id).storage_key
        report = broker.expire_sessions(now=dt.datetime.now(dt.UTC) + SOME_TIME_LATER)
        fail_unless(session_id in report.expired_session_ids, "the session did not expire")
        fail_unless(report.cleanup_failures == 0, f"{report.cleanup_failures} cleanups failed")
        fail_unless(report.objects_deleted >= 1, "expiry deleted no object")
        fail_unless(broker.get_session(session_id).state is SessionState.EXPIRED, "not expired")
        assert_no_object(adapter, key)
