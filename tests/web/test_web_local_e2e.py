"""End to end on the embedded default, through each mount: the bytes travel over real
HTTP to the local backend's receiver, as a browser (and Uppy) would send them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pluggy
import pytest

from rindle_core import Broker, Capability, Database, Profile
from rindle_core.local import LocalStorage, ReceiverServer, serve_receiver
from rindle_core.storage import capabilities_of
from rindle_core.web import UploadAPI
from web_support import MOUNTS, ContractCheck, Mounted, mount

MIB = 1024 * 1024


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverServer]:
    with serve_receiver(tmp_path / "objects") as server:
        yield server


@pytest.fixture
def local(tmp_path: Path, receiver: ReceiverServer) -> LocalStorage:
    return LocalStorage(tmp_path / "objects", base_url=receiver.url, fsync=False)


@pytest.fixture(params=MOUNTS)
def web(
    request: pytest.FixtureRequest,
    sqlite_db: Database,
    local: LocalStorage,
    pm: pluggy.PluginManager,
    authorize: Callable,
    contract: ContractCheck,
) -> Iterator[Mounted]:
    broker = Broker(
        sqlite_db,
        profiles=[Profile(name="files", storage="disk")],
        storages={"disk": local},
        plugin_manager=pm,
        job_mode="inline",
    )
    api = contract.watch(UploadAPI(broker, authorize=authorize))
    with mount(request.param, api) as mounted:
        yield mounted


def _available(web: Mounted, session_id: str) -> bytes:
    """The upload's bytes, read back through its signed download URL."""
    status = web.get(f"/uploads/{session_id}").json()
    assert status["session"]["state"] == "completed"
    assert status["asset"]["state"] == "available"
    signed = web.get(f"/uploads/{session_id}/download").json()
    got = httpx.get(signed["url"], headers=signed["headers"])
    assert got.status_code == 200
    return got.content


def test_a_single_put_over_http(web: Mounted) -> None:
    data = b"hello, rindle\n" * 1000
    opened = web.post(
        "/uploads",
        {
            "profile": "files",
            "filename": "notes.txt",
            "content_type": "text/plain",
            "size": len(data),
        },
    )
    assert opened.status == 201, opened.text
    upload = opened.json()["upload"]
    sent = httpx.request(upload["method"], upload["url"], headers=upload["headers"], content=data)
    assert sent.status_code == 200, sent.text
    session_id = opened.json()["session"]["id"]
    assert web.post(f"/uploads/{session_id}/complete").status == 200
    assert _available(web, session_id) == data


def test_uppy_multipart_over_http(web: Mounted) -> None:
    data = bytes(range(256)) * (5 * MIB // 256) + b"tail" * 300
    chunks = [data[: 5 * MIB], data[5 * MIB :]]
    created = web.post(
        "/s3/multipart",
        {
            "filename": "clip.bin",
            "type": "application/octet-stream",
            "metadata": {"name": "clip.bin"},
        },
    )
    assert created.status == 200, created.text
    upload_id, key = created.json()["uploadId"], created.json()["key"]
    etags = []
    for number, chunk in enumerate(chunks, start=1):
        signed = web.get(f"/s3/multipart/{upload_id}/{number}", query=[("key", key)])
        assert signed.status == 200, signed.text
        # Uppy sends the part with no headers of its own, and keeps the ETag unquoted.
        sent = httpx.put(signed.json()["url"], content=chunk)
        assert sent.status_code == 200, sent.text
        etags.append(sent.headers["etag"].strip('"'))
    listed = web.get(f"/s3/multipart/{upload_id}", query=[("key", key)]).json()
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MIB), (2, len(chunks[1]))]

    parts = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
    done = web.post(f"/s3/multipart/{upload_id}/complete", {"parts": parts}, query=[("key", key)])
    assert done.status == 200, done.text
    assert done.json()["key"] == key
    assert _available(web, upload_id) == data


def test_uppy_single_file_post_over_http(web: Mounted, local: LocalStorage) -> None:
    if Capability.PRESIGNED_POST not in capabilities_of(local):
        pytest.skip("the local backend does not take presigned POSTs yet")
    data = b"a small file\n"
    form = web.get("/s3/params", query=[("filename", "small.txt"), ("type", "text/plain")])
    assert form.status == 200, form.text
    url, fields = form.json()["url"], form.json()["fields"]
    sent = httpx.post(url, data=fields, files={"file": ("small.txt", data, "text/plain")})
    assert sent.status_code in (200, 201, 204), sent.text
    done = web.post("/s3/complete", query=[("key", fields["key"])])
    assert done.status == 200, done.text
    assert _available(web, done.json()["location"].rsplit("/", 1)[1]) == data
