"""The memory object server: :class:`MemoryStore` over HTTP on 127.0.0.1.

Every request is a signed URL (see :mod:`rindle_memory._signing`), the
adapter's own calls included. Routes, on ``/<bucket>/<key>``:

- ``PUT`` creates the object (412 if the key holds one); with ``upload-id``
  and ``part-number`` it stores a part;
- ``GET`` and ``HEAD`` serve the object (a single ``Range``; ``version``,
  ``response-content-type`` and ``response-content-disposition`` when
  signed); ``GET`` with ``upload-id`` lists the parts, one ``N ETAG SIZE``
  line each;
- ``DELETE`` deletes the object; with ``upload-id`` it aborts the upload;
- ``POST`` with ``op=uploads`` starts a multipart upload (the body of the
  answer is its id); with ``op=complete`` it joins the parts listed in the
  body (``N ETAG`` lines), create-only.

Errors carry their code in an S3-style XML body and in the
``X-Memory-Error`` header (a ``HEAD`` answer has no body).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from ._signing import object_path, verify
from ._store import PART_LIMITS, MemoryStore, Refused, StoredObject

__all__ = ["ERROR_HEADER", "MAX_BODY", "VERSION_HEADER", "MemoryServer"]

#: The header that carries an error's code.
ERROR_HEADER: Final = "X-Memory-Error"
#: The header that carries an object's version.
VERSION_HEADER: Final = "X-Memory-Version"
#: The largest body the server reads.
MAX_BODY: Final = PART_LIMITS.max_part_size
_RANGE: Final = re.compile(r"bytes=([0-9]{1,19})?-([0-9]{1,19})?")


class MemoryServer:
    """An object store in this process, served on 127.0.0.1 for tests.

    It checks signed URLs as a cloud service would: signature, expiry, the
    bound headers, create-only writes. *secret* signs the URLs (a random one
    by default); *buckets* are created empty. Use it as a context manager,
    or call :meth:`close`.
    """

    def __init__(
        self, *, secret: str | None = None, buckets: Iterable[str] = ("rindle",), port: int = 0
    ) -> None:
        self.secret = secret or secrets.token_urlsafe(32)
        self.store = MemoryStore()
        for bucket in buckets:
            self.store.create_bucket(bucket)
        handler = type(
            "Handler", (_Handler,), {"store": self.store, "secret": self.secret.encode()}
        )
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rindle-memory", daemon=True
        )
        self._thread.start()

    def options(self, bucket: str = "rindle") -> dict[str, object]:
        """The ``[storage.NAME]`` options of a ``memory`` storage on this server."""
        return {"type": "memory", "endpoint_url": self.url, "bucket": bucket, "secret": self.secret}

    def close(self) -> None:
        """Stop serving. Idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self) -> MemoryServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:  # never the secret
        return f"MemoryServer(url={self.url!r})"


@attrs.frozen
class _Request:
    method: str
    bucket: str
    key: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return object_path(self.bucket, self.key)


@attrs.frozen
class _Response:
    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store: ClassVar[MemoryStore]
    secret: ClassVar[bytes]

    def _handle(self) -> None:
        try:
            response = _route(self.store, self.secret, self._read())
        except Refused as refused:
            response = _error(refused)
        self.send_response(response.status)
        headers = {"Content-Length": str(len(response.body)), **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

    def _read(self) -> _Request:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise Refused(411, "MissingContentLength")
        length_text = self.headers.get("Content-Length") or "0"
        if not length_text.isdigit():
            self.close_connection = True
            raise Refused(400, "BadRequest")
        length = int(length_text)
        if length > MAX_BODY:
            self.close_connection = True  # the body is not read
            raise Refused(413, "EntityTooLarge")
        body = self.rfile.read(length)
        target = urlsplit(self.path)
        pairs = parse_qsl(target.query, keep_blank_values=True)
        query = dict(pairs)
        bucket, _, key = unquote(target.path).removeprefix("/").partition("/")
        if len(query) != len(pairs) or not bucket or not key:
            raise Refused(400, "InvalidRequest")
        headers = {name.lower(): value for name, value in self.headers.items()}
        return _Request(self.command, bucket, key, query, headers, body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request line carries the signature."""


def _route(store: MemoryStore, secret: bytes, request: _Request) -> _Response:
    problem = verify(secret, request.method, request.path, request.query)
    if problem is not None:
        raise Refused(403, problem)
    _check_bound_headers(request)
    method, query = request.method, request.query
    upload_id = query.get("upload-id")
    if method == "PUT" and upload_id is None:
        content_type = request.headers.get("content-type", "application/octet-stream")
        stored = store.put(request.bucket, request.key, request.body, content_type)
        return _Response(200, {"ETag": stored.etag, VERSION_HEADER: stored.version})
    if method == "PUT" and upload_id is not None:
        number = _part_number(query.get("part-number", ""))
        etag = store.put_part(request.bucket, request.key, upload_id, number, request.body)
        return _Response(200, {"ETag": etag})
    if method in ("GET", "HEAD") and upload_id is None:
        return _serve(store.get(request.bucket, request.key), request)
    if method == "GET" and upload_id is not None:
        parts = store.parts(request.bucket, request.key, upload_id)
        return _text("".join(f"{n} {etag} {size}\n" for n, etag, size in parts))
    if method == "DELETE" and upload_id is None:
        store.delete(request.bucket, request.key)
        return _Response(204)
    if method == "DELETE" and upload_id is not None:
        store.abort(request.bucket, request.key, upload_id)
        return _Response(204)
    if method == "POST" and query.get("op") == "uploads":
        content_type = query.get("content-type", "application/octet-stream")
        return _text(store.create_upload(request.bucket, request.key, content_type))
    if method == "POST" and query.get("op") == "complete" and upload_id is not None:
        stored = store.complete(request.bucket, request.key, upload_id, _listed(request.body))
        return _Response(200, {"ETag": stored.etag, VERSION_HEADER: stored.version})
    raise Refused(400, "InvalidRequest")


def _check_bound_headers(request: _Request) -> None:
    """A signed ``content-type`` or ``content-length`` must be what was sent."""
    content_type = request.query.get("content-type")
    sent_type = request.headers.get("content-type")
    if request.method == "PUT" and content_type is not None and content_type != sent_type:
        raise Refused(403, "SignatureDoesNotMatch")
    length = request.query.get("content-length")
    if length is not None and length != str(len(request.body)):
        raise Refused(403, "SignatureDoesNotMatch")


def _serve(stored: StoredObject, request: _Request) -> _Response:
    """GET or HEAD of *stored*, as the signed version, with the signed overrides."""
    version = request.query.get("version")
    if version is not None and version != stored.version:
        raise Refused(404, "NoSuchVersion")
    headers = {
        "Content-Type": request.query.get("response-content-type", stored.content_type),
        "ETag": stored.etag,
        VERSION_HEADER: stored.version,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    disposition = request.query.get("response-content-disposition")
    if disposition is not None:
        headers["Content-Disposition"] = disposition
    size = len(stored.data)
    wanted = request.headers.get("range")
    if request.method == "HEAD" or wanted is None:
        return _Response(200, {**headers, "Content-Length": str(size)}, stored.data)
    start, end = _byte_range(wanted, size)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _Response(206, headers, stored.data[start : end + 1])


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """The first and last byte a single ``Range`` asks for (416 if none is there)."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) is match.group(2) is None:
        raise Refused(400, "InvalidRange")
    first, last = match.group(1), match.group(2)
    if first is None:  # the last N bytes
        if int(last) == 0 or size == 0:
            raise Refused(416, "InvalidRange")
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last is not None else size - 1
    if start >= size or end < start:
        raise Refused(416, "InvalidRange")
    return start, end


def _part_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= PART_LIMITS.max_parts:
        raise Refused(400, "InvalidArgument")
    return int(text)


def _listed(body: bytes) -> list[tuple[int, str]]:
    """The ``N ETAG`` lines of a complete request."""
    try:
        return [
            (int(number), etag)
            for number, etag in (line.split(" ") for line in body.decode().splitlines())
        ]
    except ValueError:
        raise Refused(400, "MalformedBody") from None


def _text(text: str) -> _Response:
    return _Response(200, {"Content-Type": "text/plain"}, text.encode())


def _error(refused: Refused) -> _Response:
    body = f"<Error><Code>{refused.code}</Code></Error>".encode()
    return _Response(
        refused.status, {"Content-Type": "application/xml", ERROR_HEADER: refused.code}, body
    )
