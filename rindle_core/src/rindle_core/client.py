"""The upload client: sends bytes the way a browser would.

Driven only by what the broker hands out: a presigned PUT, a presigned form
POST (an HTML form under a signed policy), presigned parts (S3 multipart,
Azure blocks) uploaded in parallel, or a GCS-style resumable session URI
written in chunks with status polls. The CLI, every plugin's tests and
server-side uploaders share it.

Requests go over persistent stdlib connections (one per worker thread and
origin), bodies straight from the file (``sendfile`` where the socket is
plain), so memory stays flat whatever the file size and no part is copied
into Python. Transient failures are retried with jittered backoff, refused
or expiring URLs signed again, and an interrupt or a fatal error stops the
parts in flight at once (see ``docs/adr/0118-*``). With ``http=`` an
``httpx.Client`` sends instead (tests use its mock transport).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import signal
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Final, overload

from ._checksums import check_algorithm
from ._decisions import content_range_parts
from ._errors import TransferFailed
from ._redaction import redact_url
from ._transfer import (
    Body,
    ConnectionPool,
    FileSlice,
    Part,
    Reply,
    RetryPolicy,
    SendError,
    SignChecksummedParts,
    SignParts,
    Transport,
    send,
    upload_parts,
)
from ._transfer._http import Progress, read_slice
from .storage import PresignedPost, PresignedRequest, UploadedPart

if TYPE_CHECKING:
    import httpx

__all__ = [
    "Reply",
    "RetryPolicy",
    "SignChecksummedParts",
    "SignParts",
    "UploadClient",
    "default_concurrency",
]

_RANGE: Final = re.compile(r"bytes=0-([0-9]+)")

#: Set while UploadClient sends through httpx, so the filter below knows the URL is signed.
_SENDING: ContextVar[bool] = ContextVar("rindle_upload_client_sending", default=False)


def default_concurrency() -> int:
    """Parts in flight by default: two per CPU, at least 10, at most 16.

    Sending a part costs little CPU (``sendfile``); the floor keeps enough
    requests in flight to hide each one's latency, as s3transfer's 10 does.
    """
    return min(16, max(10, 2 * (os.cpu_count() or 2)))


class _RedactSignedUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; hide the query (the
    signature, SAS token or session id) of the requests UploadClient sends."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SENDING.get() and isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if type(arg).__name__ == "URL" else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactSignedUrls())


class UploadClient:
    """Upload files to presigned requests over plain HTTP.

    ``progress`` is called with the number of bytes just sent (from worker
    threads when parts go in parallel; negative when a failed attempt's
    bytes are taken back before it is sent again). ``retry`` bounds the
    attempts and backoff of every request. Every method returns a
    :class:`Reply` (``status_code``, ``headers``, ``content``, ``text``,
    ``is_success``) or raises :class:`~rindle_core.TransferFailed`.
    """

    def __init__(
        self,
        *,
        timeout: float = 120.0,
        progress: Progress | None = None,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._transport: Transport = (
            ConnectionPool(timeout=timeout) if http is None else _HttpxTransport(http)
        )
        self._progress = progress
        self._retry = retry or RetryPolicy()
        self._executor: ThreadPoolExecutor | None = None
        self._workers = 0

    def close(self) -> None:
        """Stop the worker threads and close the connections (never a given ``http``)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._transport.close()

    def __enter__(self) -> UploadClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- single PUT -------------------------------------------------------------

    def put(
        self,
        request: PresignedRequest,
        path: Path | str,
        *,
        offset: int = 0,
        length: int | None = None,
        resign: Callable[[], PresignedRequest] | None = None,
    ) -> Reply:
        """Send ``length`` bytes of *path* from *offset* as *request* describes.

        *resign*, when given, returns a fresh request for the same upload: it
        is called when the URL expires or is refused (401, 403).
        """
        with _opened(path) as (fd, size):
            if length is None:
                length = size - offset
            body = (FileSlice(fd, offset, length),)
            return self._send(request, body, {"Content-Length": str(length)}, resign=resign)

    def put_bytes(self, request: PresignedRequest, data: bytes) -> Reply:
        """Send *data* as *request* describes (small payloads, tests)."""
        return self._send(request, (data,), {"Content-Length": str(len(data))})

    # -- form POST (S3 and GCS POST policies, the local receiver) ---------------

    def post_form(self, post: PresignedPost, path: Path | str) -> Reply:
        """Send *path* as the form *post* describes: every field in order, the file
        last (field ``file``, typed as the form binds), as ``multipart/form-data``."""
        path = Path(path)
        file_type = next(
            (v for k, v in post.fields.items() if k.lower() == "content-type"),
            "application/octet-stream",
        )
        boundary = f"rindle-{secrets.token_hex(16)}"
        head, tail = _form_frame(post.fields, path.name, file_type, boundary)
        with _opened(path) as (fd, size):
            headers = {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
            }
            request = PresignedRequest(url=post.url, method="POST", expires_at=post.expires_at)
            return self._send(request, (head, FileSlice(fd, 0, size), tail), headers)

    # -- parts (S3 multipart, Azure blocks) -------------------------------------

    @overload
    def upload_parts(
        self,
        path: Path | str,
        *,
        part_size: int,
        sign: SignParts,
        concurrency: int | None = None,
        skip: Collection[int] = (),
        sign_batch: int = 100,
        checksum_algorithm: None = None,
    ) -> list[UploadedPart]: ...

    @overload
    def upload_parts(
        self,
        path: Path | str,
        *,
        part_size: int,
        sign: SignChecksummedParts,
        concurrency: int | None = None,
        skip: Collection[int] = (),
        sign_batch: int = 100,
        checksum_algorithm: str,
    ) -> list[UploadedPart]: ...

    def upload_parts(
        self,
        path: Path | str,
        *,
        part_size: int,
        sign: SignParts | SignChecksummedParts,
        concurrency: int | None = None,
        skip: Collection[int] = (),
        sign_batch: int = 100,
        checksum_algorithm: str | None = None,
    ) -> list[UploadedPart]:
        """Upload every part of *path* not in *skip*; return them in order.

        Parts are signed lazily in batches of up to ``sign_batch`` just before
        they are sent (so no URL expires waiting), and sent by ``concurrency``
        threads (default :func:`default_concurrency`), each on its own
        persistent connection. A failed part is retried alone; on a fatal
        error or ``KeyboardInterrupt`` the parts in flight are stopped at once
        and the exception raised (the remote upload is left as it is).

        With *checksum_algorithm* (the session's, e.g. ``"crc32"``) each
        part's checksum is computed before it is signed and *sign* is called
        with the part numbers and their checksums (a
        :data:`SignChecksummedParts`); the parts returned carry them, for
        completing the upload.
        """
        signer = _signer(sign, checksum_algorithm)
        workers = max(1, concurrency or default_concurrency())
        with _opened(path) as (fd, size):
            plan = [
                Part(number, offset, length)
                for number, offset, length in content_range_parts(size, part_size)
                if number not in skip
            ]
            if not plan:
                return []
            try:
                return upload_parts(
                    self._transport,
                    self._pool(workers),
                    fd,
                    plan,
                    sign=signer,
                    concurrency=workers,
                    sign_batch=max(1, sign_batch),
                    policy=self._retry,
                    progress=self._progress,
                    checksum_algorithm=checksum_algorithm,
                )
            except BaseException:
                self._transport.reset()  # usable again for the next transfer
                raise

    def _pool(self, workers: int) -> ThreadPoolExecutor:
        if self._executor is None or self._workers < workers:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            self._executor = ThreadPoolExecutor(
                workers, thread_name_prefix="rindle-upload", initializer=_ignore_interrupts
            )
            self._workers = workers
        return self._executor

    # -- resumable sessions (GCS protocol) -------------------------------------

    def resumable_offset(self, session_uri: str, size: int) -> int | None:
        """Ask a resumable session how many bytes it holds.

        Returns the committed byte count, or ``None`` when the upload is
        already complete.
        """
        reply = self._send(
            PresignedRequest(url=session_uri, method="PUT"),
            (),
            {"Content-Range": f"bytes */{size}", "Content-Length": "0"},
            expect=(200, 201, 308),
        )
        if reply.status_code in (200, 201):
            return None
        return _committed(reply)

    def upload_resumable(
        self,
        session_uri: str,
        path: Path | str,
        *,
        chunk_size: int = 8 * 1024 * 1024,
        resume: bool = False,
    ) -> None:
        """Write *path* to a resumable session in chunks.

        ``chunk_size`` must be a multiple of 256 KiB (GCS's rule) except for
        the last chunk. With ``resume=True`` the session is asked first how
        much it already holds, and only the rest is sent. A chunk that fails
        transiently is not resent blindly: the session is asked what it
        holds, and the upload goes on from there.
        """
        if chunk_size % (256 * 1024):
            raise ValueError("chunk_size must be a multiple of 256 KiB")
        request = PresignedRequest(url=session_uri, method="PUT")
        with _opened(path) as (fd, size):
            offset = 0
            if resume:
                committed = self.resumable_offset(session_uri, size)
                if committed is None:
                    return
                offset = committed
            if size == 0:
                self._send(
                    request,
                    (),
                    {"Content-Range": "bytes */0", "Content-Length": "0"},
                    expect=(200, 201),
                )
                return
            once = RetryPolicy(attempts=1, resigns=0)
            failures = 0
            while offset < size:
                length = min(chunk_size, size - offset)
                headers = {
                    "Content-Range": f"bytes {offset}-{offset + length - 1}/{size}",
                    "Content-Length": str(length),
                }
                try:
                    reply = self._send(
                        request,
                        (FileSlice(fd, offset, length),),
                        headers,
                        expect=(200, 201, 308),
                        policy=once,
                    )
                except TransferFailed as exc:
                    failures += 1
                    if not exc.retryable or failures >= self._retry.attempts:
                        raise
                    time.sleep(self._retry.backoff(failures))
                    committed = self.resumable_offset(session_uri, size)
                    if committed is None:
                        return
                    offset = committed
                    continue
                if reply.status_code in (200, 201):
                    return
                committed = _committed(reply)
                if committed <= offset:
                    raise TransferFailed(
                        "the resumable session did not accept the chunk", status=308
                    )
                offset, failures = committed, 0

    # -- plumbing ---------------------------------------------------------------

    def _send(
        self,
        request: PresignedRequest,
        body: Body,
        headers: Mapping[str, str],
        *,
        expect: tuple[int, ...] = (200, 201, 204),
        resign: Callable[[], PresignedRequest] | None = None,
        policy: RetryPolicy | None = None,
    ) -> Reply:
        return send(
            self._transport,
            request,
            body,
            headers=headers,
            expect=expect,
            policy=policy or self._retry,
            resign=resign,
            progress=self._progress,
        )


class _HttpxTransport:
    """Sends through a caller's ``httpx.Client`` (tests: its mock transport)."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = (),
        *,
        progress: Progress | None = None,
    ) -> Reply:
        import httpx

        def content() -> Iterator[bytes]:
            for piece in body:
                if not isinstance(piece, FileSlice):
                    yield piece  # framing (form fields): not the file's bytes
                    continue
                for chunk in read_slice(piece):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

        token = _SENDING.set(True)
        try:
            response = self._http.request(method, url, headers=dict(headers), content=content())
        except httpx.TransportError as exc:
            raise SendError(type(exc).__name__, sent=True) from None
        finally:
            _SENDING.reset(token)
        return Reply(response.status_code, response.headers, response.content)

    def abort(self) -> None:
        """Nothing to shut down: httpx requests finish on their own."""

    def reset(self) -> None:
        """Nothing to reset."""

    def close(self) -> None:
        """The caller owns its client."""


def _signer(
    sign: SignParts | SignChecksummedParts, checksum_algorithm: str | None
) -> SignChecksummedParts:
    """*sign* as the engine calls it: with the checksums (none without an algorithm)."""
    call: Callable[..., Sequence[PresignedRequest]] = sign  # the overloads typed the pairing
    if checksum_algorithm is not None:
        check_algorithm(checksum_algorithm)
        return lambda numbers, checksums: call(numbers, checksums)
    return lambda numbers, _checksums: call(numbers)


def _ignore_interrupts() -> None:
    """In a worker: leave SIGINT to the main thread, where KeyboardInterrupt is raised."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


@contextlib.contextmanager
def _opened(path: Path | str) -> Iterator[tuple[int, int]]:
    """The file's descriptor and size, closed afterwards."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        yield fd, os.fstat(fd).st_size
    finally:
        os.close(fd)


def _form_name(value: str) -> str:
    """A form field or file name, escaped as browsers do (WHATWG)."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _form_frame(
    fields: Mapping[str, str], filename: str, file_type: str, boundary: str
) -> tuple[bytes, bytes]:
    """What a form sends before the file's bytes (every field, then the file
    part's headers) and after them (the closing boundary)."""
    disposition = f"--{boundary}\r\nContent-Disposition: form-data; name="
    head = "".join(
        f'{disposition}"{_form_name(name)}"\r\n\r\n{value}\r\n' for name, value in fields.items()
    )
    head += (
        f'{disposition}"file"; filename="{_form_name(filename)}"\r\n'
        f"Content-Type: {file_type}\r\n\r\n"
    )
    return head.encode(), f"\r\n--{boundary}--\r\n".encode()


def _committed(reply: Reply) -> int:
    """Bytes a 308 says are committed (no Range header means none)."""
    match = _RANGE.fullmatch(reply.headers.get("Range") or "")
    return int(match.group(1)) + 1 if match else 0
