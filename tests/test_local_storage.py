"""The ``local`` storage adapter: keys, layout, secret, configuration, broker end to end."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import multiprocessing
import multiprocessing.queues
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pluggy
import pytest

from rindle_core import (
    Broker,
    Capability,
    ConfigurationError,
    Database,
    InvalidArgument,
    Profile,
    StorageConflict,
    StorageError,
    StorageNotFound,
    TransferFailed,
    UploadUnsupported,
)
from rindle_core.adapters import BaseMultipartStorage
from rindle_core.client import UploadClient
from rindle_core.local import LocalStorage, ReceiverServer, serve_receiver
from rindle_core.local._disk import Disk, ObjectExists
from rindle_core.local._plugin import create_storage
from rindle_core.plugins import build_storage, storage_factories
from rindle_core.storage import (
    StorageAdapter,
    capabilities_of,
    supports_committed_parts,
    supports_multipart,
    supports_post_policy,
    supports_resumable,
)

SECRET = "local-storage-test-secret-0123456789"
CT = "application/pdf"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + bytes(200)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-storage-root")


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ReceiverServer]:
    try:
        srv = serve_receiver(root, SECRET)
    except OSError as exc:
        pytest.fail(f"could not start the local upload receiver on 127.0.0.1: {exc}")
    with srv:
        yield srv


@pytest.fixture
def storage(root: Path, server: ReceiverServer) -> LocalStorage:
    return LocalStorage(root, base_url=server.url, secret=SECRET)


@pytest.fixture
def offline(tmp_path: Path) -> LocalStorage:
    """A storage without a receiver (no base_url)."""
    return LocalStorage(tmp_path / "root", secret=SECRET)


# -- identity -------------------------------------------------------------------------------------


def test_capabilities_are_computed_from_what_it_implements(
    storage: LocalStorage, offline: LocalStorage
) -> None:
    assert storage.backend == offline.backend == "local"
    assert isinstance(storage, BaseMultipartStorage)
    assert isinstance(storage, StorageAdapter)
    signing = {
        Capability.PRESIGNED_PUT,
        Capability.SIGNED_GET,
        Capability.MULTIPART_UPLOAD,
        Capability.PRESIGNED_POST,
    }
    reading = {Capability.HEAD, Capability.RANGE_READ, Capability.DELETE}
    assert storage.capabilities == capabilities_of(storage) == reading | signing
    # Without a receiver nothing could serve a signed URL: signing is withheld.
    assert offline.withheld == signing
    assert offline.capabilities == capabilities_of(offline) == reading


@pytest.mark.parametrize(
    "member",
    ["committed_parts", "create_resumable", "resumable_status", "cancel_resumable"],
)
def test_has_no_members_for_what_it_cannot_do(storage: LocalStorage, member: str) -> None:
    assert not hasattr(storage, member)


def test_the_broker_sees_multipart_and_post_but_no_resumable(
    storage: LocalStorage, offline: LocalStorage
) -> None:
    assert supports_multipart(storage) and supports_post_policy(storage)
    # No receiver to take the parts or the form: both are withheld.
    assert not supports_multipart(offline) and not supports_post_policy(offline)
    assert not supports_resumable(storage)
    assert not supports_committed_parts(storage)


def test_registered_through_the_plugin_hook(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    assert storage_factories(pm)["local"] is create_storage
    adapter = build_storage(
        "local",
        {"root": str(tmp_path), "base_url": "http://127.0.0.1:9/u", "secret": SECRET},
        pm=pm,
    )
    assert isinstance(adapter, LocalStorage)
    assert adapter.base_url == "http://127.0.0.1:9/u"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({}, "root"),
        ({"root": ""}, "root"),
        ({"root": 5}, "root"),
        ({"root": "R", "bukket": "x"}, "bukket"),
        ({"root": "R", "base_url": "ftp://host/x"}, "base_url"),
        ({"root": "R", "base_url": "http://host/x?sig=1"}, "base_url"),
        ({"root": "R", "base_url": "http://user:pw@host/x"}, "base_url"),
        ({"root": "R", "base_url": 7}, "base_url"),
        ({"root": "R", "secret": "short"}, "secret"),
    ],
)
def test_bad_options_raise_configuration_error_naming_the_key(
    pm: pluggy.PluginManager, tmp_path: Path, options: dict[str, object], named: str
) -> None:
    if options.get("root") == "R":
        options = {**options, "root": str(tmp_path)}
    with pytest.raises(ConfigurationError, match=rf"^storage \(local\): .*'{named}'"):
        build_storage("local", options, pm=pm)


def test_a_root_that_cannot_be_created_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="root"):
        LocalStorage(blocker / "sub")


# -- keys -----------------------------------------------------------------------------------------


HOSTILE_KEYS = [
    "",
    "/etc/passwd",
    "../etc/passwd",
    "a/../../b",
    "a/..",
    "..",
    ".",
    "a/./b",
    "a//b",
    "a/",
    "a\\b",
    "..\\..\\x",
    "a\x00b",
    "a\nb",
    "a\x7fb",
    "a\x85b",
    ".rindle-secret",
    "x/.rindle",
    "x/.y.rindle-meta",
    "x/y.rindle-tmp",
    "a" * 1025,
    "d/" + "n" * 201,
    "bad\udcffsurrogate",
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_invalid_arguments_everywhere(storage: LocalStorage, key: str) -> None:
    before = sorted(storage.root.rglob("*"))
    for call in (
        lambda: storage.head(key),
        lambda: storage.read_range(key, 0, 1),
        lambda: storage.delete(key),
        lambda: storage.presign_put(key, content_type=CT, content_length=1, expires_in=60),
        lambda: storage.presign_get(key, expires_in=60),
        lambda: storage.write_bytes(key, b"x", content_type=CT),
    ):
        with pytest.raises(InvalidArgument):
            call()
    assert sorted(storage.root.rglob("*")) == before


def test_non_string_key_is_invalid(offline: LocalStorage) -> None:
    with pytest.raises(InvalidArgument):
        offline.head(None)  # type: ignore[arg-type]


def test_a_symlink_out_of_the_root_is_refused(offline: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    (offline.root / "link").symlink_to(outside)
    with pytest.raises(InvalidArgument, match="outside the storage root"):
        offline.head("link/secret.txt")
    with pytest.raises(InvalidArgument):
        offline.write_bytes("link/new.txt", b"x", content_type=CT)
    assert not (outside / "new.txt").exists()


@pytest.mark.parametrize(
    "key",
    ["dossiers/été/ß 1.pdf", "a b/c d.txt", "odd/a?b#c%20d&e=f+g.pdf", "x/..y/z..", "-/_/~"],
)
def test_unusual_but_valid_keys_roundtrip_over_http(storage: LocalStorage, key: str) -> None:
    key = f"unusual/{os.getpid()}/{key}"
    request = storage.presign_put(key, content_type=CT, content_length=3, expires_in=60)
    with UploadClient() as client:
        client.put_bytes(request, b"abc")
    assert storage.head(key).size == 3
    assert storage.root.joinpath(*key.split("/")).read_bytes() == b"abc"
    storage.delete(key)


# -- objects on disk ------------------------------------------------------------------------------


def test_write_head_read_delete(offline: LocalStorage) -> None:
    head = offline.write_bytes("a/b/c.pdf", PDF, content_type=CT)
    assert head.etag == f'"{hashlib.md5(PDF).hexdigest()}"'
    assert offline.head("a/b/c.pdf") == head
    assert offline.read_range("a/b/c.pdf", 0, 8) == PDF[:8]
    assert offline.read_range("a/b/c.pdf", len(PDF) - 2, 10) == PDF[-2:]
    assert offline.read_range("a/b/c.pdf", len(PDF) + 5, 10) == b""
    offline.delete("a/b/c.pdf")
    with pytest.raises(StorageNotFound):
        offline.head("a/b/c.pdf")
    assert [p.name for p in offline.root.iterdir()] == []  # directories pruned


def test_objects_and_sidecars_are_private_to_the_service_user(offline: LocalStorage) -> None:
    offline.write_bytes("perm/obj", b"x", content_type=CT)
    for path in (offline.root / "perm" / "obj", offline.root / "perm" / ".obj.rindle-meta"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_delete_prunes_empty_directories_but_not_siblings(offline: LocalStorage) -> None:
    offline.write_bytes("p/q/one", b"1", content_type=CT)
    offline.write_bytes("p/two", b"2", content_type=CT)
    offline.delete("p/q/one")
    assert not (offline.root / "p" / "q").exists()
    assert (offline.root / "p" / "two").exists()
    offline.delete("p/two")
    assert not (offline.root / "p").exists()
    assert offline.root.exists()


def test_metadata_lives_in_a_hidden_sidecar(offline: LocalStorage) -> None:
    offline.write_bytes("m/obj", b"xyz", content_type="text/plain")
    names = sorted(p.name for p in (offline.root / "m").iterdir())
    assert names == [".obj.rindle-meta", "obj"]


def test_an_object_without_sidecar_has_no_content_type(offline: LocalStorage) -> None:
    (offline.root / "placed").write_bytes(b"12345")
    head = offline.head("placed")
    assert (head.size, head.content_type, head.etag) == (5, None, None)


def test_a_stale_sidecar_is_ignored(offline: LocalStorage) -> None:
    offline.write_bytes("s/obj", b"12345", content_type=CT)
    (offline.root / "s" / "obj").write_bytes(b"123")  # changed behind our back
    assert offline.head("s/obj").content_type is None
    assert offline.head("s/obj").size == 3


def test_a_directory_is_not_an_object(offline: LocalStorage) -> None:
    offline.write_bytes("dir/inner", b"x", content_type=CT)
    with pytest.raises(StorageNotFound):
        offline.head("dir")
    with pytest.raises(StorageNotFound):
        offline.read_range("dir", 0, 1)
    offline.delete("dir")  # nothing to delete: success
    assert (offline.root / "dir" / "inner").exists()


def test_keys_that_collide_with_directories_or_files(offline: LocalStorage) -> None:
    offline.write_bytes("c/file", b"x", content_type=CT)
    with pytest.raises(StorageError):
        offline.write_bytes("c/file/below", b"y", content_type=CT)
    with pytest.raises(StorageError):
        offline.write_bytes("c", b"y", content_type=CT)
    with pytest.raises(StorageNotFound):
        offline.head("c/file/below")
    assert offline.head("c/file").size == 1


@pytest.mark.parametrize(("start", "length"), [(-1, 1), (0, -1), (True, 1), (0, 1.5)])
def test_read_range_arguments_are_checked(offline: LocalStorage, start: int, length: int) -> None:
    offline.write_bytes("r", b"abc", content_type=CT)
    with pytest.raises(InvalidArgument):
        offline.read_range("r", start, length)


# -- signing --------------------------------------------------------------------------------------


def test_presign_without_base_url_is_unsupported(offline: LocalStorage) -> None:
    with pytest.raises(UploadUnsupported, match="presigned_put .* storage 'local'"):
        offline.presign_put("k", content_type=CT, content_length=1, expires_in=60)
    with pytest.raises(UploadUnsupported, match="signed_get .* storage 'local'"):
        offline.presign_get("k", expires_in=60)
    with pytest.raises(UploadUnsupported, match="multipart_upload .* storage 'local'"):
        offline.create_multipart("k", content_type=CT)
    with pytest.raises(UploadUnsupported, match="presigned_post .* storage 'local'"):
        offline.presign_post("k", content_type=CT, min_size=0, max_size=1, expires_in=60)
    assert list(offline.root.iterdir()) == []


def test_presign_put_binds_type_and_length(storage: LocalStorage) -> None:
    before = dt.datetime.now(dt.UTC)
    request = storage.presign_put("k/x.pdf", content_type=CT, content_length=12, expires_in=90)
    assert request.method == "PUT"
    assert request.headers == {"Content-Type": CT, "Content-Length": "12"}
    assert request.url.startswith(f"{storage.base_url}/o/k/x.pdf?")
    assert "len=12" in request.url and "ct=application%2Fpdf" in request.url
    assert request.expires_at is not None
    assert before < request.expires_at <= before + dt.timedelta(seconds=91)
    unbound = storage.presign_put("k/x.pdf", content_type=CT, content_length=None, expires_in=90)
    assert unbound.headers == {"Content-Type": CT}
    assert "len=" not in unbound.url


@pytest.mark.parametrize("expires_in", [0, -5, 7 * 24 * 3600 + 1, True, 1.5])
def test_expires_in_is_checked(storage: LocalStorage, expires_in: int) -> None:
    with pytest.raises(InvalidArgument):
        storage.presign_put("k", content_type=CT, content_length=1, expires_in=expires_in)


@pytest.mark.parametrize("content_type", ["", "  ", "text/plain\r\nX-Evil: 1", "tëxt/plain", 5])
def test_content_type_is_checked(storage: LocalStorage, content_type: str) -> None:
    with pytest.raises(InvalidArgument):
        storage.presign_put("k", content_type=content_type, content_length=1, expires_in=60)


@pytest.mark.parametrize("length", [-1, True, 1.0])
def test_content_length_is_checked(storage: LocalStorage, length: int) -> None:
    with pytest.raises(InvalidArgument):
        storage.presign_put("k", content_type=CT, content_length=length, expires_in=60)


# -- the secret -----------------------------------------------------------------------------------


def test_secret_file_is_created_private_and_shared(tmp_path: Path) -> None:
    LocalStorage(tmp_path)
    secret_file = tmp_path / ".rindle-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_bytes()
    assert len(secret) == 32
    LocalStorage(tmp_path)  # a second process on the same root reuses it
    assert secret_file.read_bytes() == secret
    assert [p.name for p in tmp_path.iterdir()] == [".rindle-secret"]  # no temp leftovers


def test_a_receiver_on_the_same_root_shares_the_secret_file(tmp_path: Path) -> None:
    with serve_receiver(tmp_path) as srv, UploadClient() as client:
        storage = LocalStorage(tmp_path, base_url=srv.url)
        request = storage.presign_put("shared/x", content_type=CT, content_length=2, expires_in=60)
        client.put_bytes(request, b"ok")
    assert storage.head("shared/x").size == 2


def test_a_truncated_secret_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / ".rindle-secret").write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="too short"):
        LocalStorage(tmp_path)


# -- through the broker ---------------------------------------------------------------------------


def test_broker_upload_end_to_end(
    sqlite_db: Database, storage: LocalStorage, pm: pluggy.PluginManager, tmp_path: Path
) -> None:
    broker = Broker(
        sqlite_db,
        profiles=[Profile(name="docs", storage="main", allow_mime=["application/pdf"])],
        storages={"main": storage},
        plugin_manager=pm,
        job_mode="inline",
    )
    path = tmp_path / "a.pdf"
    path.write_bytes(PDF)
    session = broker.initiate_session("docs", filename="a.pdf", content_type=CT, size=len(PDF))
    signed = broker.sign_url(session.id)
    with UploadClient() as client:
        client.put(signed.presigned, path)
    verified = broker.verify_completion(session.id)
    assert verified.session.state == "completed"
    assert broker.get_asset(verified.asset.id).state == "available"
    assert storage.head(session.storage_key).size == len(PDF)


def test_broker_refuses_a_body_larger_than_declared(
    sqlite_db: Database, storage: LocalStorage, pm: pluggy.PluginManager
) -> None:
    broker = Broker(
        sqlite_db,
        profiles=[Profile(name="docs", storage="main")],
        storages={"main": storage},
        plugin_manager=pm,
        job_mode="inline",
    )
    session = broker.initiate_session("docs", filename="a.pdf", content_type=CT, size=10)
    signed = broker.sign_url(session.id)
    from rindle_core import TransferFailed

    with UploadClient() as client, pytest.raises(TransferFailed) as caught:
        client.put_bytes(signed.presigned, b"x" * 11)
    assert caught.value.status == 413
    with pytest.raises(StorageNotFound):
        storage.head(session.storage_key)


# -- create-only ----------------------------------------------------------------------------------


def test_a_second_put_with_the_same_url_is_refused_and_writes_nothing(
    storage: LocalStorage,
) -> None:
    key = f"create-only/{os.getpid()}/same-url.png"
    png = b"\x89PNG\r\n\x1a\n" + bytes(56)
    html = b"<html><script>alert(1)</script>" + bytes(64 - 31)
    assert len(png) == len(html)
    request = storage.presign_put(key, content_type="image/png", content_length=64, expires_in=600)
    with UploadClient() as client:
        client.put_bytes(request, png)
        before = storage.head(key)
        with pytest.raises(TransferFailed) as caught:
            client.put_bytes(request, html)
    assert caught.value.status == 412
    assert "PreconditionFailed" in str(caught.value)
    assert storage.read_range(key, 0, 64) == png
    assert storage.head(key) == before


def test_write_bytes_is_create_only(offline: LocalStorage) -> None:
    offline.write_bytes("w/obj", b"first", content_type=CT)
    with pytest.raises(StorageConflict, match="already holds an object"):
        offline.write_bytes("w/obj", b"other", content_type="text/html")
    assert offline.read_range("w/obj", 0, 10) == b"first"
    assert offline.head("w/obj").content_type == CT
    assert not list((offline.root / "w").glob("*.rindle-tmp"))


class _GatedBody:
    """A body that blocks until every writer has passed the pre-check."""

    def __init__(self, data: bytes, gate: threading.Barrier) -> None:
        self._data = io.BytesIO(data)
        self._gate = gate
        self._waited = False

    def read(self, size: int, /) -> bytes:
        if not self._waited:
            self._waited = True
            self._gate.wait(30)
        return self._data.read(size)


def test_concurrent_writers_of_one_fresh_key_exactly_one_wins(tmp_path: Path) -> None:
    disk = Disk(tmp_path, fsync=False)
    writers = 8
    gate = threading.Barrier(writers)
    outcomes: dict[int, str] = {}

    def write(n: int) -> None:
        try:
            disk.write(
                "race/obj", _GatedBody(bytes([n]) * 1000, gate), content_type=CT, length=1000
            )
            outcomes[n] = "won"
        except ObjectExists:
            outcomes[n] = "refused"

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [n for n, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == writers
    assert len(winners) == 1
    assert (tmp_path / "race" / "obj").read_bytes() == bytes([winners[0]]) * 1000
    assert sorted(p.name for p in (tmp_path / "race").iterdir()) == [".obj.rindle-meta", "obj"]


def _write_from_another_process(
    root: str, n: int, gate: threading.Barrier, outcomes: multiprocessing.queues.Queue[str]
) -> None:
    disk = Disk(root, fsync=False)
    try:
        disk.write("race/obj", _GatedBody(bytes([n]) * 4096, gate), content_type=CT, length=4096)
        outcomes.put(f"won {n}")
    except ObjectExists:
        outcomes.put("refused")


def test_concurrent_writers_in_separate_processes_exactly_one_wins(tmp_path: Path) -> None:
    # No lock is shared across processes: the hard link alone must decide.
    context = multiprocessing.get_context("fork")
    writers = 4
    gate = context.Barrier(writers)
    outcomes: multiprocessing.queues.Queue[str] = context.Queue()
    processes = [
        context.Process(target=_write_from_another_process, args=(str(tmp_path), n, gate, outcomes))
        for n in range(writers)
    ]
    for process in processes:
        process.start()
    results = sorted(outcomes.get(timeout=60) for _ in range(writers))
    for process in processes:
        process.join(60)
    assert results[:-1] == ["refused"] * (writers - 1)
    assert results[-1].startswith("won ")
    winner = int(results[-1].split()[1])
    assert (tmp_path / "race" / "obj").read_bytes() == bytes([winner]) * 4096
    assert not list((tmp_path / "race").glob("*.rindle-tmp"))


def test_concurrent_puts_to_a_fresh_key_over_http_exactly_one_is_stored(
    storage: LocalStorage,
) -> None:
    key = f"create-only/{os.getpid()}/{os.urandom(4).hex()}.bin"
    senders = 6
    gate = threading.Barrier(senders)
    statuses: dict[int, int] = {}

    def put(n: int) -> None:
        request = storage.presign_put(key, content_type=CT, content_length=50_000, expires_in=60)
        gate.wait(30)
        with httpx.Client(timeout=30) as client:
            response = client.put(request.url, content=bytes([n]) * 50_000, headers=request.headers)
        statuses[n] = response.status_code

    threads = [threading.Thread(target=put, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [n for n, status in statuses.items() if status == 200]
    assert len(winners) == 1, statuses
    assert sorted(statuses.values()) == [200] + [412] * (senders - 1)
    assert storage.read_range(key, 0, 50_000) == bytes([winners[0]]) * 50_000


# -- versions -------------------------------------------------------------------------------------


def test_version_is_stable_and_changes_when_the_key_is_re_created(offline: LocalStorage) -> None:
    first = offline.write_bytes("v/obj", b"same bytes", content_type=CT)
    assert first.version and offline.head("v/obj").version == first.version
    offline.delete("v/obj")
    # The same bytes again, maybe in the same clock tick and on the same inode.
    again = offline.write_bytes("v/obj", b"same bytes", content_type=CT)
    assert again.version != first.version
    assert offline.head("v/obj").version == again.version


def test_version_changes_when_the_file_is_rewritten_behind_our_back(offline: LocalStorage) -> None:
    head = offline.write_bytes("v/behind", b"12345", content_type=CT)
    path = offline.root / "v" / "behind"
    path.write_bytes(b"54321")
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))
    assert offline.head("v/behind").version != head.version


def test_version_survives_a_copy_that_keeps_timestamps(tmp_path: Path) -> None:
    first = LocalStorage(tmp_path / "a", secret=SECRET)
    head = first.write_bytes("v/copied", b"abc", content_type=CT)
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # copy2: mtimes kept, new inodes
    assert LocalStorage(tmp_path / "b", secret=SECRET).head("v/copied").version == head.version


def test_read_range_bound_to_a_version(offline: LocalStorage) -> None:
    stale = offline.write_bytes("v/read", b"old!", content_type=CT).version
    offline.delete("v/read")
    current = offline.write_bytes("v/read", b"new!", content_type=CT).version
    assert offline.read_range("v/read", 0, 4, version=current) == b"new!"
    with pytest.raises(StorageConflict):
        offline.read_range("v/read", 0, 4, version=stale)
    with pytest.raises(InvalidArgument):
        offline.read_range("v/read", 0, 4, version=7)  # type: ignore[arg-type]


# -- a root that disappears -----------------------------------------------------------------------


def test_a_deleted_root_is_a_storage_error_not_a_missing_object(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root", secret=SECRET)
    storage.write_bytes("k/obj", b"x", content_type=CT)
    shutil.rmtree(tmp_path / "root")
    for call in (
        lambda: storage.head("k/obj"),
        lambda: storage.read_range("k/obj", 0, 1),
        lambda: storage.delete("k/obj"),
        lambda: storage.write_bytes("k/new", b"y", content_type=CT),
    ):
        with pytest.raises(StorageError, match="does not exist") as caught:
            call()
        assert not isinstance(caught.value, StorageNotFound)
    assert not (tmp_path / "root").exists()  # never silently re-created


def test_an_upload_to_a_deleted_root_is_a_server_error_and_recreates_nothing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "served"
    with serve_receiver(root, SECRET) as server:
        storage = LocalStorage(root, base_url=server.url, secret=SECRET)
        request = storage.presign_put("k/obj", content_type=CT, content_length=1, expires_in=60)
        shutil.rmtree(root)
        response = httpx.put(request.url, content=b"x", headers=request.headers)
    assert response.status_code == 500
    assert not root.exists()


# -- the replay, through the broker -------------------------------------------------------


def test_a_verified_asset_cannot_be_replaced_with_its_own_url(
    sqlite_db: Database, storage: LocalStorage, pm: pluggy.PluginManager
) -> None:
    broker = Broker(
        sqlite_db,
        profiles=[Profile(name="pics", storage="main", allow_mime=["image/png"])],
        storages={"main": storage},
        plugin_manager=pm,
        job_mode="inline",
    )
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
    session = broker.initiate_session(
        "pics", filename="a.png", content_type="image/png", size=len(png)
    )
    signed = broker.sign_url(session.id)
    with UploadClient() as client:
        client.put_bytes(signed.presigned, png)
        verified = broker.verify_completion(session.id)
        before = storage.head(session.storage_key)
        html = b"<html><script>document.cookie</script>".ljust(len(png), b" ")
        with pytest.raises(TransferFailed) as caught:
            client.put_bytes(signed.presigned, html)
    assert caught.value.status == 412
    assert storage.read_range(session.storage_key, 0, len(png)) == png
    assert storage.head(session.storage_key) == before
    assert broker.get_asset(verified.asset.id).state == "available"
