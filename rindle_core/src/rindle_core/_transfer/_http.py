"""Requests over pooled, persistent stdlib connections, bodies sent from the file.

One persistent :class:`http.client.HTTPConnection` per worker thread and
origin, reused from request to request. A body is a sequence of pieces:
bytes, or a :class:`FileSlice` that is sent straight from the file — with
``sendfile(2)`` on a plain socket (no copy through Python), or read with
``pread`` into one reused buffer on TLS. Nothing buffers a part in memory.

:meth:`ConnectionPool.abort` shuts every open socket down from any thread:
a worker blocked in a send or a read returns at once, so an upload can be
cancelled without waiting for the requests in flight.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Protocol
from urllib.parse import quote, urlsplit

import attrs

from .._errors import TransferFailed

__all__ = [
    "Body",
    "Cancelled",
    "ConnectionPool",
    "FileSlice",
    "Reply",
    "SendError",
    "Transport",
    "read_slice",
]

#: Bytes sent between two progress reports / cancellation checks.
_STEP: Final = 1024 * 1024
#: The most of a response body kept by default (answers to uploads are small;
#: an error page larger than this is cut, and its connection not reused).
_MAX_BODY: Final = 1024 * 1024

#: ASCII characters that may stand on a request line as they are.
_PRINTABLE: Final = "".join(chr(c) for c in range(0x21, 0x7F))

Progress = Callable[[int], None]


@attrs.frozen
class FileSlice:
    """``length`` bytes of the open file *fd* from *offset*."""

    fd: int
    offset: int
    length: int


Body = Sequence[bytes | FileSlice]


class Cancelled(Exception):
    """The transfer was cancelled while this request was in flight."""


class SendError(Exception):
    """The request could not be completed (connection refused, reset, timed out).

    ``sent`` says whether any of the body may have reached the server.
    """

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.sent = sent


@attrs.frozen
class Reply:
    """A response: status, headers (case-insensitive ``get``), body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes = b""

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.content.decode("utf-8", "replace")

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status_code < 300


class _Headers(dict[str, str]):
    """Response headers, looked up case-insensitively (keys stored lower-case)."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class Transport(Protocol):
    """What sends the client's requests: :class:`ConnectionPool`, or httpx when given."""

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = (),
        *,
        progress: Progress | None = None,
    ) -> Reply: ...

    def abort(self) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class ConnectionPool:
    """Persistent connections, one per (thread, origin); safe to share between threads."""

    def __init__(
        self,
        *,
        timeout: float,
        context: ssl.SSLContext | None = None,
        max_body: int = _MAX_BODY,
    ) -> None:
        self._timeout = timeout
        self._max_body = max_body
        self._context = context
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()
        self._aborted = threading.Event()

    # -- lifecycle -----------------------------------------------------------------

    def abort(self) -> None:
        """Cancel: shut every open connection down (from any thread)."""
        self._aborted.set()
        with self._lock:
            connections = list(self._open)
        for conn in connections:
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Accept requests again after :meth:`abort` (for the next transfer)."""
        self.close()
        self._aborted.clear()

    @property
    def aborted(self) -> bool:
        """Whether :meth:`abort` was called (and not :meth:`reset` since)."""
        return self._aborted.is_set()

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            connections, self._open = list(self._open), set()
        for conn in connections:
            conn.close()

    # -- requests ------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = (),
        *,
        progress: Progress | None = None,
    ) -> Reply:
        """Send one request and read its answer.

        Raises :class:`Cancelled` after :meth:`abort`, :class:`SendError` when
        the connection fails. A stale kept-alive connection closed by the
        server before it read anything is replaced once, transparently.
        """
        parts = urlsplit(url)
        target = _on_the_wire((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        key = (parts.scheme, parts.netloc)
        for fresh in (False, True):
            conn, reused = self._connection(key, parts.scheme, parts.hostname, parts.port, fresh)
            sent = [False]
            try:
                reply, reusable = self._exchange(
                    conn, method, target, headers, body, progress, sent
                )
            except (OSError, http.client.HTTPException) as exc:
                self._drop(key, conn)
                if self._aborted.is_set():
                    raise Cancelled() from None
                stale = isinstance(
                    exc, http.client.RemoteDisconnected | BrokenPipeError | ConnectionResetError
                )
                if reused and stale and not fresh:
                    continue  # the server closed an idle connection: once more on a new one
                raise SendError(_describe(exc), sent=sent[0]) from None
            except BaseException:  # cancelled, interrupted, the file shrank
                self._drop(key, conn)  # half-sent: never reused
                raise
            if not reusable:
                self._drop(key, conn)
            return reply
        raise AssertionError("unreachable")

    def _connection(
        self, key: tuple[str, str], scheme: str, host: str | None, port: int | None, fresh: bool
    ) -> tuple[http.client.HTTPConnection, bool]:
        if self._aborted.is_set():
            raise Cancelled()
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "conns", {}
        )
        conn = pool.get(key)
        if conn is not None and not fresh:
            return conn, True
        if conn is not None:
            self._drop(key, conn)
        if scheme == "https":
            context = self._context or ssl.create_default_context()
            conn = http.client.HTTPSConnection(
                host or "", port, timeout=self._timeout, context=context
            )
        elif scheme == "http":
            conn = http.client.HTTPConnection(host or "", port, timeout=self._timeout)
        else:
            raise SendError(f"unsupported URL scheme {scheme!r}", sent=False)
        pool[key] = conn
        with self._lock:
            self._open.add(conn)
        return conn, False

    def _drop(self, key: tuple[str, str], conn: http.client.HTTPConnection) -> None:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.get(
            "conns", {}
        )
        if pool.get(key) is conn:
            del pool[key]
        with self._lock:
            self._open.discard(conn)
        conn.close()

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: Body,
        progress: Progress | None,
        sent: list[bool],
    ) -> tuple[Reply, bool]:
        names = {name.lower() for name in headers}
        conn.putrequest(method, target, skip_host="host" in names, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if "content-length" not in names:
            conn.putheader("Content-Length", str(_length(body)))
        conn.endheaders()
        if self._aborted.is_set():
            raise Cancelled()
        sock = conn.sock
        assert sock is not None  # endheaders connected it
        sent[0] = True
        for piece in body:
            if isinstance(piece, FileSlice):
                _send_slice(sock, piece, progress, self._aborted)
            else:
                sock.sendall(piece)  # framing (form fields): not the file's bytes
        response = conn.getresponse()
        if response.length is not None and response.length <= self._max_body:
            content = response.read()
        else:  # chunked or large: keep the first max_body bytes, reuse only if that was all
            content = response.read(self._max_body)
        reusable = response.isclosed() and not response.will_close
        headers_in = _Headers((k.lower(), v) for k, v in response.getheaders())
        return Reply(response.status, headers_in, content), reusable


def _on_the_wire(target: str) -> str:
    """*target* with what may not go on a request line (spaces, controls, non-ASCII)
    percent-encoded as UTF-8, as browsers and httpx do; the rest (``%XX``
    escapes, reserved characters, a signature) left exactly as signed."""
    return quote(target, safe=_PRINTABLE)


def _length(body: Iterable[bytes | FileSlice]) -> int:
    return sum(p.length if isinstance(p, FileSlice) else len(p) for p in body)


def _send_slice(
    sock: socket.socket, piece: FileSlice, progress: Progress | None, aborted: threading.Event
) -> None:
    """Send a slice of a file: ``sendfile`` on a plain socket, ``pread`` on TLS."""
    offset, end = piece.offset, piece.offset + piece.length
    if not isinstance(sock, ssl.SSLSocket) and hasattr(os, "sendfile"):
        out = sock.fileno()
        while offset < end:
            if aborted.is_set():
                raise Cancelled()
            try:
                count = os.sendfile(out, piece.fd, offset, min(_STEP, end - offset))
            except BlockingIOError:  # a socket with a timeout is non-blocking underneath
                if not select.select([], [out], [], sock.gettimeout())[1]:
                    raise TimeoutError("timed out sending the body") from None
                continue
            if count == 0:
                raise TransferFailed("the file shrank while it was being uploaded")
            offset += count
            if progress is not None:
                progress(count)
        return
    buffer = bytearray(min(_STEP, piece.length) or 1)
    view = memoryview(buffer)
    while offset < end:
        if aborted.is_set():
            raise Cancelled()
        count = os.preadv(piece.fd, [view[: min(_STEP, end - offset)]], offset)
        if count == 0:
            raise TransferFailed("the file shrank while it was being uploaded")
        sock.sendall(view[:count])
        offset += count
        if progress is not None:
            progress(count)


def _describe(exc: BaseException) -> str:
    """The error's type and a message that cannot hold a URL (OS errors only)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def read_slice(piece: FileSlice, step: int = 256 * 1024) -> Iterable[bytes]:
    """The bytes of *piece*, in chunks (for transports that take an iterator)."""
    offset, end = piece.offset, piece.offset + piece.length
    while offset < end:
        chunk = os.pread(piece.fd, min(step, end - offset), offset)
        if not chunk:
            raise TransferFailed("the file shrank while it was being uploaded")
        offset += len(chunk)
        yield chunk
