"""What a part URL (block SAS) lets its holder do, and how rindle detects each misuse.

Put Block and Put Block List need the SAS write permission ``w`` (Azure's
docs; Azurite refuses ``c`` for both, shown below), and ``w`` is not limited
to one operation or one block id. Each test here sends, with nothing but a
URL the broker signed for one part, a request the broker never intended,
shows that Azurite accepts it, and then shows what rindle sees:
``committed_parts`` refuses a block list the broker did not commit, ``head``
reports the client-chosen type, and the ETag (``head().version``) moves.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest

from rindle_azure import AzureBlobStorage, SharedKeySigner
from rindle_azure._blocks import block_id, new_upload_id
from rindle_core import StorageConflict, UploadedPart
from rindle_core.client import UploadClient

if TYPE_CHECKING:
    from conftest import Azurite


def _sas(url: str) -> str:
    """The bare SAS of a part URL: the query without ``comp`` and ``blockid``."""
    base, _, query = url.partition("?")
    kept = [f for f in query.split("&") if not f.startswith(("comp=", "blockid="))]
    return f"{base}?{'&'.join(kept)}"


def _with(url: str, query: str) -> str:
    base, _, sas = url.partition("?")
    return f"{base}?{query}&{sas}"


def _block_list(*wire_ids: str) -> bytes:
    latest = "".join(f"<Latest>{i}</Latest>" for i in wire_ids)
    return f'<?xml version="1.0" encoding="utf-8"?><BlockList>{latest}</BlockList>'.encode()


def _part_url(adapter: AzureBlobStorage, key: str) -> tuple[str, str]:
    upload_id = adapter.create_multipart(key, content_type="application/pdf").upload_id
    return upload_id, adapter.presign_part(key, upload_id, 1, expires_in=300).url


def _stage(sas_url: str, wire_id: str, data: bytes) -> httpx.Response:
    return httpx.put(_with(sas_url, f"comp=block&blockid={quote(wire_id, safe='')}"), content=data)


def test_a_part_url_stages_a_block_id_the_broker_never_signed(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_id, part = _part_url(adapter, key)
    upload_client.put_bytes(adapter.presign_part(key, upload_id, 1, expires_in=300), b"%PDF-")
    forged = base64.b64encode(b"x" * 30).decode()  # same width as rindle's ids
    assert _stage(_sas(part), forged, b"<html>").status_code == 201  # Azure allows it
    # The broker's commit names only its own blocks: the stray block is dropped.
    adapter.complete_multipart(key, upload_id, [UploadedPart(1)], content_type="application/pdf")
    assert adapter.committed_parts(key) == [UploadedPart(1, None, 5)]
    assert adapter.read_range(key, 0, 10) == b"%PDF-"


def test_a_part_url_commits_its_own_block_list_and_type(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_id, part = _part_url(adapter, key)
    upload_client.put_bytes(adapter.presign_part(key, upload_id, 1, expires_in=300), b"%PDF-")
    forged = base64.b64encode(b"y" * 30).decode()
    assert _stage(_sas(part), forged, b"<script>alert(1)</script>").status_code == 201
    response = httpx.put(
        _with(_sas(part), "comp=blocklist"),
        content=_block_list(block_id(upload_id, 1), forged),
        headers={"x-ms-blob-content-type": "text/html"},
    )
    assert response.status_code == 201  # Azure allows it
    assert adapter.head(key).content_type == "text/html"
    with pytest.raises(StorageConflict, match="foreign"):
        adapter.committed_parts(key)
    with pytest.raises(StorageConflict):  # the broker never completes over it
        adapter.complete_multipart(
            key, upload_id, [UploadedPart(1)], content_type="application/pdf"
        )


def test_a_part_url_commits_the_brokers_blocks_with_another_type(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    """Right blocks, wrong type: committed_parts matches, head shows the type."""
    upload_id, part = _part_url(adapter, key)
    upload_client.put_bytes(adapter.presign_part(key, upload_id, 1, expires_in=300), b"%PDF-")
    response = httpx.put(
        _with(_sas(part), "comp=blocklist"),
        content=_block_list(block_id(upload_id, 1)),
        headers={"x-ms-blob-content-type": "text/html"},
    )
    assert response.status_code == 201
    assert adapter.committed_parts(key, upload_id=upload_id) == [UploadedPart(1, None, 5)]
    assert adapter.head(key).content_type == "text/html"  # core quarantines the mismatch
    with pytest.raises(StorageConflict):  # not what the broker would have committed
        adapter.complete_multipart(
            key, upload_id, [UploadedPart(1)], content_type="application/pdf"
        )


def test_a_part_url_replaces_the_committed_blob_with_put_blob(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_id, part = _part_url(adapter, key)
    upload_client.put_bytes(adapter.presign_part(key, upload_id, 1, expires_in=300), b"%PDF-")
    adapter.complete_multipart(key, upload_id, [UploadedPart(1)], content_type="application/pdf")
    verified = adapter.head(key).version
    response = httpx.put(
        _sas(part),
        content=b"<html>",
        headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "text/html"},
    )
    assert response.status_code == 201  # Azure allows it: "w" includes Put Blob
    assert adapter.head(key).version != verified
    with pytest.raises(StorageConflict):
        adapter.read_range(key, 0, 5, version=verified)
    with pytest.raises(StorageConflict, match="whole-blob"):
        adapter.committed_parts(key)


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("comp=metadata", {"x-ms-meta-owner": "attacker"}),
        ("comp=properties", {"x-ms-blob-content-type": "text/html"}),
        ("comp=properties", {"x-ms-blob-content-disposition": "inline"}),
    ],
    ids=["metadata", "content-type", "content-disposition"],
)
def test_a_part_url_rewrites_properties_and_moves_the_etag(
    adapter: AzureBlobStorage,
    upload_client: UploadClient,
    key: str,
    query: str,
    headers: dict[str, str],
) -> None:
    upload_id, part = _part_url(adapter, key)
    upload_client.put_bytes(adapter.presign_part(key, upload_id, 1, expires_in=300), b"%PDF-")
    adapter.complete_multipart(key, upload_id, [UploadedPart(1)], content_type="application/pdf")
    verified = adapter.head(key).version
    assert httpx.put(_with(_sas(part), query), headers=headers).status_code == 200
    assert adapter.head(key).version != verified  # promotion's precondition fails
    with pytest.raises(StorageConflict):
        adapter.read_range(key, 0, 5, version=verified)


def test_a_lease_taken_with_a_part_url_does_not_stop_the_brokers_delete(
    adapter: AzureBlobStorage, upload_client: UploadClient, key: str
) -> None:
    upload_id, part = _part_url(adapter, key)
    upload_client.put_bytes(adapter.presign_part(key, upload_id, 1, expires_in=300), b"%PDF-")
    adapter.complete_multipart(key, upload_id, [UploadedPart(1)], content_type="application/pdf")
    response = httpx.put(
        _with(_sas(part), "comp=lease"),
        headers={"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1"},
    )
    assert response.status_code == 201  # an infinite lease: writes now need its id
    adapter.delete(key)
    assert not adapter._exists(key)


# -- why blocks cannot use the create permission ------------------------------------------


@pytest.mark.parametrize(
    ("operation", "allowed_with_c"),
    [
        ("put_block", False),
        ("put_block_list", False),
        ("put_blob_new", True),
        ("put_blob_existing", False),
        ("set_metadata", False),
        ("set_properties", False),
        ("lease", False),
    ],
)
def test_what_create_permission_allows_on_azurite(
    azurite: Azurite, adapter: AzureBlobStorage, key: str, operation: str, allowed_with_c: bool
) -> None:
    """``c`` refuses every block operation, so a block SAS must carry ``w``.

    Azure documents the same: Put Block and Put Block List need
    ``blobs/write``; only Put Blob of a *new* blob is allowed by ``c``.
    """
    signer = SharedKeySigner(azurite.account, azurite.account_key)
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    existing = key + ".existing"
    adapter_blob = adapter._blob(existing)
    adapter_blob.upload_blob(b"old")
    target = existing if operation not in ("put_blob_new", "put_block", "put_block_list") else key
    sas = signer.blob_sas(adapter.container_name, target, permission="c", expiry=expiry)
    url = f"{adapter._blob_url(target)}?{sas}"
    wire = block_id(new_upload_id(target), 1)
    requests = {
        "put_block": lambda: _stage(url, wire, b"x"),
        "put_block_list": lambda: httpx.put(_with(url, "comp=blocklist"), content=_block_list()),
        "put_blob_new": lambda: httpx.put(
            url, content=b"x", headers={"x-ms-blob-type": "BlockBlob"}
        ),
        "put_blob_existing": lambda: httpx.put(
            url, content=b"x", headers={"x-ms-blob-type": "BlockBlob"}
        ),
        "set_metadata": lambda: httpx.put(
            _with(url, "comp=metadata"), headers={"x-ms-meta-a": "b"}
        ),
        "set_properties": lambda: httpx.put(
            _with(url, "comp=properties"), headers={"x-ms-blob-content-type": "text/html"}
        ),
        "lease": lambda: httpx.put(
            _with(url, "comp=lease"),
            headers={"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1"},
        ),
    }
    status = requests[operation]().status_code
    if allowed_with_c:
        assert status == 201
    else:
        assert status == 403
