"""Create-only uploads: no URL rindle signs, and no commit it makes, replaces a stored blob.

Single uploads carry SAS permission ``c``: Azure answers 403
(AuthorizationPermissionMismatch) when the blob exists. The broker's Put
Block List carries ``If-None-Match: *``. Azurite enforces both, so these
are tested against it (signature identity with the SDK is in
``test_azure_sas.py``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from azure.core import MatchConditions

from rindle_azure import AzureBlobStorage, SharedKeySigner, create_storage
from rindle_core import (
    ConfigurationError,
    StorageConflict,
    StorageNotFound,
    TransferFailed,
    UploadedPart,
)
from rindle_core.client import UploadClient

if TYPE_CHECKING:
    from conftest import Azurite

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
HTML = b"<html><script>alert(document.cookie)</script></html>"


def test_single_put_urls_carry_the_create_permission(adapter: AzureBlobStorage, key: str) -> None:
    request = adapter.presign_put(key, content_type="image/png", content_length=5, expires_in=60)
    assert "&sp=c&" in request.url


def test_a_second_put_with_the_same_url_is_refused(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    """Issue 9, fault 1: HTML in place of a verified PNG with the still-valid URL."""
    data = PNG + os.urandom(len(HTML) - len(PNG))
    request = adapter.presign_put(
        key, content_type="image/png", content_length=len(data), expires_in=300
    )
    upload_client.put_bytes(request, data)
    verified = adapter.head(key)
    with pytest.raises(TransferFailed) as info:
        upload_client.put_bytes(request, HTML)  # same length, other bytes
    assert info.value.status == 403
    after = adapter.head(key)
    assert (after.version, after.content_type) == (verified.version, "image/png")
    assert adapter.read_range(key, 0, len(data)) == data


def test_a_fresh_url_for_an_existing_blob_is_refused(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    first = adapter.presign_put(key, content_type="text/plain", content_length=5, expires_in=60)
    upload_client.put_bytes(first, b"first")
    again = adapter.presign_put(key, content_type="text/plain", content_length=5, expires_in=60)
    with pytest.raises(TransferFailed) as info:
        upload_client.put_bytes(again, b"swap!")
    assert info.value.status == 403
    assert adapter.read_range(key, 0, 5) == b"first"


def test_a_deleted_blob_can_be_created_again(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    """Create-only is about existence: a URL still valid after a delete creates anew.

    (Core repeats cleanup of aborted sessions after their last URL expired.)
    """
    request = adapter.presign_put(key, content_type="text/plain", content_length=1, expires_in=60)
    upload_client.put_bytes(request, b"a")
    adapter.delete(key)
    upload_client.put_bytes(request, b"b")
    assert adapter.read_range(key, 0, 1) == b"b"


@pytest.mark.parametrize("value", [False, "yes", 0])
def test_create_only_cannot_be_turned_off(azurite: Azurite, value: object) -> None:
    with pytest.raises(ConfigurationError, match="create_only"):
        create_storage(
            container="uploads", connection_string=azurite.connection_string, create_only=value
        )
    signer = SharedKeySigner(azurite.account, azurite.account_key)
    with pytest.raises(ConfigurationError, match="create_only"):
        AzureBlobStorage(
            azurite.service().get_container_client("uploads"), signer, create_only=False
        )


def test_create_only_true_is_still_accepted(azurite: Azurite, container_name: str) -> None:
    storage = create_storage(
        container=container_name, connection_string=azurite.connection_string, create_only=True
    )
    request = storage.presign_put("k", content_type="text/plain", content_length=1, expires_in=60)
    assert "&sp=c&" in request.url


# -- the broker's commit ---------------------------------------------------------------------


def _staged_upload(adapter: AzureBlobStorage, client: UploadClient, key: str, data: bytes) -> str:
    upload_id = adapter.create_multipart(key, content_type="text/plain").upload_id
    client.put_bytes(adapter.presign_part(key, upload_id, 1, expires_in=60), data)
    return upload_id


def test_complete_refuses_a_blob_someone_else_created(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_id = _staged_upload(adapter, upload_client, key, b"mine")
    other = adapter.presign_put(key, content_type="text/plain", content_length=6, expires_in=60)
    upload_client.put_bytes(other, b"theirs")
    before = adapter.head(key).version
    with pytest.raises(StorageConflict):
        adapter.complete_multipart(key, upload_id, [UploadedPart(1)], content_type="text/plain")
    assert adapter.head(key).version == before
    assert adapter.read_range(key, 0, 10) == b"theirs"


def test_complete_refuses_another_uploads_commit(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    first = _staged_upload(adapter, upload_client, key, b"one")
    second = _staged_upload(adapter, upload_client, key, b"two")
    adapter.complete_multipart(key, first, [UploadedPart(1)], content_type="text/plain")
    with pytest.raises(StorageConflict):
        adapter.complete_multipart(key, second, [UploadedPart(1)], content_type="text/plain")
    assert adapter.read_range(key, 0, 3) == b"one"


def test_complete_with_nothing_staged_over_a_foreign_blob_is_a_conflict(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    """Before: StorageNotFound, and the broker "converged" on whatever blob was there."""
    upload_id = adapter.create_multipart(key, content_type="text/plain").upload_id
    put = adapter.presign_put(key, content_type="text/plain", content_length=5, expires_in=60)
    upload_client.put_bytes(put, b"alien")
    with pytest.raises(StorageConflict):
        adapter.complete_multipart(key, upload_id, [UploadedPart(1)], content_type="text/plain")


def test_a_commit_whose_answer_was_lost_is_not_a_conflict(
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK retries a commit whose answer timed out; If-None-Match then answers 409.

    The adapter recognises its own commit (same parts, same type) and succeeds.
    """
    upload_id = _staged_upload(adapter, upload_client, key, b"data")
    parts = [UploadedPart(1, None, 4)]
    real = adapter._staged
    calls = iter([{1: 4}])  # the staged list seen before the (already applied) commit

    def staged_then_committed(k: str, u: str, op: str) -> dict[int, int]:
        return next(calls, None) or real(k, u, op)

    adapter.complete_multipart(key, upload_id, parts, content_type="text/plain")
    monkeypatch.setattr(adapter, "_staged", staged_then_committed)
    adapter.complete_multipart(key, upload_id, parts, content_type="text/plain")  # 409 inside
    assert adapter.read_range(key, 0, 4) == b"data"


def test_a_retried_complete_after_the_commit_still_converges(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_id = _staged_upload(adapter, upload_client, key, b"data")
    adapter.complete_multipart(key, upload_id, [UploadedPart(1)], content_type="text/plain")
    etag = adapter.head(key).version
    with pytest.raises(StorageNotFound):  # the broker HEADs and treats it as done
        adapter.complete_multipart(key, upload_id, [UploadedPart(1)], content_type="text/plain")
    assert adapter.head(key).version == etag


def test_the_commit_sends_if_none_match(
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upload_id = _staged_upload(adapter, upload_client, key, b"data")
    seen: list[dict[str, object]] = []
    blob = adapter._container.get_blob_client(key)
    original = type(blob).commit_block_list

    def spy(self: object, *args: object, **kwargs: object) -> object:
        seen.append(kwargs)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(type(blob), "commit_block_list", spy)
    adapter.complete_multipart(key, upload_id, [UploadedPart(1)], content_type="text/plain")
    assert seen and seen[0]["match_condition"] is MatchConditions.IfMissing
