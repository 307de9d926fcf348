"""Multipart uploads on the local backend: staging, part URLs, assembly, races, cleanup."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from rindle_core import (
    Broker,
    Database,
    InvalidArgument,
    InvalidParts,
    Profile,
    SessionState,
    StorageConflict,
    StorageError,
    StorageNotFound,
)
from rindle_core.client import UploadClient
from rindle_core.local import LocalStorage, ReceiverServer
from rindle_core.local._disk import Disk, IncompleteBody
from rindle_core.local._staging import PART_LIMITS, UPLOADS_DIR, Manifest, Staging, UploadGone
from rindle_core.plugins import make_plugin_manager
from rindle_core.storage import UploadedPart, supports_multipart

SECRET = "local-multipart-test-secret-0123456789"
CT = "application/pdf"
MiB = 1024 * 1024
MIN = PART_LIMITS.min_part_size


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def storage(root: Path) -> Iterator[LocalStorage]:
    bare = LocalStorage(root, secret=SECRET, fsync=False)
    with ReceiverServer(bare.receiver(allow_origins=["https://app.example"])) as server:
        yield LocalStorage(root, base_url=server.url, secret=SECRET, fsync=False)


@pytest.fixture
def client() -> Iterator[UploadClient]:
    with UploadClient(timeout=30) as c:
        yield c


def etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324 - the part ETag is an MD5


def body(size: int, seed: int) -> bytes:
    return (bytes([seed % 251]) + os.urandom(15)) * (size // 16) + bytes(size % 16)


def staged(root: Path) -> list[str]:
    """The names under the staging area (upload directories and anything left aside)."""
    base = root / UPLOADS_DIR
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


def put_part(
    storage: LocalStorage, client: UploadClient, key: str, upload_id: str, n: int, data: bytes
) -> UploadedPart:
    request = storage.presign_part(key, upload_id, n, expires_in=60, content_length=len(data))
    response = client.put_bytes(request, data)
    return UploadedPart(n, response.headers["ETag"], len(data))


def raw_put(url: str, data: bytes, **headers: str) -> httpx.Response:
    return httpx.put(url, content=data, headers=headers, timeout=30)


def swap(url: str, **params: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in params.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return parts._replace(query=urlencode(query)).geturl()


def code_of(response: httpx.Response) -> str:
    return response.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


# -- staging --------------------------------------------------------------------------------------


def test_an_upload_is_a_private_staging_directory_bound_to_its_key(
    storage: LocalStorage, root: Path
) -> None:
    first = storage.create_multipart("a/b.pdf", content_type=CT)
    second = storage.create_multipart("a/b.pdf", content_type=CT)
    assert first.upload_id != second.upload_id
    assert all(len(u) == 32 and int(u, 16) >= 0 for u in (first.upload_id, second.upload_id))
    assert staged(root) == sorted([first.upload_id, second.upload_id])
    directory = root / UPLOADS_DIR / first.upload_id
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    manifest = json.loads((directory / "upload.json").read_text())
    assert (manifest["key"], manifest["content_type"]) == ("a/b.pdf", CT)
    assert first.part_headers == {}
    # Nothing else under the root: the key is not created before completion.
    assert sorted(p.name for p in root.iterdir()) == [UPLOADS_DIR]
    with pytest.raises(StorageNotFound):
        storage.head("a/b.pdf")
    # Another key does not find the upload; no key reaches the staging area.
    for call in (
        lambda: storage.list_parts("a/other.pdf", first.upload_id),
        lambda: storage.presign_part("a/other.pdf", first.upload_id, 1, expires_in=60),
    ):
        with pytest.raises(StorageNotFound):
            call()
    with pytest.raises(InvalidArgument):
        storage.head(f"{UPLOADS_DIR}/{first.upload_id}/upload.json")


@pytest.mark.parametrize("upload_id", ["../../etc", "0" * 31, "A" * 32, "g" * 32, ".", "x" * 1024])
def test_a_malformed_upload_id_is_an_unknown_upload(storage: LocalStorage, upload_id: str) -> None:
    with pytest.raises(StorageNotFound):
        storage.list_parts("k.pdf", upload_id)
    with pytest.raises(StorageNotFound):
        storage.presign_part("k.pdf", upload_id, 1, expires_in=60)
    with pytest.raises(StorageNotFound):
        storage.complete_multipart(
            "k.pdf", upload_id, [UploadedPart(1, etag(b"x"))], content_type=CT
        )
    storage.abort_multipart("k.pdf", upload_id)  # unknown counts as aborted


def test_part_limits_are_s3s() -> None:
    limits = PART_LIMITS
    assert (limits.min_part_size, limits.max_part_size) == (5 * MiB, 5 * 1024 * MiB)
    assert (limits.max_parts, limits.max_object_size) == (10_000, 5 * 1024**4)
    assert limits.etag_required and not limits.part_urls_outlive_completion


def test_a_deleted_root_is_a_storage_error(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "r", base_url="http://127.0.0.1:9", secret=SECRET)
    upload = storage.create_multipart("k.pdf", content_type=CT)
    for child in sorted((tmp_path / "r").rglob("*"), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    (tmp_path / "r").rmdir()
    with pytest.raises(StorageError, match="does not exist"):
        storage.create_multipart("k.pdf", content_type=CT)
    with pytest.raises(StorageError, match="does not exist"):
        storage.list_parts("k.pdf", upload.upload_id)
    assert not (tmp_path / "r").exists()


# -- part URLs ----------------------------------------------------------------------------------


def test_a_part_url_binds_upload_number_and_length(storage: LocalStorage, root: Path) -> None:
    upload = storage.create_multipart("p/x.pdf", content_type=CT)
    request = storage.presign_part("p/x.pdf", upload.upload_id, 3, expires_in=60, content_length=4)
    assert (request.method, request.part_number, request.upload_id) == ("PUT", 3, upload.upload_id)
    assert request.headers == {"Content-Length": "4"}
    assert "pn=3" in request.url and f"up={upload.upload_id}" in request.url
    other = storage.create_multipart("p/x.pdf", content_type=CT)
    for forged in (
        swap(request.url, pn="4"),
        swap(request.url, up=other.upload_id),
        swap(request.url, len="5"),
        swap(request.url, len=None),
        swap(request.url, up=None, pn=None),  # not an object PUT either
        request.url.replace("/o/p/x.pdf", "/o/p/y.pdf"),
    ):
        response = raw_put(forged, b"data")
        assert response.status_code == 403, forged
        assert code_of(response) == "SignatureDoesNotMatch"
    assert storage.list_parts("p/x.pdf", upload.upload_id) == []
    assert storage.list_parts("p/x.pdf", other.upload_id) == []
    assert not (root / "p").exists()


def test_an_object_url_cannot_be_turned_into_a_part_url(storage: LocalStorage) -> None:
    upload = storage.create_multipart("q/x.pdf", content_type=CT)
    request = storage.presign_put("q/x.pdf", content_type=CT, content_length=4, expires_in=60)
    forged = swap(request.url, up=upload.upload_id, pn="1")
    response = raw_put(forged, b"data", **{"Content-Type": CT})
    assert response.status_code == 403
    assert storage.list_parts("q/x.pdf", upload.upload_id) == []


def test_a_part_body_must_have_the_signed_length(storage: LocalStorage) -> None:
    upload = storage.create_multipart("l/x.pdf", content_type=CT)
    request = storage.presign_part("l/x.pdf", upload.upload_id, 1, expires_in=60, content_length=4)
    assert raw_put(request.url, b"12345").status_code == 413
    assert raw_put(request.url, b"123").status_code == 400
    assert storage.list_parts("l/x.pdf", upload.upload_id) == []


def test_an_expired_part_url_is_refused(storage: LocalStorage) -> None:
    upload = storage.create_multipart("e/x.pdf", content_type=CT)
    request = storage.presign_part("e/x.pdf", upload.upload_id, 1, expires_in=1, content_length=1)
    time.sleep(1.1)
    response = raw_put(request.url, b"x")
    assert (response.status_code, code_of(response)) == (403, "ExpiredToken")


def test_a_part_is_answered_with_its_etag_exposed_to_the_page(
    storage: LocalStorage, root: Path
) -> None:
    upload = storage.create_multipart("c/x.pdf", content_type=CT)
    request = storage.presign_part("c/x.pdf", upload.upload_id, 1, expires_in=60)  # length unbound
    origin = "https://app.example"
    preflight = httpx.options(
        request.url, headers={"Origin": origin, "Access-Control-Request-Method": "PUT"}
    )
    assert preflight.status_code == 204
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    # Browsers send a Blob slice without (or with any) Content-Type: not bound for parts.
    response = raw_put(request.url, b"part one", Origin=origin, **{"Content-Type": "text/html"})
    assert response.status_code == 200
    assert response.headers["ETag"] == etag(b"part one")
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    assert storage.list_parts("c/x.pdf", upload.upload_id) == [
        UploadedPart(1, etag(b"part one"), 8)
    ]
    files = sorted(p.name for p in (root / UPLOADS_DIR / upload.upload_id).iterdir())
    assert files == [f"00001.{hashlib.md5(b'part one').hexdigest()}.part", "upload.json"]  # noqa: S324


def test_a_part_for_an_unknown_or_finished_upload_gets_404(
    storage: LocalStorage, client: UploadClient, root: Path
) -> None:
    upload = storage.create_multipart("f/x.pdf", content_type=CT)
    late = storage.presign_part("f/x.pdf", upload.upload_id, 2, expires_in=60, content_length=3)
    part = put_part(storage, client, "f/x.pdf", upload.upload_id, 1, b"only")
    storage.complete_multipart("f/x.pdf", upload.upload_id, [part], content_type=CT)
    response = raw_put(late.url, b"abc")
    assert (response.status_code, code_of(response)) == (404, "NoSuchUpload")
    assert storage.read_range("f/x.pdf", 0, 100) == b"only"
    aborted = storage.create_multipart("f/y.pdf", content_type=CT)
    request = storage.presign_part("f/y.pdf", aborted.upload_id, 1, expires_in=60)
    storage.abort_multipart("f/y.pdf", aborted.upload_id)
    assert raw_put(request.url, b"abc").status_code == 404
    assert staged(root) == []


def test_a_part_sent_again_replaces_the_earlier_body(
    storage: LocalStorage, client: UploadClient, root: Path
) -> None:
    key = "r/x.pdf"
    upload = storage.create_multipart(key, content_type=CT)
    old = put_part(storage, client, key, upload.upload_id, 1, b"first body")
    new = put_part(storage, client, key, upload.upload_id, 1, b"second body")
    assert storage.list_parts(key, upload.upload_id) == [new]
    assert len(list((root / UPLOADS_DIR / upload.upload_id).glob("00001.*"))) == 1
    with pytest.raises(InvalidParts, match="match no uploaded body"):
        storage.complete_multipart(key, upload.upload_id, [old], content_type=CT)
    storage.complete_multipart(key, upload.upload_id, [new], content_type=CT)
    assert storage.read_range(key, 0, 100) == b"second body"


def test_an_interrupted_part_leaves_nothing(storage: LocalStorage, root: Path) -> None:
    staging = Staging(Disk(root, fsync=False))
    upload = storage.create_multipart("i/x.pdf", content_type=CT)
    with pytest.raises(IncompleteBody):
        staging.write_part("i/x.pdf", upload.upload_id, 1, io.BytesIO(b"short"), length=10)
    assert [p.name for p in (root / UPLOADS_DIR / upload.upload_id).iterdir()] == ["upload.json"]


def test_a_part_in_flight_when_the_upload_is_aborted_lands_nowhere(
    storage: LocalStorage, root: Path
) -> None:
    staging = Staging(Disk(root, fsync=False))
    upload = storage.create_multipart("g/x.pdf", content_type=CT)
    reading, release = threading.Event(), threading.Event()

    class Stalling:
        def __init__(self) -> None:
            self._data = io.BytesIO(b"x" * 100)

        def read(self, size: int, /) -> bytes:
            reading.set()
            release.wait(30)
            return self._data.read(size)

    outcome: list[BaseException] = []

    def send() -> None:
        try:
            staging.write_part("g/x.pdf", upload.upload_id, 1, Stalling(), length=100)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    assert reading.wait(30)
    storage.abort_multipart("g/x.pdf", upload.upload_id)
    release.set()
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], UploadGone)
    assert staged(root) == []


# -- complete -------------------------------------------------------------------------------------


def test_parts_are_assembled_in_order_and_the_staging_removed(
    storage: LocalStorage, client: UploadClient, root: Path
) -> None:
    key = "m/big.pdf"
    one, two, three = body(MIN, 1), body(MIN, 2), body(1000, 3)
    upload = storage.create_multipart(key, content_type=CT)
    parts = [
        put_part(storage, client, key, upload.upload_id, n, data)
        for n, data in ((3, three), (1, one), (2, two))
    ]
    listed = storage.list_parts(key, upload.upload_id)
    assert listed == sorted(parts, key=lambda p: p.part_number)
    # Uppy sends ETags back quoted or not, after a resume mixed.
    unquoted = [UploadedPart(p.part_number, (p.etag or "").strip('"')) for p in listed[:2]]
    storage.complete_multipart(key, upload.upload_id, [*unquoted, listed[2]], content_type=CT)
    head = storage.head(key)
    assert (head.size, head.content_type) == (2 * MIN + 1000, CT)
    assert head.etag == etag(one + two + three)
    assert storage.read_range(key, MIN - 4, 8) == one[-4:] + two[:4]
    assert storage.read_range(key, 2 * MIN - 4, 8) == two[-4:] + three[:4]
    assert staged(root) == []
    with pytest.raises(StorageNotFound):
        storage.list_parts(key, upload.upload_id)


def test_the_object_takes_the_type_given_at_creation(
    storage: LocalStorage, client: UploadClient
) -> None:
    upload = storage.create_multipart("t/x.pdf", content_type=CT)
    part = put_part(storage, client, "t/x.pdf", upload.upload_id, 1, b"abc")
    storage.complete_multipart("t/x.pdf", upload.upload_id, [part], content_type="image/png")
    assert storage.head("t/x.pdf").content_type == CT


def test_refused_part_lists_change_nothing(
    storage: LocalStorage, client: UploadClient, root: Path
) -> None:
    key = "bad/x.pdf"
    upload = storage.create_multipart(key, content_type=CT)
    small = put_part(storage, client, key, upload.upload_id, 1, b"tiny")
    last = put_part(storage, client, key, upload.upload_id, 2, b"last")
    never = UploadedPart(3, etag(b"never sent"))
    with pytest.raises(InvalidParts, match="never uploaded") as caught:
        storage.complete_multipart(key, upload.upload_id, [small, last, never], content_type=CT)
    assert caught.value.missing == (3,)
    wrong = UploadedPart(2, etag(b"other bytes"))
    with pytest.raises(InvalidParts, match="match no uploaded body"):
        storage.complete_multipart(key, upload.upload_id, [small, wrong], content_type=CT)
    not_md5 = UploadedPart(2, '"not-an-md5"')
    with pytest.raises(InvalidParts, match="ETag"):
        storage.complete_multipart(key, upload.upload_id, [small, not_md5], content_type=CT)
    with pytest.raises(InvalidParts, match="smaller than 5242880 bytes"):
        storage.complete_multipart(key, upload.upload_id, [small, last], content_type=CT)
    with pytest.raises(StorageNotFound):
        storage.head(key)
    assert storage.list_parts(key, upload.upload_id) == [small, last]
    # The last part alone may be small: one small part is a whole upload.
    storage.complete_multipart(key, upload.upload_id, [small], content_type=CT)
    assert storage.read_range(key, 0, 10) == b"tiny"
    assert staged(root) == []


def test_complete_refuses_a_key_that_holds_another_object(
    storage: LocalStorage, client: UploadClient, root: Path
) -> None:
    key = "x/taken.pdf"
    upload = storage.create_multipart(key, content_type=CT)
    part = put_part(storage, client, key, upload.upload_id, 1, b"mine")
    storage.write_bytes(key, b"someone else's", content_type=CT)
    with pytest.raises(StorageConflict):
        storage.complete_multipart(key, upload.upload_id, [part], content_type=CT)
    assert storage.read_range(key, 0, 100) == b"someone else's"
    assert staged(root) == [upload.upload_id]  # abort (cleanup) removes it
    storage.abort_multipart(key, upload.upload_id)
    assert staged(root) == []


def test_a_retried_complete_converges(
    storage: LocalStorage, client: UploadClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "again/x.pdf"
    upload = storage.create_multipart(key, content_type=CT)
    part = put_part(storage, client, key, upload.upload_id, 1, b"payload")
    # The first complete "crashes" after the commit, before the staging is removed.
    monkeypatch.setattr(Staging, "_remove", lambda self, directory: None)
    storage.complete_multipart(key, upload.upload_id, [part], content_type=CT)
    assert staged(root) == [upload.upload_id]
    monkeypatch.undo()
    version = storage.head(key).version
    storage.complete_multipart(key, upload.upload_id, [part], content_type=CT)  # staging kept
    assert staged(root) == []
    storage.complete_multipart(key, upload.upload_id, [part], content_type=CT)  # staging gone
    assert storage.head(key).version == version
    # Another part list is not the completion that happened: the upload is gone.
    other = UploadedPart(1, etag(b"something else"))
    with pytest.raises(StorageNotFound):
        storage.complete_multipart(key, upload.upload_id, [other], content_type=CT)
    with pytest.raises(StorageNotFound):
        storage.complete_multipart("again/y.pdf", upload.upload_id, [part], content_type=CT)


def test_assembly_streams_in_constant_memory(root: Path) -> None:
    disk = Disk(root, fsync=False)
    staging = Staging(disk)
    upload_id = staging.create("mem/x.bin", "application/octet-stream")
    parts = []
    tracemalloc.start()
    try:
        for number in (1, 2, 3, 4):
            source = _Zeros(MIN)
            parts.append(staging.write_part("mem/x.bin", upload_id, number, source, length=MIN))
        tracemalloc.reset_peak()
        staging.complete("mem/x.bin", upload_id, parts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert disk.head("mem/x.bin").size == 4 * MIN
    assert peak < 2 * MiB, f"assembling 20 MiB peaked at {peak} bytes"


class _Zeros:
    """A body of *size* zero bytes that is never held whole."""

    def __init__(self, size: int) -> None:
        self._left = size

    def read(self, size: int, /) -> bytes:
        n = min(size, self._left)
        self._left -= n
        return bytes(n)


# -- races ----------------------------------------------------------------------------------------


def test_racing_completes_of_one_upload_assemble_once(
    storage: LocalStorage, client: UploadClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "race/one.pdf"
    upload = storage.create_multipart(key, content_type=CT)
    part = put_part(storage, client, key, upload.upload_id, 1, b"contended")
    writing, release = threading.Event(), threading.Event()
    writes: list[str] = []
    real_assemble = Staging._assemble

    def slow_assemble(
        self: Staging,
        key: str,
        upload_id: str,
        digest: str,
        manifest: Manifest,
        paths: list[Path],
        total: int,
    ) -> None:
        writes.append(threading.current_thread().name)
        writing.set()
        release.wait(30)
        real_assemble(self, key, upload_id, digest, manifest, paths, total)

    monkeypatch.setattr(Staging, "_assemble", slow_assemble)
    errors: list[BaseException] = []

    def complete() -> None:
        try:
            storage.complete_multipart(key, upload.upload_id, [part], content_type=CT)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    first = threading.Thread(target=complete, name="first")
    first.start()
    assert writing.wait(30)
    second = threading.Thread(target=complete, name="second")
    second.start()
    second.join(0.3)
    assert second.is_alive(), "the second complete did not wait for the first"
    release.set()
    first.join(30)
    second.join(30)
    assert errors == []
    assert writes == ["first"]
    assert storage.read_range(key, 0, 100) == b"contended"


def test_racing_uploads_of_one_key_have_one_winner(
    storage: LocalStorage, client: UploadClient
) -> None:
    key = "race/key.pdf"
    uploads = [storage.create_multipart(key, content_type=CT) for _ in range(4)]
    parts = [
        put_part(storage, client, key, u.upload_id, 1, f"upload {n}".encode())
        for n, u in enumerate(uploads)
    ]
    gate = threading.Barrier(len(uploads))
    outcomes: dict[int, str] = {}

    def complete(n: int) -> None:
        gate.wait(30)
        try:
            storage.complete_multipart(key, uploads[n].upload_id, [parts[n]], content_type=CT)
            outcomes[n] = "won"
        except StorageConflict:
            outcomes[n] = "conflict"

    threads = [threading.Thread(target=complete, args=(n,)) for n in range(len(uploads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [n for n, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1 and len(outcomes) == len(uploads), outcomes
    assert storage.read_range(key, 0, 100) == f"upload {winners[0]}".encode()


# -- the broker -----------------------------------------------------------------------------------


def test_maintenance_aborts_an_abandoned_upload_and_removes_its_parts(
    sqlite_db: Database, storage: LocalStorage, client: UploadClient, root: Path
) -> None:
    broker = Broker(
        sqlite_db,
        profiles=[Profile(name="docs", storage="files")],
        storages={"files": storage},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
    )
    started = broker.initiate_multipart_session(
        "docs", filename="big.pdf", content_type=CT, size=20 * MiB, expires_in=60
    )
    request = broker.sign_multipart_part(started.session.id, 1).presigned
    client.put_bytes(request, body(started.multipart.part_size or 0, 7))
    assert staged(root) == [started.multipart.upload_id]
    later = started.session.expires_at + dt.timedelta(seconds=1)
    report = broker.expire_sessions(now=later + broker.maintenance.cleanup_grace)
    assert report.remote_aborted == 1
    assert broker.get_session(started.session.id).state is SessionState.EXPIRED
    assert staged(root) == []
    with pytest.raises(StorageNotFound):
        storage.list_parts(started.session.storage_key, started.multipart.upload_id)


def test_a_worker_without_base_url_still_cleans_up_abandoned_parts(
    sqlite_db: Database, storage: LocalStorage, client: UploadClient, root: Path
) -> None:
    """Withheld signing stops new uploads, never the cleanup of old ones."""
    profiles = [Profile(name="docs", storage="files")]
    pm = make_plugin_manager(load_entrypoints=False)
    web = Broker(sqlite_db, profiles=profiles, storages={"files": storage}, plugin_manager=pm)
    started = web.initiate_multipart_session(
        "docs", filename="big.pdf", content_type=CT, size=20 * MiB, expires_in=60
    )
    request = web.sign_multipart_part(started.session.id, 1).presigned
    client.put_bytes(request, body(started.multipart.part_size or 0, 7))
    worker_storage = LocalStorage(root)  # no base_url: cannot sign
    assert not supports_multipart(worker_storage)
    worker = Broker(
        sqlite_db, profiles=profiles, storages={"files": worker_storage}, plugin_manager=pm
    )
    later = started.session.expires_at + dt.timedelta(seconds=1)
    report = worker.expire_sessions(now=later + worker.maintenance.cleanup_grace)
    assert report.remote_aborted == 1
    assert staged(root) == []
