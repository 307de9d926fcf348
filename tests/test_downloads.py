"""How download URLs serve an asset: the Content-Disposition and active types."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_samples import png as make_png

from rindle_core import AssetNotAvailable, AssetState, Broker, Database, Profile
from rindle_core._downloads import content_disposition, is_active_type
from rindle_core.client import UploadClient
from rindle_core.local import LocalStorage, serve_receiver
from rindle_core.plugins import make_plugin_manager

PNG = make_png()


@pytest.mark.parametrize(
    "mime",
    [
        "text/html",
        "TEXT/HTML; charset=utf-8",
        "image/svg+xml",
        "application/xhtml+xml",
        "application/xml",
        "text/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/wasm",
        "application/rss+xml",
    ],
)
def test_types_a_browser_would_execute_are_active(mime: str) -> None:
    assert is_active_type(mime)


@pytest.mark.parametrize(
    "mime", ["image/png", "image/jpeg", "application/pdf", "video/mp4", "text/plain", "text/csv"]
)
def test_passive_types_are_not_active(mime: str) -> None:
    assert not is_active_type(mime)


def test_a_unicode_name_keeps_its_extension_and_gets_an_ascii_fallback() -> None:
    value = content_disposition("фото.png", "inline")
    assert value.startswith('inline; filename="')
    assert value.isascii()
    assert unquote(value.split("filename*=UTF-8''", 1)[1]) == "фото.png"


def test_quotes_and_separators_cannot_break_out_of_the_header() -> None:
    value = content_disposition('a"b;c\\d.txt', "attachment")
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback == "a_b_c_d.txt"
    assert value.count('"') == 2


@given(st.text(min_size=1, max_size=300))
def test_any_name_gives_a_short_printable_ascii_header(name: str) -> None:
    value = content_disposition(name, "attachment")
    assert value.isascii() and value.isprintable()
    assert len(value) <= 1024
    assert "\r" not in value and "\n" not in value


def test_a_long_name_is_shortened_but_keeps_its_extension() -> None:
    value = content_disposition("写" * 200 + ".png", "attachment")
    assert len(value) <= 1024
    assert unquote(value.split("filename*=UTF-8''", 1)[1]).endswith(".png")


# -- end to end: the local backend over real HTTP ---------------------------------------------


@pytest.fixture
def local_broker(tmp_path: Path, any_db: Database) -> Iterator[Broker]:
    secret = secrets.token_bytes(32)
    with serve_receiver(tmp_path / "objects", secret) as server:
        storage = LocalStorage(tmp_path / "objects", base_url=server.url, secret=secret)
        yield Broker(
            any_db,
            profiles=[
                Profile(name="images", storage="files", allow_mime=["image/png"]),
                Profile(name="web", storage="files", allow_active_content=True),
            ],
            storages={"files": storage},
            plugin_manager=make_plugin_manager(load_entrypoints=False),
            job_mode="inline",
        )


def _upload(broker: Broker, profile: str, filename: str, mime: str, data: bytes) -> str:
    session = broker.initiate_session(profile, filename=filename, content_type=mime, size=len(data))
    with UploadClient(timeout=10) as client:
        client.put_bytes(broker.sign_url(session.id).presigned, data)
    return broker.verify_completion(session.id).asset.id


def test_a_download_serves_the_verified_type_nosniff_and_the_name(local_broker: Broker) -> None:
    asset_id = _upload(local_broker, "images", "фото.png", "image/png", PNG)
    assert local_broker.get_asset(asset_id).state is AssetState.AVAILABLE
    request = local_broker.download_url(asset_id)
    response = httpx.get(request.url, timeout=10)
    assert response.status_code == 200 and response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("inline;")
    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == "фото.png"


def test_an_html_asset_downloads_as_an_attachment(local_broker: Broker) -> None:
    page = b"<!doctype html><html><script>alert(1)</script></html>"
    asset_id = _upload(local_broker, "web", "page.html", "text/html", page)
    assert local_broker.get_asset(asset_id).state is AssetState.AVAILABLE
    request = local_broker.download_url(asset_id, disposition="inline")
    response = httpx.get(request.url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_no_download_for_an_asset_that_is_not_available(local_broker: Broker) -> None:
    asset_id = _upload(local_broker, "images", "fake.png", "image/png", b"not a png at all")
    assert local_broker.get_asset(asset_id).state is AssetState.QUARANTINED
    with pytest.raises(AssetNotAvailable):
        local_broker.download_url(asset_id)


def test_presigned_request_repr_hides_credential_headers_whatever_the_backend() -> None:
    from rindle_core import PresignedRequest

    request = PresignedRequest(
        url="https://store.example/k?sig=SECRETSIG",
        method="PUT",
        headers={
            "Authorization": "Bearer SECRET1",
            "X-Amz-Security-Token": "SECRET2",
            "x-goog-credential": "SECRET3",
            "x-amz-server-side-encryption-customer-key": "SECRET4",
            "x-ms-blob-type": "BlockBlob",
            "If-None-Match": "*",
            "Content-Type": "image/png",
        },
    )
    shown = repr(request)
    for secret in ("SECRETSIG", "SECRET1", "SECRET2", "SECRET3", "SECRET4"):
        assert secret not in shown
    assert "'x-ms-blob-type': 'BlockBlob'" in shown
    assert "'If-None-Match': '*'" in shown
