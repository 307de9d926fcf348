"""SAS signing: the stdlib signer equals the SDK's, and Azurite enforces every token."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobSasPermissions, UserDelegationKey, generate_blob_sas
from hypothesis import given, settings
from hypothesis import strategies as st

from rindle_azure import AzureBlobStorage, SharedKeySigner, UserDelegationSigner
from rindle_core import InvalidArgument, PresignedRequest, StorageError, TransferFailed
from rindle_core.client import UploadClient

if TYPE_CHECKING:
    from conftest import Azurite

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
UTC = dt.UTC

BLOB_NAMES = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=100
)
#: Printable text with quotes, semicolons and non-ASCII (quoting must match the SDK's).
HEADER_VALUES = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=60
)
EXPIRIES = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2199, 1, 1), timezones=st.just(UTC)
)


def _sdk_version() -> str:
    """The service version generate_blob_sas signs with (read from its own output)."""
    token = generate_blob_sas(
        "a", "c", "b", account_key=KEY, permission="r", expiry=dt.datetime(2030, 1, 1)
    )
    return dict(p.split("=", 1) for p in token.split("&"))["sv"]


SDK_VERSION = _sdk_version()


@settings(max_examples=200, deadline=None)
@given(
    blob=BLOB_NAMES,
    container=st.from_regex(r"[a-z0-9]{3,20}", fullmatch=True),
    account=st.from_regex(r"[a-z0-9]{3,24}", fullmatch=True),
    permission=st.sampled_from(["r", "c", "w", "cw", "rcw", "d"]),
    expiry=EXPIRIES,
    protocol=st.sampled_from([None, "https"]),
    content_type=st.one_of(st.none(), st.sampled_from(["image/png", "text/plain; charset=utf-8"])),
    content_disposition=st.one_of(st.none(), HEADER_VALUES),
)
def test_stdlib_signer_matches_generate_blob_sas(
    blob: str,
    container: str,
    account: str,
    permission: str,
    expiry: dt.datetime,
    protocol: str | None,
    content_type: str | None,
    content_disposition: str | None,
) -> None:
    """Byte-identical tokens, response overrides (``rsct`` / ``rscd``) included."""
    signer = SharedKeySigner(account, KEY, protocol=protocol, version=SDK_VERSION)
    extra: dict[str, Any] = {"protocol": protocol} if protocol else {}
    expected = generate_blob_sas(
        account,
        container,
        blob,
        account_key=KEY,
        permission=permission,
        expiry=expiry,
        content_type=content_type,
        content_disposition=content_disposition,
        **extra,
    )
    ours = signer.blob_sas(
        container,
        blob,
        permission=permission,
        expiry=expiry,
        content_type=content_type,
        content_disposition=content_disposition,
    )
    assert ours == expected


def test_adapter_tokens_equal_the_sdks(azurite: Azurite, key: str) -> None:
    """Single PUT: ``create=True`` only; GET: ``read=True`` with the response overrides."""
    signer = SharedKeySigner(azurite.account, azurite.account_key, version=SDK_VERSION)
    storage = AzureBlobStorage(azurite.service().get_container_client("uploads"), signer)
    put = storage.presign_put(key, content_type="image/png", content_length=1, expires_in=60)
    get = storage.presign_get(
        key, expires_in=60, content_type="image/png", content_disposition="attachment"
    )
    cases: list[tuple[PresignedRequest, BlobSasPermissions, dict[str, Any]]] = [
        (put, BlobSasPermissions(create=True), {}),
        (get, BlobSasPermissions(read=True), {"content_type": "image/png",
                                              "content_disposition": "attachment"}),
    ]  # fmt: skip
    for request, permission, overrides in cases:
        assert request.expires_at is not None
        token = generate_blob_sas(
            azurite.account,
            "uploads",
            key,
            account_key=azurite.account_key,
            permission=permission,
            expiry=request.expires_at,
            **overrides,
        )
        assert request.url.partition("?")[2] == token


def test_expiry_in_another_timezone_is_converted_to_utc() -> None:
    signer = SharedKeySigner("acct", KEY)
    paris = dt.timezone(dt.timedelta(hours=1))
    local = dt.datetime(2030, 1, 1, 13, 0, 0, tzinfo=paris)
    token = signer.blob_sas("c", "b", permission="r", expiry=local)
    assert "se=2030-01-01T12%3A00%3A00Z" in token


def test_signer_rejects_a_bad_key_and_hides_the_key() -> None:
    with pytest.raises(ValueError, match="base64") as info:
        SharedKeySigner("acct", "not base64!")
    assert "not base64!" not in str(info.value)
    with pytest.raises(ValueError):
        SharedKeySigner("acct", "")
    signer = SharedKeySigner("acct", KEY)
    assert KEY not in repr(signer) and "REDACTED" in repr(signer)


# -- user delegation --------------------------------------------------------------


class _FakeService:
    """Stands in for a token-authenticated BlobServiceClient."""

    account_name = "acct"

    def __init__(self) -> None:
        self.calls: list[tuple[dt.datetime, dt.datetime]] = []

    def get_user_delegation_key(self, start: dt.datetime, expiry: dt.datetime) -> UserDelegationKey:
        self.calls.append((start, expiry))
        key = UserDelegationKey()  # type: ignore[no-untyped-call]
        key.signed_oid = "00000000-0000-0000-0000-000000000001"
        key.signed_tid = "00000000-0000-0000-0000-000000000002"
        key.signed_start = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_expiry = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_service = "b"
        key.signed_version = "2025-11-05"
        key.value = KEY
        return key


def test_user_delegation_key_is_cached_and_renewed() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=UTC)
    clock = [now]
    service = _FakeService()
    signer = UserDelegationSigner(
        service,  # type: ignore[arg-type]
        key_lifetime=dt.timedelta(hours=6),
        clock=lambda: clock[0],
    )
    token = signer.blob_sas("c", "b", permission="w", expiry=now + dt.timedelta(hours=1))
    assert "skoid=00000000-0000-0000-0000-000000000001" in token and "sig=" in token
    signer.blob_sas("c", "b2", permission="r", expiry=now + dt.timedelta(hours=2))
    assert len(service.calls) == 1  # cached
    clock[0] = now + dt.timedelta(hours=5, minutes=50)  # within the renewal margin
    signer.blob_sas("c", "b", permission="w", expiry=clock[0] + dt.timedelta(minutes=5))
    assert len(service.calls) == 2
    clock[0] = now + dt.timedelta(hours=6)
    signer.blob_sas("c", "b", permission="w", expiry=clock[0] + dt.timedelta(hours=20))
    assert len(service.calls) == 3
    assert service.calls[-1][1] >= clock[0] + dt.timedelta(hours=20)  # the key outlives the SAS
    assert KEY not in repr(signer)


def test_user_delegation_sas_lives_up_to_seven_days() -> None:
    """The adapter's ``max_expires_in`` (7 days) is signable; longer is InvalidArgument."""
    now = dt.datetime(2030, 1, 1, tzinfo=UTC)
    service = _FakeService()
    signer = UserDelegationSigner(service, clock=lambda: now)  # type: ignore[arg-type]
    week = now + dt.timedelta(days=7)
    signer.blob_sas("c", "b", permission="r", expiry=week)
    signer.blob_sas("c", "b2", permission="r", expiry=week)
    assert len(service.calls) == 1  # one key covers both
    assert service.calls[0][1] == week  # as long as Azure allows, and the SAS fits in it
    with pytest.raises(InvalidArgument, match="7 days"):
        signer.blob_sas("c", "b", permission="r", expiry=week + dt.timedelta(seconds=1))


class _FailingService(_FakeService):
    def get_user_delegation_key(self, start: dt.datetime, expiry: dt.datetime) -> UserDelegationKey:
        error = HttpResponseError(message=f"AuthorizationFailure sig={KEY}")
        error.status_code = 403
        raise error


def test_a_refused_delegation_key_is_a_storage_error_without_the_sdk_text() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=UTC)
    signer = UserDelegationSigner(_FailingService(), clock=lambda: now)  # type: ignore[arg-type]
    with pytest.raises(StorageError) as info:
        signer.blob_sas("c", "b", permission="r", expiry=now + dt.timedelta(hours=1))
    assert "HTTP 403" in str(info.value)
    assert KEY not in str(info.value) and info.value.__cause__ is None


# -- Azurite enforces the tokens -------------------------------------------------------


def _put(client: UploadClient, url: str, data: bytes = b"data") -> None:
    client.put_bytes(
        PresignedRequest(url=url, method="PUT", headers={"x-ms-blob-type": "BlockBlob"}), data
    )


def _signed_url(azurite: Azurite, container: str, blob: str, sas: str) -> str:
    return f"{azurite.blob_endpoint}/{container}/{blob}?{sas}"


def test_tampered_signature_is_refused(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    request = adapter.presign_put(key, content_type="text/plain", content_length=4, expires_in=60)
    base, _, sig = request.url.rpartition("&sig=")
    flipped = ("B" if sig[0] != "B" else "C") + sig[1:]
    with pytest.raises(TransferFailed) as info:
        upload_client.put_bytes(
            PresignedRequest(url=f"{base}&sig={flipped}", method="PUT", headers=request.headers),
            b"data",
        )
    assert info.value.status == 403
    assert sig not in str(info.value)


def test_widened_permissions_are_refused(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    request = adapter.presign_get(key, expires_in=60)
    widened = request.url.replace("sp=r&", "sp=rcw&")
    assert widened != request.url
    with pytest.raises(TransferFailed) as info:
        upload_client.put_bytes(
            PresignedRequest(url=widened, method="PUT", headers={"x-ms-blob-type": "BlockBlob"}),
            b"data",
        )
    assert info.value.status == 403


def test_expired_token_is_refused(
    azurite: Azurite, adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    signer = SharedKeySigner(azurite.account, azurite.account_key)
    past = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    sas = signer.blob_sas(adapter.container_name, key, permission="cw", expiry=past)
    with pytest.raises(TransferFailed) as info:
        _put(upload_client, _signed_url(azurite, adapter.container_name, key, sas))
    assert info.value.status == 403
    # The same token with a future expiry works: the expiry is what was refused.
    future = dt.datetime.now(UTC) + dt.timedelta(minutes=5)
    sas = signer.blob_sas(adapter.container_name, key, permission="cw", expiry=future)
    _put(upload_client, _signed_url(azurite, adapter.container_name, key, sas))


def test_token_for_another_blob_is_refused(
    azurite: Azurite, adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    request = adapter.presign_put(key, content_type="text/plain", content_length=4, expires_in=60)
    query = request.url.partition("?")[2]
    with pytest.raises(TransferFailed) as info:
        _put(upload_client, _signed_url(azurite, adapter.container_name, key + ".other", query))
    assert info.value.status == 403
    part = adapter.presign_part(
        key, adapter.create_multipart(key, content_type="text/plain").upload_id, 1, expires_in=60
    )
    moved = part.url.replace(f"/{adapter.container_name}/", f"/{adapter.container_name}/x", 1)
    with pytest.raises(TransferFailed) as info:
        upload_client.put_bytes(PresignedRequest(url=moved, method="PUT"), b"data")
    assert info.value.status == 403


def test_read_only_token_cannot_write(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_client.put_bytes(
        adapter.presign_put(key, content_type="text/plain", content_length=3, expires_in=60), b"old"
    )
    read = adapter.presign_get(key, expires_in=60)
    with pytest.raises(TransferFailed) as info:
        _put(upload_client, read.url, b"new")
    assert info.value.status == 403
    assert httpx.get(read.url).content == b"old"


def test_write_tokens_cannot_read_or_delete(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    put = adapter.presign_put(key, content_type="text/plain", content_length=3, expires_in=60)
    upload_client.put_bytes(put, b"abc")
    part = adapter.presign_part(
        key, adapter.create_multipart(key, content_type="text/plain").upload_id, 1, expires_in=60
    )
    for url in (put.url, part.url.replace("comp=block&", "", 1)):
        assert httpx.get(url).status_code == 403
        assert httpx.delete(url).status_code == 403
    assert adapter.head(key).size == 3
