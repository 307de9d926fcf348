"""Form POSTs on the local backend: the signed fields, the streaming form reader, the broker."""

from __future__ import annotations

import io
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rindle_core import (
    AssetState,
    Broker,
    Database,
    InvalidArgument,
    Profile,
    SessionState,
    StorageNotFound,
    UploadUnsupported,
)
from rindle_core.local import LocalStorage, ReceiverServer
from rindle_core.local._disk import IncompleteBody
from rindle_core.local._form import (
    MAX_FIELDS_BYTES,
    BodyTooSmall,
    FormError,
    FormReader,
    SizedFile,
    boundary_of,
)
from rindle_core.plugins import make_plugin_manager
from rindle_core.storage import Capability, PresignedPost

SECRET = "local-post-test-secret-0123456789abcd"
CT = "application/pdf"
ORIGIN = "https://app.example"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def server(root: Path) -> Iterator[ReceiverServer]:
    bare = LocalStorage(root, secret=SECRET, fsync=False)
    with ReceiverServer(bare.receiver(allow_origins=[ORIGIN])) as srv:
        yield srv


@pytest.fixture
def storage(root: Path, server: ReceiverServer) -> LocalStorage:
    return LocalStorage(root, base_url=server.url, secret=SECRET, fsync=False)


def sign(storage: LocalStorage, key: str, *, low: int = 0, high: int = 1000) -> PresignedPost:
    return storage.presign_post(key, content_type=CT, min_size=low, max_size=high, expires_in=60)


def send(
    post: PresignedPost,
    data: bytes,
    *,
    fields: dict[str, str] | None = None,
    file_type: str = "application/octet-stream",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST as Uppy does: every field, then the file (its own type is the browser's guess)."""
    form = dict(post.fields) if fields is None else fields
    return httpx.post(
        post.url,
        data=form,
        files={"file": ("upload.pdf", data, file_type)},
        headers=headers,
        timeout=30,
    )


def code_of(response: httpx.Response) -> str:
    return response.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


# -- what presign_post signs ---------------------------------------------------------------------


def test_the_form_carries_key_type_and_the_token(storage: LocalStorage) -> None:
    post = sign(storage, "f/a.pdf", low=1, high=99)
    assert post.url == f"{storage.base_url}/o/f/a.pdf"
    assert list(post.fields) == [
        "key",
        "Content-Type",
        "x-rindle-expires",
        "x-rindle-min-size",
        "x-rindle-max-size",
        "x-rindle-signature",
    ]
    assert (post.fields["key"], post.fields["Content-Type"]) == ("f/a.pdf", CT)
    assert (post.fields["x-rindle-min-size"], post.fields["x-rindle-max-size"]) == ("1", "99")
    assert post.create_only
    assert post.fields["x-rindle-signature"] not in repr(post)


def test_without_a_receiver_post_is_withheld(tmp_path: Path) -> None:
    offline = LocalStorage(tmp_path, secret=SECRET)
    assert Capability.PRESIGNED_POST not in offline.capabilities
    with pytest.raises(UploadUnsupported):
        sign(offline, "k.pdf")


def test_the_largest_post_is_the_receivers_default_body_limit(storage: LocalStorage) -> None:
    assert storage.max_post_size == 5 * 1024**3
    with pytest.raises(InvalidArgument):
        sign(storage, "k.pdf", high=storage.max_post_size + 1)


# -- the receiver ---------------------------------------------------------------------------------


def test_a_form_post_creates_the_object_with_the_signed_type(
    storage: LocalStorage, root: Path
) -> None:
    post = sign(storage, "p/ok.pdf")
    response = send(post, b"%PDF-1.4 form", file_type="text/html", headers={"Origin": ORIGIN})
    assert response.status_code == 204
    head = storage.head("p/ok.pdf")
    assert (head.size, head.content_type) == (13, CT)  # the field's type, not the file part's
    assert response.headers["ETag"] == head.etag
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]
    assert storage.read_range("p/ok.pdf", 0, 100) == b"%PDF-1.4 form"
    assert not list(root.rglob("*.rindle-tmp"))


def test_a_preflight_allows_post(server: ReceiverServer) -> None:
    response = httpx.options(
        f"{server.url}/o/p/x.pdf",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"Content-Type": "text/html"}, 403, "SignatureDoesNotMatch"),
        ({"x-rindle-max-size": "100000"}, 403, "SignatureDoesNotMatch"),
        ({"x-rindle-min-size": "0"}, 403, "SignatureDoesNotMatch"),
        ({"x-rindle-expires": "9999999999"}, 403, "SignatureDoesNotMatch"),
        ({"x-rindle-signature": "v2." + "0" * 64}, 403, "SignatureDoesNotMatch"),
        ({"key": "p/other.pdf"}, 403, "AccessDenied"),
        ({"x-rindle-signature": None}, 403, "AccessDenied"),
        ({"Content-Type": None}, 403, "AccessDenied"),
        ({"x-rindle-max-size": "1e3"}, 403, "AccessDenied"),
    ],
)
def test_a_tampered_form_is_refused_and_writes_nothing(
    storage: LocalStorage, root: Path, change: dict[str, str | None], status: int, code: str
) -> None:
    post = sign(storage, "p/t.pdf", low=1)
    fields = dict(post.fields)
    for name, value in change.items():
        if value is None:
            del fields[name]
        else:
            fields[name] = value
    response = send(post, b"data", fields=fields)
    assert (response.status_code, code_of(response)) == (status, code)
    with pytest.raises(StorageNotFound):
        storage.head("p/t.pdf")
    assert not (root / "p").exists()


def test_a_form_for_another_url_is_refused(storage: LocalStorage) -> None:
    post = sign(storage, "p/a.pdf")
    moved = PresignedPost(
        url=post.url.replace("/o/p/a.pdf", "/o/p/b.pdf"),
        fields=post.fields,
        expires_at=post.expires_at,
    )
    assert send(moved, b"data").status_code == 403
    for key in ("p/a.pdf", "p/b.pdf"):
        with pytest.raises(StorageNotFound):
            storage.head(key)


def test_the_size_range_holds_without_a_declared_size(storage: LocalStorage, root: Path) -> None:
    post = sign(storage, "s/x.pdf", low=10, high=20)
    large, small = send(post, b"x" * 21), send(post, b"x" * 9)
    assert (large.status_code, code_of(large)) == (413, "EntityTooLarge")
    assert (small.status_code, code_of(small)) == (400, "EntityTooSmall")
    with pytest.raises(StorageNotFound):
        storage.head("s/x.pdf")
    assert not list(root.rglob("*.rindle-tmp"))
    assert send(post, b"x" * 20).status_code == 204


def test_a_form_post_is_create_only(storage: LocalStorage) -> None:
    post = sign(storage, "c/x.pdf")
    assert send(post, b"first").status_code == 204
    again = send(post, b"second")
    assert (again.status_code, code_of(again)) == (412, "PreconditionFailed")
    assert storage.read_range("c/x.pdf", 0, 100) == b"first"


def test_an_expired_form_is_refused(storage: LocalStorage) -> None:
    post = storage.presign_post("e/x.pdf", content_type=CT, min_size=0, max_size=9, expires_in=1)
    time.sleep(1.1)
    response = send(post, b"late")
    assert (response.status_code, code_of(response)) == (403, "ExpiredToken")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"key=a"),
        ("multipart/form-data", b"--x\r\n"),  # no boundary
        ("multipart/form-data; boundary=x", b"--x\r\nbroken header\r\n\r\nv\r\n--x--\r\n"),
        ("multipart/form-data; boundary=x", b"--x--\r\n"),  # no file
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data"),  # cut
    ],
)
def test_a_body_that_is_not_a_signed_form_is_refused(
    server: ReceiverServer, root: Path, content_type: str, body: bytes
) -> None:
    response = httpx.post(
        f"{server.url}/o/m/x.pdf", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    assert code_of(response) == "MalformedPOSTRequest"
    assert not (root / "m").exists()


def test_a_post_without_content_length_gets_411(server: ReceiverServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"--x\r\n"

    response = httpx.post(
        f"{server.url}/o/m/x.pdf",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 411


# -- the form reader (unit) -----------------------------------------------------------------------


def _form(*parts: tuple[str, bytes], boundary: str = "b0und") -> bytes:
    out = b""
    for name, value in parts:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        if name == "file":
            out += b'; filename="a.bin"\r\nContent-Type: application/octet-stream'
        out += b"\r\n\r\n" + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


class _Trickle:
    """A stream that hands out *data* a few bytes per read (boundaries split anywhere)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, size: int, /) -> bytes:
        return self._data.read(min(size, self._step))


@pytest.mark.parametrize("step", [1, 3, 7, 64, 1 << 20])
def test_the_reader_finds_fields_and_file_however_the_body_is_split(step: int) -> None:
    content = b"line\r\n--b0un not quite\r\n-\r\n--b0u\r" * 50  # near misses only
    body = _form(("key", b"a/b"), ("Content-Type", CT.encode()), ("file", content))
    reader = FormReader(_Trickle(body, step), b"b0und")
    assert reader.fields() == {"key": "a/b", "Content-Type": CT}
    out = b""
    while chunk := reader.read(5):
        out += chunk
    assert out == content
    assert reader.read(5) == b""


def test_the_reader_refuses_what_a_form_must_not_be() -> None:
    repeated = _form(("key", b"a"), ("key", b"b"), ("file", b"x"))
    with pytest.raises(FormError, match="repeats"):
        FormReader(io.BytesIO(repeated), b"b0und").fields()
    huge = _form(("pad", b"x" * MAX_FIELDS_BYTES), ("file", b"x"))
    with pytest.raises(FormError, match="too large"):
        FormReader(io.BytesIO(huge), b"b0und").fields()
    # Cut inside the closing delimiter: the file is never taken as whole.
    cut = _form(("key", b"a"), ("file", b"whole file"))[:-5]
    reader = FormReader(io.BytesIO(cut), b"b0und")
    reader.fields()
    with pytest.raises(IncompleteBody):
        reader.read(100)
    small = FormReader(io.BytesIO(_form(("file", b"abc"))), b"b0und")
    small.fields()
    sized = SizedFile(small, 4)
    assert sized.read(10) == b"abc"
    with pytest.raises(BodyTooSmall):
        sized.read(10)


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=abc", b"abc"),
        ('multipart/form-data; boundary="a b:c"', b"a b:c"),
        ("Multipart/Form-Data; Boundary=xyz", b"xyz"),
        ("multipart/mixed; boundary=abc", None),
        ("multipart/form-data", None),
        ("multipart/form-data; boundary=" + "x" * 71, None),
        ("text/plain", None),
    ],
)
def test_the_boundary_is_read_from_the_content_type(
    content_type: str, boundary: bytes | None
) -> None:
    assert boundary_of(content_type) == boundary


def test_the_file_streams_in_constant_memory() -> None:
    size = 16 * 1024 * 1024
    head = b'--b0und\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
    tail = b"\r\n--b0und--\r\n"

    reader = FormReader(_Chunked(head, size, tail), b"b0und")
    tracemalloc.start()
    try:
        reader.fields()
        total = 0
        while chunk := reader.read(256 * 1024):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 2 * 1024 * 1024, f"reading a 16 MiB file peaked at {peak} bytes"


class _Chunked:
    """*head*, then *size* zero bytes, then *tail*, without ever holding the zeros."""

    def __init__(self, head: bytes, size: int, tail: bytes) -> None:
        self._pieces: list[bytes | int] = [head, size, tail]

    def read(self, n: int, /) -> bytes:
        while self._pieces:
            piece = self._pieces[0]
            if isinstance(piece, int):
                take = min(n, piece)
                if take:
                    self._pieces[0] = piece - take
                    return bytes(take)
            elif piece:
                self._pieces[0] = piece[n:]
                return piece[:n]
            self._pieces.pop(0)
        return b""


# -- the broker end to end ------------------------------------------------------------------------


def test_a_broker_post_session_completes_on_the_local_backend(
    sqlite_db: Database, storage: LocalStorage
) -> None:
    broker = Broker(
        sqlite_db,
        profiles=[Profile(name="docs", storage="files", max_bytes=1000)],
        storages={"files": storage},
        plugin_manager=make_plugin_manager(load_entrypoints=False),
    )
    session = broker.initiate_post_session("docs", filename="a.pdf", content_type=CT)
    signed = broker.sign_post(session.id)
    assert signed.post.fields["x-rindle-max-size"] == "1000"
    data = b"%PDF-1.4\n" + bytes(100)
    assert send(signed.post, data).status_code == 204
    assert send(signed.post, b"%PDF-1.4\nagain").status_code == 412
    done = broker.verify_completion(session.id)
    assert done.session.state is SessionState.COMPLETED
    assert done.asset.byte_size == len(data)
    broker.run_jobs()
    assert broker.get_asset(done.asset.id).state is AssetState.AVAILABLE
