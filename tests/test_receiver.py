"""The local backend's signed tokens and its WSGI upload receiver over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rindle_core import InvalidArgument, TransferFailed
from rindle_core.client import UploadClient
from rindle_core.local import LocalStorage, ReceiverServer, UploadReceiver, _tokens, serve_receiver
from rindle_core.local._receiver import _parse_range
from rindle_core.local._server import DEFAULT_BODY_TIMEOUT
from rindle_core.local._tokens import Claims, TokenError

SECRET = b"receiver-test-secret-0123456789abcdef"
CT = "application/pdf"


# -----------------------------------------------------------------------------
# tokens (unit)
# -----------------------------------------------------------------------------


def _claims(**changes: object) -> Claims:
    base: dict[str, object] = {
        "method": "PUT",
        "key": "docs/a.pdf",
        "expires": int(time.time()) + 600,
        "content_type": CT,
        "content_length": 42,
    }
    base.update(changes)
    return Claims(**base)  # type: ignore[arg-type]


def _query(claims: Claims, secret: bytes = SECRET) -> dict[str, str]:
    return claims.query(_tokens.sign(secret, claims))


def test_token_roundtrip() -> None:
    claims = _claims()
    assert _tokens.verify(SECRET, "PUT", claims.key, _query(claims)) == claims


def test_signature_is_versioned() -> None:
    assert _tokens.sign(SECRET, _claims()).startswith("v2.")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("exp", "9999999999"),
        ("ct", "image/png"),
        ("len", "43"),
        ("len", None),
        ("ct", None),
        ("sig", "v1." + "0" * 64),
        ("ver", "0" * 32),
        ("rct", "text/html"),
        ("rcd", "inline"),
    ],
)
def test_tampering_any_query_field_breaks_the_signature(field: str, value: str | None) -> None:
    claims = _claims()
    query = _query(claims)
    if value is None:
        del query[field]
    else:
        query[field] = value
    assert _tokens.verify(SECRET, "PUT", claims.key, query) is TokenError.BAD_SIGNATURE


def test_another_key_or_method_or_secret_breaks_the_signature() -> None:
    query = _query(_claims())
    assert _tokens.verify(SECRET, "PUT", "docs/b.pdf", query) is TokenError.BAD_SIGNATURE
    assert _tokens.verify(SECRET, "GET", "docs/a.pdf", query) is TokenError.BAD_SIGNATURE
    other = b"another-secret-0123456789abcdef"
    assert _tokens.verify(other, "PUT", "docs/a.pdf", query) is TokenError.BAD_SIGNATURE


def test_flipping_one_signature_character_is_refused() -> None:
    query = _query(_claims())
    sig = query["sig"]
    query["sig"] = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert _tokens.verify(SECRET, "PUT", "docs/a.pdf", query) is TokenError.BAD_SIGNATURE


def test_an_unbound_field_never_equals_a_dash() -> None:
    unbound = _claims(content_type=None, content_length=None)
    dashed = _claims(content_type="-", content_length=None)
    assert _tokens.sign(SECRET, unbound) != _tokens.sign(SECRET, dashed)


def test_expired_token_is_refused_only_when_genuine() -> None:
    claims = _claims(expires=1_000)
    query = _query(claims)
    assert _tokens.verify(SECRET, "PUT", claims.key, query) is TokenError.EXPIRED
    query["sig"] = query["sig"][:-1] + ("0" if query["sig"][-1] != "0" else "1")
    assert _tokens.verify(SECRET, "PUT", claims.key, query) is TokenError.BAD_SIGNATURE


def test_expiry_is_checked_against_the_clock() -> None:
    claims = _claims(expires=5_000)
    query = _query(claims)
    assert _tokens.verify(SECRET, "PUT", claims.key, query, now=lambda: 4_999.0) == claims
    assert _tokens.verify(SECRET, "PUT", claims.key, query, now=lambda: 5_000.0) is (
        TokenError.EXPIRED
    )


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"sig": "v1.00"},
        {"exp": "100"},
        {"exp": "+100", "sig": "v1.00"},
        {"exp": "0100", "sig": "v1.00"},
        {"exp": " 100", "sig": "v1.00"},
        {"exp": "1_00", "sig": "v1.00"},
        {"exp": "100", "len": "-1", "sig": "v1.00"},
        {"exp": "100", "len": "1e3", "sig": "v1.00"},
        {"exp": "100", "sig": ""},
    ],
)
def test_malformed_queries_are_refused(query: dict[str, str]) -> None:
    assert _tokens.verify(SECRET, "PUT", "k", query) is TokenError.MALFORMED


def test_part_tokens_bind_upload_and_number() -> None:
    part = _claims(content_type=None, upload_id="a" * 32, part_number=7)
    query = _query(part)
    assert (query["up"], query["pn"]) == ("a" * 32, "7")
    assert _tokens.verify(SECRET, "PUT", part.key, query) == part
    for name, value in (("up", "b" * 32), ("pn", "8"), ("len", "41")):
        assert _tokens.verify(SECRET, "PUT", part.key, {**query, name: value}) is (
            TokenError.BAD_SIGNATURE
        )
    # Without both fields the query names an object PUT, which was never signed.
    bare = {k: v for k, v in query.items() if k not in ("up", "pn")}
    assert _tokens.verify(SECRET, "PUT", part.key, bare) is TokenError.BAD_SIGNATURE
    for lone in ("up", "pn"):
        half = {k: v for k, v in query.items() if k != lone}
        assert _tokens.verify(SECRET, "PUT", part.key, half) is TokenError.MALFORMED
    for bad in ("07", "+7", "7.0", ""):
        assert _tokens.verify(SECRET, "PUT", part.key, {**query, "pn": bad}) is (
            TokenError.MALFORMED
        )


def test_object_tokens_keep_their_message_and_never_equal_a_part_token() -> None:
    whole = _claims()
    # The v2 object message is unchanged: URLs signed before multipart still verify.
    assert json.loads(whole.message()) == [
        "rindle-local/v2",
        "PUT",
        "docs/a.pdf",
        CT,
        42,
        whole.expires,
        None,
        None,
        None,
    ]
    part = _claims(upload_id="a" * 32, part_number=1)
    assert json.loads(part.message())[-3:] == ["part", "a" * 32, 1]
    assert _tokens.sign(SECRET, whole) != _tokens.sign(SECRET, part)


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    claims = _claims()
    query = _query(claims)
    query["sig"] = "v2." + "f" * 64
    assert _tokens.verify(SECRET, "PUT", claims.key, query) is TokenError.BAD_SIGNATURE
    assert seen == [(_tokens.sign(SECRET, claims).encode(), query["sig"].encode())]


_text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), min_size=1, max_size=30)


@given(
    key=_text,
    other_key=_text,
    content_type=_text,
    length=st.none() | st.integers(0, 2**40),
    other_length=st.none() | st.integers(0, 2**40),
)
def test_any_change_of_key_or_length_is_refused(
    key: str, other_key: str, content_type: str, length: int | None, other_length: int | None
) -> None:
    claims = Claims("PUT", key, 2**40, content_type, length)
    query = _query(claims)
    assert _tokens.verify(SECRET, "PUT", key, query, now=lambda: 0.0) == claims
    if other_key != key:
        assert _tokens.verify(SECRET, "PUT", other_key, query) is TokenError.BAD_SIGNATURE
    if other_length != length:
        forged = dict(query)
        forged.pop("len", None)
        if other_length is not None:
            forged["len"] = str(other_length)
        assert _tokens.verify(SECRET, "PUT", key, forged) is TokenError.BAD_SIGNATURE


# -----------------------------------------------------------------------------
# the receiver over real HTTP on 127.0.0.1
# -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("receiver-root")


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ReceiverServer]:
    try:
        srv = serve_receiver(root, SECRET, allow_origins=["https://app.example"])
    except OSError as exc:
        pytest.fail(f"could not start the local upload receiver on 127.0.0.1: {exc}")
    with srv:
        yield srv


@pytest.fixture
def storage(root: Path, server: ReceiverServer) -> LocalStorage:
    return LocalStorage(root, base_url=server.url, secret=SECRET)


@pytest.fixture
def client() -> Iterator[UploadClient]:
    with UploadClient(timeout=30) as c:
        yield c


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    return f"receiver/{request.node.name[:60]}/{time.time_ns()}.pdf".replace("[", "_").replace(
        "]", "_"
    )


def snapshot(root: Path) -> set[str]:
    """Every file and directory under *root* (relative paths)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def code_of(body: bytes) -> str:
    """The ``<Code>`` of an error body."""
    match = re.search(rb"<Code>(\w+)</Code>", body)
    return match.group(1).decode() if match else ""


def raw_request(
    server: ReceiverServer,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Send *target* byte-for-byte (no client-side URL normalisation)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def exchange(server: ReceiverServer, raw: bytes) -> bytes:
    """Send *raw* in one go, then read the whole reply."""
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def signed_target(
    key: str,
    *,
    raw_path: str | None = None,
    method: str = "PUT",
    content_type: str | None = CT,
    length: int | None = None,
    expires: int | None = None,
    secret: bytes = SECRET,
) -> str:
    """A request target for *key* signed with the test secret (even a hostile key)."""
    claims = Claims(
        method,
        key,
        expires if expires is not None else int(time.time()) + 600,
        content_type if method == "PUT" else None,
        length,
    )
    query = urlencode(claims.query(_tokens.sign(secret, claims)), quote_via=quote)
    path = raw_path if raw_path is not None else quote(key, safe="/")
    return f"/o/{path}?{query}"


def test_upload_is_stored_with_its_metadata(
    storage: LocalStorage, client: UploadClient, key: str
) -> None:
    data = b"%PDF-1.4 hello"
    request = storage.presign_put(key, content_type=CT, content_length=len(data), expires_in=60)
    response = client.put_bytes(request, data)
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert (storage.root / key).read_bytes() == data
    head = storage.head(key)
    assert (head.size, head.content_type, head.etag) == (len(data), CT, response.headers["ETag"])


def _refused(
    client: UploadClient, request_url: str, headers: dict[str, str], data: bytes
) -> TransferFailed:
    from rindle_core import PresignedRequest

    with pytest.raises(TransferFailed) as caught:
        client.put_bytes(PresignedRequest(url=request_url, method="PUT", headers=headers), data)
    return caught.value


def _swap_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    fields = [f for f in parts.query.split("&") if not f.startswith(f"{name}=")]
    fields.append(f"{name}={quote(value, safe='')}")
    return parts._replace(query="&".join(fields)).geturl()


@pytest.mark.parametrize(
    ("param", "value"),
    [("sig", "v1." + "0" * 64), ("ct", "image/png"), ("len", "1000"), ("exp", "9999999999")],
)
def test_tampered_uploads_get_403_and_write_nothing(
    storage: LocalStorage, client: UploadClient, root: Path, key: str, param: str, value: str
) -> None:
    request = storage.presign_put(key, content_type=CT, content_length=4, expires_in=60)
    headers = dict(request.headers)
    if param == "ct":
        headers["Content-Type"] = value
    before = snapshot(root)
    error = _refused(client, _swap_param(request.url, param, value), headers, b"data")
    assert error.status == 403
    assert "SignatureDoesNotMatch" in str(error)
    assert snapshot(root) == before


def test_a_url_for_another_key_is_refused(
    storage: LocalStorage, client: UploadClient, root: Path, key: str
) -> None:
    request = storage.presign_put(key, content_type=CT, content_length=4, expires_in=60)
    other = request.url.replace("/o/receiver/", "/o/elsewhere/", 1)
    assert other != request.url
    before = snapshot(root)
    error = _refused(client, other, dict(request.headers), b"data")
    assert error.status == 403
    assert snapshot(root) == before


def test_expired_upload_gets_403(server: ReceiverServer, root: Path, key: str) -> None:
    target = signed_target(key, length=4, expires=int(time.time()) - 1)
    before = snapshot(root)
    status, body = raw_request(
        server, "PUT", target, b"data", {"Content-Type": CT, "Content-Length": "4"}
    )
    assert (status, code_of(body)) == (403, "ExpiredToken")
    assert snapshot(root) == before


def test_wrong_method_is_refused(storage: LocalStorage, client: UploadClient, key: str) -> None:
    put = storage.presign_put(key, content_type=CT, content_length=4, expires_in=60)
    assert httpx.get(put.url).status_code == 403
    get = storage.presign_get(key, expires_in=60)
    error = _refused(client, get.url, {"Content-Type": CT}, b"data")
    assert error.status == 403


def test_wrong_content_type_is_refused(
    storage: LocalStorage, client: UploadClient, root: Path, key: str
) -> None:
    request = storage.presign_put(key, content_type=CT, content_length=4, expires_in=60)
    before = snapshot(root)
    error = _refused(client, request.url, {"Content-Type": "text/html"}, b"data")
    assert error.status == 403
    assert "ContentTypeMismatch" in str(error)
    assert snapshot(root) == before


def test_oversize_upload_gets_413(
    storage: LocalStorage, client: UploadClient, root: Path, key: str
) -> None:
    request = storage.presign_put(key, content_type=CT, content_length=4, expires_in=60)
    before = snapshot(root)
    error = _refused(client, request.url, dict(request.headers), b"data+more")
    assert error.status == 413
    assert snapshot(root) == before


def test_a_refused_body_is_drained_so_the_client_reads_the_status(tmp_path: Path) -> None:
    # Bigger than the loopback socket buffers: unless the receiver reads it,
    # a client that sends the whole body before reading (as browsers may)
    # gets a connection reset instead of the 413.
    body = bytes(16 * 1024 * 1024)
    app = UploadReceiver(tmp_path, SECRET, drain_limit=len(body))
    with ReceiverServer(app) as srv:
        target = signed_target("big/x", length=10)
        with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
            head = (
                f"PUT {target} HTTP/1.1\r\nHost: {srv.host}\r\n"
                f"Content-Type: {CT}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(head.encode() + body)
            reply = sock.recv(65536)
    assert reply.split(b" ", 2)[1] == b"413"
    assert not (tmp_path / "big").exists()


def test_declared_shorter_than_signed_gets_400(
    storage: LocalStorage, client: UploadClient, root: Path, key: str
) -> None:
    request = storage.presign_put(key, content_type=CT, content_length=4, expires_in=60)
    before = snapshot(root)
    error = _refused(client, request.url, dict(request.headers), b"dat")
    assert error.status == 400
    assert snapshot(root) == before


def test_body_shorter_than_declared_gets_400_and_leaves_nothing(
    server: ReceiverServer, root: Path, key: str
) -> None:
    target = signed_target(key, length=100)
    before = snapshot(root)
    head = f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: 100\r\n\r\n"
    reply = exchange(server, head.encode() + b"x" * 60)  # the client gives up after 60 bytes
    assert reply.split(b" ", 2)[1] == b"400"
    assert code_of(reply) == "IncompleteBody"
    assert snapshot(root) == before  # no object, no temp file, no directory


@pytest.mark.parametrize(
    ("length_header", "status", "code"),
    [
        ("Transfer-Encoding: chunked", 411, "MissingContentLength"),
        ("X-No-Length: 1", 411, "MissingContentLength"),
        ("Content-Length: +4", 400, "InvalidContentLength"),
    ],
)
def test_uploads_need_a_valid_content_length(
    server: ReceiverServer, root: Path, key: str, length_header: str, status: int, code: str
) -> None:
    target = signed_target(key, length=4)
    before = snapshot(root)
    reply = exchange(
        server,
        f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\n{length_header}\r\n\r\n"
        "4\r\ndata\r\n0\r\n\r\n".encode(),
    )
    assert reply.split(b" ", 2)[1] == str(status).encode()
    assert code_of(reply) == code
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("key", "raw_path"),
    [
        ("../etc/passwd", "../etc/passwd"),
        ("a/../../b", "a/../../b"),
        ("/etc/passwd", "/etc/passwd"),
        ("../x", "%2e%2e/x"),
        ("a/../../../x", "a/%2E%2E/%2e%2e/%2e%2E/x"),
        ("a\\..\\b", "a%5C..%5Cb"),
        ("a\x00b", "a%00b"),
        ("a//b", "a//b"),
        ("a/./b", "a/./b"),
        (".rindle-secret", ".rindle-secret"),
        ("x/.y.rindle-meta", "x/.y.rindle-meta"),
        ("trailing/", "trailing/"),
    ],
)
def test_hostile_keys_get_400_even_when_signed(
    server: ReceiverServer, root: Path, key: str, raw_path: str
) -> None:
    outside = root.parent / "passwd"
    before = snapshot(root)
    target = signed_target(key, raw_path=raw_path, length=4)
    status, body = raw_request(
        server, "PUT", target, b"data", {"Content-Type": CT, "Content-Length": "4"}
    )
    assert (status, code_of(body)) == (400, "InvalidKey")
    assert snapshot(root) == before
    assert not outside.exists()


def test_the_secret_file_is_never_served(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, base_url="http://127.0.0.1:1")  # secret from the root
    secret = (tmp_path / ".rindle-secret").read_bytes()
    with serve_receiver(tmp_path) as srv:
        target = signed_target(".rindle-secret", method="GET", secret=secret)
        status, body = raw_request(srv, "GET", target)
    assert status == 400
    assert secret not in body
    assert storage.root == tmp_path.resolve()


def test_unbound_length_is_capped_by_max_body(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, secret=SECRET)
    with serve_receiver(tmp_path, SECRET, max_body=10) as srv, UploadClient() as client:
        storage = LocalStorage(tmp_path, base_url=srv.url, secret=SECRET)
        request = storage.presign_put("a/b", content_type=CT, content_length=None, expires_in=60)
        assert "Content-Length" not in request.headers
        assert client.put_bytes(request, b"0123456789").status_code == 200
        error = _refused(client, request.url, dict(request.headers), b"0123456789+")
        assert error.status == 413
    assert storage.head("a/b").size == 10


def test_a_directory_key_conflict_gets_409(
    storage: LocalStorage, client: UploadClient, key: str
) -> None:
    storage.write_bytes(f"{key}/inner", b"x", content_type=CT)
    request = storage.presign_put(key, content_type=CT, content_length=1, expires_in=60)
    error = _refused(client, request.url, dict(request.headers), b"y")
    assert error.status == 409


def test_other_methods_and_routes(server: ReceiverServer) -> None:
    assert httpx.delete(f"{server.url}/o/a").status_code == 405
    assert httpx.head(f"{server.url}/o/a").status_code == 405
    assert httpx.get(f"{server.url}/elsewhere").status_code == 404
    assert httpx.put(f"{server.url}/o/a", content=b"x").status_code == 403  # unsigned


def test_upload_is_atomic_no_partial_object_is_visible(
    storage: LocalStorage, root: Path, key: str
) -> None:
    data = b"A" * 300_000 + b"B" * 300_000
    request = storage.presign_put(key, content_type=CT, content_length=len(data), expires_in=60)
    first_sent, proceed = threading.Event(), threading.Event()
    outcome: list[int | BaseException] = []

    def body() -> Iterator[bytes]:
        yield data[:300_000]
        first_sent.set()
        proceed.wait(30)
        yield data[300_000:]

    def upload() -> None:
        try:
            with httpx.Client(timeout=30) as http_client:
                response = http_client.put(
                    request.url,
                    content=body(),
                    headers={**request.headers, "Content-Length": str(len(data))},
                )
                outcome.append(response.status_code)
        except BaseException as exc:  # surfaced below
            outcome.append(exc)

    thread = threading.Thread(target=upload)
    thread.start()
    try:
        assert first_sent.wait(30)
        target = root / key
        temp_files: list[Path] = []
        for _ in range(300):  # wait for the server to start writing its temporary file
            temp_files = list(target.parent.glob("*.rindle-tmp")) if target.parent.exists() else []
            if temp_files:
                break
            time.sleep(0.05)
        assert temp_files, "the receiver never started a temporary file"
        assert all(t.parent == target.parent for t in temp_files)  # same directory: atomic
        assert not target.exists()  # half an upload is never visible under the key
    finally:
        proceed.set()
        thread.join(60)
    assert outcome == [200]
    assert target.read_bytes() == data
    assert not list(target.parent.glob("*.rindle-tmp"))


# -- signed GET ------------------------------------------------------------------


@pytest.fixture
def stored(storage: LocalStorage, key: str) -> tuple[str, bytes]:
    data = bytes(range(256)) * 4
    storage.write_bytes(key, data, content_type=CT)
    return key, data


def test_signed_get_serves_the_object(storage: LocalStorage, stored: tuple[str, bytes]) -> None:
    key, data = stored
    response = httpx.get(storage.presign_get(key, expires_in=60).url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == CT
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("range_header", "status", "expected"),
    [
        ("bytes=0-9", 206, slice(0, 10)),
        ("bytes=1000-", 206, slice(1000, 1024)),
        ("bytes=-24", 206, slice(1000, 1024)),
        ("bytes=1000-5000", 206, slice(1000, 1024)),
        ("bytes=-5000", 206, slice(0, 1024)),
        ("bytes=0-1,5-6", 200, slice(0, 1024)),
        ("bytes=9-1", 200, slice(0, 1024)),
        ("items=0-1", 200, slice(0, 1024)),
    ],
)
def test_signed_get_honours_ranges(
    storage: LocalStorage,
    stored: tuple[str, bytes],
    range_header: str,
    status: int,
    expected: slice,
) -> None:
    key, data = stored
    response = httpx.get(
        storage.presign_get(key, expires_in=60).url, headers={"Range": range_header}
    )
    assert response.status_code == status
    assert response.content == data[expected]
    if status == 206:
        start, stop = expected.start, expected.stop
        assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(data)}"


@pytest.mark.parametrize("range_header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_range_gets_416(
    storage: LocalStorage, stored: tuple[str, bytes], range_header: str
) -> None:
    key, _ = stored
    response = httpx.get(
        storage.presign_get(key, expires_in=60).url, headers={"Range": range_header}
    )
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */1024"


def test_signed_get_of_missing_or_expired(
    storage: LocalStorage, server: ReceiverServer, stored: tuple[str, bytes]
) -> None:
    key, _ = stored
    missing = httpx.get(storage.presign_get(key + ".missing", expires_in=60).url)
    assert (missing.status_code, code_of(missing.content)) == (404, "NoSuchKey")
    status, body = raw_request(
        server, "GET", signed_target(key, method="GET", expires=int(time.time()) - 5)
    )
    assert (status, code_of(body)) == (403, "ExpiredToken")


# -- mounting and CORS -------------------------------------------------------------


def _mount(prefix: str, app: UploadReceiver) -> WSGIApplication:
    """A minimal dispatcher, like werkzeug's DispatcherMiddleware."""

    def dispatch(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(prefix + "/"):
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
        environ["PATH_INFO"] = path[len(prefix) :]
        return app(environ, start_response)

    return dispatch


def test_receiver_mounted_under_a_prefix(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, secret=SECRET)
    app = _mount("/uploads", storage.receiver())
    with ReceiverServer(app) as srv, UploadClient() as client:
        mounted = LocalStorage(tmp_path, base_url=srv.url + "/uploads/", secret=SECRET)
        request = mounted.presign_put(
            "x/été 1.pdf", content_type=CT, content_length=3, expires_in=60
        )
        assert request.url.startswith(srv.url + "/uploads/o/x/%C3%A9t%C3%A9%201.pdf?")
        client.put_bytes(request, b"abc")
        got = httpx.get(mounted.presign_get("x/été 1.pdf", expires_in=60).url)
    assert got.content == b"abc"
    assert (tmp_path / "x" / "été 1.pdf").read_bytes() == b"abc"


def test_a_bridge_that_keeps_the_prefix_in_path_info_works(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, secret=SECRET)
    receiver = storage.receiver()

    def bridge(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["SCRIPT_NAME"] = "/uploads"  # PATH_INFO still starts with /uploads
        return receiver(environ, start_response)

    with ReceiverServer(bridge) as srv, UploadClient() as client:
        mounted = LocalStorage(tmp_path, base_url=srv.url + "/uploads", secret=SECRET)
        request = mounted.presign_put("b/x.pdf", content_type=CT, content_length=1, expires_in=60)
        client.put_bytes(request, b"z")
    assert storage.head("b/x.pdf").size == 1


def test_cors_preflight_and_headers(
    storage: LocalStorage, server: ReceiverServer, key: str
) -> None:
    url = f"{server.url}/o/{key}"
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"}
    allowed = httpx.options(url, headers=preflight)
    assert allowed.status_code == 204
    assert "PUT" in allowed.headers["Access-Control-Allow-Methods"]
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    denied = httpx.options(url, headers={**preflight, "Origin": "https://evil.example"})
    assert denied.status_code == 403
    assert "Access-Control-Allow-Origin" not in denied.headers
    request = storage.presign_put(key, content_type=CT, content_length=1, expires_in=60)
    put = httpx.put(
        request.url, content=b"x", headers={**request.headers, "Origin": "https://app.example"}
    )
    assert put.status_code == 200
    assert put.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "ETag" in put.headers["Access-Control-Expose-Headers"]


# -- create-only and signed downloads -----------------------------------------------


def test_a_put_to_an_existing_key_gets_412_before_its_body_is_read(
    storage: LocalStorage, server: ReceiverServer, root: Path, key: str
) -> None:
    storage.write_bytes(key, b"first", content_type=CT)
    before = snapshot(root)
    declared = 8 * 1024 * 1024  # past the drain limit; only the first 64 KiB are ever sent
    target = signed_target(key, length=declared)
    head = (
        f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    reply, _ = _send_then_read(server, head.encode() + bytes(64 * 1024))
    assert reply.split(b" ", 2)[1] == b"412"
    assert code_of(reply) == "PreconditionFailed"
    assert snapshot(root) == before
    assert storage.read_range(key, 0, 10) == b"first"


def test_signed_get_serves_the_signed_type_and_disposition(
    storage: LocalStorage, stored: tuple[str, bytes]
) -> None:
    key, data = stored
    plain = httpx.get(storage.presign_get(key, expires_in=60).url)
    assert plain.headers["Content-Type"] == CT  # the stored type by default
    assert "Content-Disposition" not in plain.headers
    url = storage.presign_get(
        key,
        expires_in=60,
        content_type="text/plain",
        content_disposition='attachment; filename="report.txt"',
    ).url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Disposition"] == 'attachment; filename="report.txt"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("field", "value"),
    [("rct", "text/html"), ("rcd", "inline"), ("ver", "0" * 32)],
)
def test_signed_get_overrides_cannot_be_changed_or_added(
    storage: LocalStorage, stored: tuple[str, bytes], field: str, value: str
) -> None:
    key, _ = stored
    version = storage.head(key).version
    request = storage.presign_get(
        key, expires_in=60, version=version, content_type="text/plain", content_disposition="x"
    )
    parts = urlsplit(request.url)
    query = dict(parse_qsl(parts.query))
    query[field] = value
    tampered = parts._replace(query=urlencode(query)).geturl()
    assert (httpx.get(tampered).status_code, code_of(httpx.get(tampered).content)) == (
        403,
        "SignatureDoesNotMatch",
    )
    bare = dict(parse_qsl(urlsplit(storage.presign_get(key, expires_in=60).url).query))
    bare[field] = value  # adding an override to an unbound URL
    added = parts._replace(query=urlencode(bare)).geturl()
    assert httpx.get(added).status_code == 403


def test_signed_get_bound_to_a_version_the_key_no_longer_has_is_refused(
    storage: LocalStorage, key: str
) -> None:
    old = storage.write_bytes(key, b"old bytes", content_type=CT)
    url = storage.presign_get(key, expires_in=60, version=old.version).url
    assert httpx.get(url).content == b"old bytes"
    storage.delete(key)
    storage.write_bytes(key, b"new bytes", content_type="text/html")
    response = httpx.get(url)
    assert (response.status_code, code_of(response.content)) == (404, "NoSuchVersion")
    storage.delete(key)
    gone = httpx.get(url)
    assert (gone.status_code, code_of(gone.content)) == (404, "NoSuchKey")


@pytest.mark.parametrize(
    "changes",
    [
        {"content_disposition": "attachment\r\nSet-Cookie: a=b"},
        {"content_disposition": 'attachment; filename="été.txt"'},
        {"content_disposition": "x" * 1025},
        {"content_disposition": " "},
        {"content_type": "text/html\nX-Evil: 1"},
        {"version": ""},
    ],
)
def test_presign_get_refuses_values_it_could_not_serve_as_headers(
    storage: LocalStorage, changes: dict[str, str]
) -> None:
    with pytest.raises(InvalidArgument):
        storage.presign_get("k/x.pdf", expires_in=60, **changes)


def test_ranges_use_ascii_digits_only() -> None:
    assert _parse_range("bytes=1-3", 10) == (1, 3)
    assert _parse_range("bytes=\u0661-\u0663", 10) is None  # Arabic-Indic digits: whole object


# -- edges of HTTP itself (raw sockets) ------------------------------------------------------


def _send_then_read(srv: ReceiverServer, raw: bytes, *, wait: float = 30) -> tuple[bytes, float]:
    """Send *raw* without closing our side (a stalled client); read the reply until EOF."""
    started = time.monotonic()
    with socket.create_connection((srv.host, srv.port), timeout=wait) as sock:
        sock.sendall(raw)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply, time.monotonic() - started


def test_a_client_that_stalls_mid_body_gets_400_after_the_body_timeout(tmp_path: Path) -> None:
    with serve_receiver(tmp_path, SECRET, body_timeout=1.0) as srv:
        target = signed_target("stall/x.pdf", length=100)
        head = (
            f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: 100\r\n\r\n"
        )
        reply, elapsed = _send_then_read(srv, head.encode() + b"x" * 50)
    assert reply.split(b" ", 2)[1] == b"400"
    assert code_of(reply) == "RequestTimeout"
    assert 0.9 <= elapsed < 10  # bounded by body_timeout, and the connection is closed
    assert not (tmp_path / "stall").exists()  # no object, no temp file, no directory


def test_the_default_body_timeout_is_bounded(tmp_path: Path) -> None:
    with serve_receiver(tmp_path, SECRET) as srv:
        assert srv.timeout == DEFAULT_BODY_TIMEOUT <= 60


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 10**6, True, "5"])
def test_the_body_timeout_is_checked(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InvalidArgument, match="timeout"):
        serve_receiver(tmp_path, SECRET, body_timeout=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "framing",
    [
        "Content-Length: 4\r\nContent-Length: 6",
        "Content-Length: 4\r\nContent-Length: 4",
        "Content-Length: 4\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 4",
    ],
)
def test_ambiguous_framing_gets_400_and_writes_nothing(
    server: ReceiverServer, root: Path, key: str, framing: str
) -> None:
    before = snapshot(root)
    target = signed_target(key, length=4)
    reply = exchange(
        server,
        f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\n{framing}\r\n\r\n"
        "datamore".encode(),
    )
    assert reply.split(b" ", 2)[1] == b"400"
    assert code_of(reply) == "InvalidRequest"
    assert snapshot(root) == before


def test_a_mounted_receiver_refuses_length_with_transfer_encoding(tmp_path: Path) -> None:
    # Behind another WSGI server, the receiver itself refuses what it can see.
    app = UploadReceiver(tmp_path, SECRET)
    environ: dict[str, object] = {
        "REQUEST_METHOD": "PUT",
        "PATH_INFO": "/o/m/x.pdf",
        "QUERY_STRING": signed_target("m/x.pdf", length=4).split("?", 1)[1],
        "CONTENT_TYPE": CT,
        "CONTENT_LENGTH": "4",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(b"data"),
    }
    seen: list[str] = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: seen.append(status)))  # type: ignore[arg-type]
    assert seen == ["400 Bad Request"]
    assert code_of(body) == "InvalidRequest"
    assert not (tmp_path / "m").exists()
