"""What the storage contract checks of one object: signed PUT and GET, create-only, reads.

Mixed into :class:`rindle_core.testing.StorageAdapterContract`; each check's
``self`` is that contract, as :class:`ContractSelf` describes it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urlsplit

import httpx
import pytest

from ._contract_helpers import assert_no_secrets, fail_unless, payload, secret_query_values
from ._errors import StorageConflict, StorageError, StorageNotFound, TransferFailed
from .client import UploadClient
from .storage import (
    Capability,
    HeadResult,
    MultipartStorage,
    PresignedRequest,
    ResumableStorage,
    StorageAdapter,
    capabilities_of,
)

__all__ = [
    "ContractSelf",
    "ObjectChecks",
    "assert_refused",
    "assert_unchanged",
    "require_create_only",
    "require_header_binding",
    "require_signature_checks",
]


class ContractSelf(Protocol):
    """What the checks use of :class:`~rindle_core.testing.StorageAdapterContract`."""

    @property
    def checks_signatures(self) -> bool: ...
    @property
    def binds_content_headers(self) -> bool | None: ...
    @property
    def enforces_create_only(self) -> bool: ...
    @property
    def enforces_expiry(self) -> bool | None: ...
    @property
    def sets_response_headers(self) -> bool: ...
    @property
    def verifies_part_checksums(self) -> bool: ...
    @property
    def content_type(self) -> str: ...
    @property
    def other_content_type(self) -> str: ...
    @property
    def expires_in(self) -> int: ...

    def key(self) -> str: ...

    def require(self, adapter: StorageAdapter, *capabilities: Capability) -> None: ...

    def require_multipart(self, adapter: StorageAdapter, *also: Capability) -> MultipartStorage: ...

    def require_resumable(self, adapter: StorageAdapter, *also: Capability) -> ResumableStorage: ...

    def store(
        self,
        adapter: StorageAdapter,
        client: UploadClient,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
    ) -> None: ...


class ObjectChecks:
    """Signed uploads and downloads of single objects, and reading them back."""

    # -- presigned PUT --------------------------------------------------------------

    def test_presign_put_describes_a_bound_request(
        self: ContractSelf, adapter: StorageAdapter
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT)
        before = dt.datetime.now(dt.UTC)
        request = adapter.presign_put(
            self.key(), content_type=self.content_type, content_length=10, expires_in=300
        )
        fail_unless(request.method == "PUT", f"method is {request.method!r}")
        fail_unless(urlsplit(request.url).scheme in ("http", "https"), "the URL is not http(s)")
        headers = {k.lower(): v for k, v in request.headers.items()}
        fail_unless(
            headers.get("content-type") == self.content_type,
            "the request's headers must carry the signed Content-Type",
        )
        expires_at = request.expires_at
        fail_unless(expires_at is not None and expires_at.tzinfo is not None, "expires_at naive")
        assert expires_at is not None
        fail_unless(before < expires_at <= before + dt.timedelta(seconds=360), "bad expires_at")

    def test_presigned_put_then_head(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key, data = self.key(), payload(1000, seed=1)
        self.store(adapter, upload_client, key, data)
        head = adapter.head(key)
        fail_unless(isinstance(head, HeadResult), "head must return a HeadResult")
        fail_unless(head.size == len(data), f"head.size is {head.size}, expected {len(data)}")
        fail_unless(
            head.content_type == self.content_type, f"content_type is {head.content_type!r}"
        )

    def test_empty_object_roundtrip(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key = self.key()
        self.store(adapter, upload_client, key, b"")
        fail_unless(adapter.head(key).size == 0, "an empty upload must give a zero-byte object")

    # -- create-only, versions, expiry ----------------------------------------------

    def test_second_put_with_the_same_url_is_refused(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        require_create_only(self)
        key, first = self.key(), payload(100, seed=2)
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=len(first), expires_in=600
        )
        upload_client.put_bytes(request, first)
        before = adapter.head(key)
        assert_refused(upload_client, request, payload(100, seed=3), secret_query_values(request))
        assert_unchanged(adapter, key, before, first)

    def test_fresh_url_for_an_existing_key_is_refused(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        require_create_only(self)
        key, first = self.key(), payload(64, seed=20)
        self.store(adapter, upload_client, key, first)
        before = adapter.head(key)
        again = adapter.presign_put(
            key, content_type=self.content_type, content_length=64, expires_in=600
        )
        assert_refused(upload_client, again, payload(64, seed=21), secret_query_values(again))
        assert_unchanged(adapter, key, before, first)

    def test_expired_url_is_refused(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        enforces = self.enforces_expiry
        if not (self.checks_signatures if enforces is None else enforces):
            pytest.skip("the server does not check URL expiry (enforces_expiry = False)")
        key = self.key()
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=4, expires_in=1
        )
        time.sleep(2.5)
        assert_refused(upload_client, request, b"late", secret_query_values(request))
        with pytest.raises(StorageNotFound):
            adapter.head(key)

    def test_head_reports_a_version_that_changes_on_replacement(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD, Capability.DELETE)
        key = self.key()
        self.store(adapter, upload_client, key, payload(50, seed=22))
        first = adapter.head(key).version
        fail_unless(bool(first), "head must report a version (the object's fingerprint)")
        fail_unless(adapter.head(key).version == first, "the version of an unchanged object moved")
        adapter.delete(key)
        self.store(adapter, upload_client, key, payload(50, seed=23))
        fail_unless(adapter.head(key).version != first, "a replaced object kept its version")

    def test_read_range_bound_to_a_stale_version_is_refused(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.RANGE_READ, Capability.DELETE)
        self.require(adapter, Capability.HEAD)
        key, data = self.key(), payload(40, seed=24)
        self.store(adapter, upload_client, key, payload(40, seed=25))
        stale = adapter.head(key).version
        adapter.delete(key)
        self.store(adapter, upload_client, key, data)
        current = adapter.head(key).version
        fail_unless(adapter.read_range(key, 0, 40, version=current) == data, "bound read differs")
        fail_unless(adapter.read_range(key, 40, 5, version=current) == b"", "read past the end")
        # Empty reads (zero length, past the end) still check the version.
        for start, length in ((0, 40), (0, 0), (40, 5)):
            with pytest.raises(StorageConflict):
                adapter.read_range(key, start, length, version=stale)

    def test_missing_bucket_is_not_a_missing_object(
        self: ContractSelf, missing_bucket_adapter: StorageAdapter
    ) -> None:
        adapter, key = missing_bucket_adapter, self.key()
        calls: list[tuple[str, Callable[[], object]]] = []
        offered = capabilities_of(adapter)
        if Capability.HEAD in offered:
            calls.append(("head", lambda: adapter.head(key)))
        if Capability.RANGE_READ in offered:
            calls.append(("read_range", lambda: adapter.read_range(key, 0, 1)))
        if Capability.DELETE in offered:
            calls.append(("delete", lambda: adapter.delete(key)))
        if not calls:
            pytest.skip(f"{adapter.backend} declares no call that reads the bucket")
        for name, call in calls:
            with pytest.raises(StorageError) as caught:
                call()
            fail_unless(
                not isinstance(caught.value, StorageNotFound),
                f"{name} against a missing bucket raised StorageNotFound",
            )

    def test_presigned_put_refuses_another_content_type(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        require_header_binding(self)
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key = self.key()
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=4, expires_in=self.expires_in
        )
        forged = PresignedRequest(
            url=request.url,
            method=request.method,
            headers={
                **_without(request.headers, "content-type"),
                "Content-Type": self.other_content_type,
            },
        )
        assert_refused(upload_client, forged, b"data", secret_query_values(request))
        with pytest.raises(StorageNotFound):
            adapter.head(key)

    def test_presigned_put_refuses_a_longer_body(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        require_header_binding(self)
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key = self.key()
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=4, expires_in=self.expires_in
        )
        assert_refused(upload_client, request, b"data+", secret_query_values(request))
        with pytest.raises(StorageNotFound):
            adapter.head(key)

    def test_presigned_put_refuses_a_tampered_signature(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        require_signature_checks(self)
        self.require(adapter, Capability.PRESIGNED_PUT, Capability.HEAD)
        key = self.key()
        request = adapter.presign_put(
            key, content_type=self.content_type, content_length=4, expires_in=self.expires_in
        )
        tampered = PresignedRequest(
            url=_tamper_longest_query_value(request.url),
            method=request.method,
            headers=request.headers,
        )
        assert_refused(upload_client, tampered, b"data", secret_query_values(request))
        with pytest.raises(StorageNotFound):
            adapter.head(key)

    # -- HEAD / RANGE_READ / DELETE ---------------------------------------------------

    def test_head_of_missing_key_raises_not_found(
        self: ContractSelf, adapter: StorageAdapter
    ) -> None:
        self.require(adapter, Capability.HEAD)
        with pytest.raises(StorageNotFound):
            adapter.head(self.key())

    def test_read_range_returns_exact_bytes(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.RANGE_READ)
        key, data = self.key(), payload(4096, seed=4)
        self.store(adapter, upload_client, key, data)
        fail_unless(adapter.read_range(key, 0, 16) == data[:16], "first bytes differ")
        fail_unless(adapter.read_range(key, 1000, 100) == data[1000:1100], "middle bytes differ")
        fail_unless(adapter.read_range(key, 0, len(data)) == data, "whole object differs")

    def test_read_range_clips_at_the_end(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.RANGE_READ)
        key, data = self.key(), payload(100, seed=5)
        self.store(adapter, upload_client, key, data)
        fail_unless(adapter.read_range(key, 90, 50) == data[90:], "a range past the end must clip")
        fail_unless(adapter.read_range(key, 100, 10) == b"", "a range at the end must be empty")
        fail_unless(adapter.read_range(key, 150, 10) == b"", "a range past the end must be empty")
        fail_unless(adapter.read_range(key, 10, 0) == b"", "a zero-length read must be empty")

    def test_read_range_of_missing_key_raises_not_found(
        self: ContractSelf, adapter: StorageAdapter
    ) -> None:
        self.require(adapter, Capability.RANGE_READ)
        with pytest.raises(StorageNotFound):
            adapter.read_range(self.key(), 0, 10)

    def test_zero_length_read_of_missing_key_raises_not_found(
        self: ContractSelf, adapter: StorageAdapter
    ) -> None:
        self.require(adapter, Capability.RANGE_READ)
        with pytest.raises(StorageNotFound):
            adapter.read_range(self.key(), 0, 0)

    def test_delete_removes_and_is_idempotent(
        self: ContractSelf, adapter: StorageAdapter, upload_client: UploadClient
    ) -> None:
        self.require(adapter, Capability.DELETE, Capability.HEAD)
        key = self.key()
        self.store(adapter, upload_client, key, payload(10, seed=6))
        adapter.delete(key)
        with pytest.raises(StorageNotFound):
            adapter.head(key)
        adapter.delete(key)

    def test_delete_of_a_never_stored_key_succeeds(
        self: ContractSelf, adapter: StorageAdapter
    ) -> None:
        self.require(adapter, Capability.DELETE)
        adapter.delete(self.key())

    # -- SIGNED_GET ---------------------------------------------------------------------

    def test_presign_get_downloads_the_bytes(
        self: ContractSelf,
        adapter: StorageAdapter,
        upload_client: UploadClient,
        http_client: httpx.Client,
    ) -> None:
        self.require(adapter, Capability.SIGNED_GET)
        key, data = self.key(), payload(2000, seed=7)
        self.store(adapter, upload_client, key, data)
        request = adapter.presign_get(key, expires_in=self.expires_in)
        fail_unless(request.method == "GET", f"method is {request.method!r}")
        response = http_client.request("GET", request.url, headers=dict(request.headers))
        fail_unless(response.status_code == 200, f"signed GET returned {response.status_code}")
        fail_unless(response.content == data, "signed GET returned other bytes")

    def test_presign_get_serves_the_given_type_and_disposition(
        self: ContractSelf,
        adapter: StorageAdapter,
        upload_client: UploadClient,
        http_client: httpx.Client,
    ) -> None:
        self.require(adapter, Capability.SIGNED_GET, Capability.HEAD)
        if not self.sets_response_headers:
            pytest.skip("this backend's URLs cannot set response headers")
        key, data = self.key(), payload(300, seed=26)
        self.store(adapter, upload_client, key, data)
        version = adapter.head(key).version
        request = adapter.presign_get(
            key,
            expires_in=self.expires_in,
            version=version,
            content_type="text/plain",
            content_disposition='attachment; filename="report.txt"',
        )
        response = http_client.request("GET", request.url, headers=dict(request.headers))
        fail_unless(response.status_code == 200, f"signed GET returned {response.status_code}")
        fail_unless(response.content == data, "signed GET returned other bytes")
        served = response.headers.get("content-type", "").split(";")[0].strip()
        fail_unless(served == "text/plain", f"served as {served!r}, not text/plain")
        disposition = response.headers.get("content-disposition", "")
        fail_unless(disposition.startswith("attachment"), f"Content-Disposition: {disposition!r}")


def require_create_only(kit: ContractSelf) -> None:
    """Skip unless the server enforces create-only uploads."""
    if not kit.enforces_create_only:
        pytest.skip("the server cannot enforce create-only uploads (enforces_create_only)")


def require_signature_checks(kit: ContractSelf) -> None:
    """Skip unless the server checks signatures."""
    if not kit.checks_signatures:
        pytest.skip("the server does not check signatures (checks_signatures = False)")


def require_header_binding(kit: ContractSelf) -> None:
    """Skip unless signatures are checked and bind the request's headers."""
    require_signature_checks(kit)
    if kit.binds_content_headers is False:
        pytest.skip("this backend's signatures cannot bind request headers")


def assert_unchanged(adapter: StorageAdapter, key: str, before: HeadResult, data: bytes) -> None:
    """*key* still holds *data*, with the size and version of *before*."""
    after = adapter.head(key)
    fail_unless(after.size == before.size, f"a refused upload changed the size to {after.size}")
    fail_unless(after.version == before.version, "a refused upload changed the version")
    if Capability.RANGE_READ in capabilities_of(adapter):
        fail_unless(adapter.read_range(key, 0, len(data)) == data, "a refused upload wrote bytes")


def assert_refused(
    client: UploadClient, request: PresignedRequest, data: bytes, secrets: list[str]
) -> None:
    """Sending *data* with *request* is answered 4xx, with no secret in the error."""
    with pytest.raises(TransferFailed) as caught:
        client.put_bytes(request, data)
    status = caught.value.status
    fail_unless(status is not None and 400 <= status < 500, f"expected a 4xx, got {status}")
    assert_no_secrets(str(caught.value), secrets, what="TransferFailed's message")


def _without(headers: Mapping[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != name}


def _tamper_longest_query_value(url: str) -> str:
    """*url* with one character of its longest raw query value changed."""
    parts = urlsplit(url)
    fields = parts.query.split("&")
    index = max(range(len(fields)), key=lambda i: len(fields[i].partition("=")[2]))
    name, _, value = fields[index].partition("=")
    middle = len(value) // 2
    for pos in [*range(middle, len(value)), *range(middle)]:
        if value[pos].isalnum():
            replacement = "A" if value[pos] != "A" else "B"
            if value[pos].isdigit():
                replacement = "1" if value[pos] != "1" else "2"
            elif value[pos].islower():
                replacement = "a" if value[pos] != "a" else "b"
            value = value[:pos] + replacement + value[pos + 1 :]
            break
    fields[index] = f"{name}={value}"
    return parts._replace(query="&".join(fields)).geturl()
